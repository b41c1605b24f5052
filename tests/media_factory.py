"""Tiny generated media in every supported format, for tests (no network, no shared data needed)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from detectors.media import add_audio_stream, encode_audio
from detectors.video.synthetic import CONTAINERS

IMAGE_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "bmp": "BMP", "tiff": "TIFF"}
VIDEO_FORMATS = CONTAINERS  # container extension -> (PyAV format name, video codec, audio codec)
# extension -> (PyAV format name, audio codec, sample rate)
AUDIO_FORMATS = {
    "wav": ("wav", "pcm_s16le", 16000),
    "mp3": ("mp3", "libmp3lame", 22050),
    "flac": ("flac", "flac", 16000),
    "aac": ("adts", "aac", 22050),
    "ogg": ("ogg", "opus", 48000),
    "m4a": ("ipod", "aac", 22050),
}


def synthetic_face_image(width: int = 256, height: int = 256, seed: int = 0) -> np.ndarray:
    """An RGB uint8 picture with texture and a bright oval 'face' (not a real face)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (
        0.5
        + 0.2 * np.sin(xx / 9.0 + seed)
        + 0.2 * np.cos(yy / 13.0)
        + 0.05 * rng.standard_normal((height, width))
    )
    img = np.stack([base, base * 0.9, base * 0.8], axis=-1)
    cy, cx = height / 2, width / 2
    oval = ((yy - cy) / (height * 0.3)) ** 2 + ((xx - cx) / (width * 0.22)) ** 2 < 1
    img[oval] = img[oval] * 0.3 + np.array([0.85, 0.7, 0.6]) * 0.7
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def write_image(path: Path, fmt: str | None = None, size: tuple[int, int] = (256, 256), seed: int = 0) -> Path:
    from PIL import Image

    ext = (fmt or path.suffix.lstrip(".")).lower()
    arr = synthetic_face_image(size[0], size[1], seed)
    Image.fromarray(arr).save(path, format=IMAGE_FORMATS[ext])
    return path


def tone(seconds: float, sample_rate: int = 16000, freq: float = 220.0, seed: int = 0) -> np.ndarray:
    """A speech-like signal: a harmonic tone with syllable-rate amplitude bursts and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = freq * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (0.3 * voiced * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_audio(path: Path, seconds: float = 2.0, fmt: str | None = None, signal: np.ndarray | None = None,
                sample_rate: int | None = None) -> Path:
    import av

    ext = (fmt or path.suffix.lstrip(".")).lower()
    container_fmt, codec, default_rate = AUDIO_FORMATS[ext]
    rate = sample_rate or default_rate
    samples = signal if signal is not None else tone(seconds, rate)
    with av.open(str(path), "w", format=container_fmt) as out:
        encode_audio(out, add_audio_stream(out, codec, rate), samples)
    return path


def encode_frames(path: Path, images, fmt: str = "mp4", codec: str = "mpeg4", rate: int = 10,
                  pix_fmt: str = "yuv420p", sample_aspect=None) -> Path:
    """Given RGB frames (one per 1/rate s) written as a video: frame content the test controls."""
    import av

    images = list(images)
    h, w = images[0].shape[:2]
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream(codec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        if sample_aspect:
            vs.codec_context.sample_aspect_ratio = sample_aspect
        for i, img in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = i
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    return path


def write_video(
    path: Path,
    seconds: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    fmt: str | None = None,
    with_audio: bool = True,
) -> Path:
    """A moving synthetic 'face' over a textured background, optionally with a speech-like track."""
    import av

    ext = (fmt or path.suffix.lstrip(".")).lower()
    container_fmt, vcodec, acodec = VIDEO_FORMATS[ext]
    w, h = size
    n = int(seconds * fps)
    with av.open(str(path), "w", format=container_fmt) as out:
        vs = out.add_stream(vcodec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        astream = None
        if with_audio and acodec:
            arate = 48000 if acodec == "opus" else 22050
            astream = add_audio_stream(out, acodec, arate)
        base = synthetic_face_image(w + 40, h, seed=1)
        for i in range(n):
            shift = int(20 + 15 * np.sin(i / 5))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, shift : shift + w]), format="rgb24")
            frame.pts = i
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        if astream is not None:
            encode_audio(out, astream, tone(seconds, astream.codec_context.sample_rate))
    return path


def image_bytes(fmt: str = "png", size: tuple[int, int] = (128, 128)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(synthetic_face_image(*size)).save(buf, format=IMAGE_FORMATS[fmt])
    return buf.getvalue()
