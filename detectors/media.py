"""Media intake for the library: sniff the real type from the bytes, and decode images and audio.

Formats (the usage guide's list): images JPG/JPEG/PNG/GIF/BMP/TIFF (plus PGM/PPM and WebP),
videos MP4/MOV/AVI/MKV/WEBM/FLV, audio WAV/MP3/FLAC/AAC/OGG/M4A. Video frame sampling lives in
``detectors.video.frames``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.errors import (
    CorruptMediaError,
    MediaTooLargeError,
    MediaTypeMismatchError,
    UnsupportedMediaError,
)
from detectors.schema import MediaType

SUPPORTED_FORMATS: dict[MediaType, tuple[str, ...]] = {
    "image": ("jpeg", "png", "gif", "bmp", "tiff", "pnm", "webp"),
    "video": ("mp4", "mov", "avi", "mkv", "webm", "flv"),
    "audio": ("wav", "mp3", "flac", "aac", "ogg", "m4a"),
}
SNIFF_BYTES = 4096
AUDIO_SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class MediaRef:
    """A medium on local scratch, its sniffed type, and where it came from."""

    path: str
    media_type: MediaType
    format: str
    size_bytes: int
    source: str | None = None


def _iso_bmff_kind(head: bytes) -> str | None:
    """Classify an ISO base media file (mp4/mov/m4a) by its ftyp brand; None when it has none."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in (b"M4A ", b"M4B ", b"M4P "):
        return "m4a"
    if brand == b"qt  ":
        return "mov"
    return "mp4"


def sniff_format(head: bytes) -> tuple[MediaType, str] | None:
    """(media type, format) from a file's first bytes, or None when it is no format we support.

    ISO-BMFF (mp4) files are reported as video here; ``sniff_file`` looks inside for a video stream.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "gif"
    if head.startswith(b"BM") and len(head) >= 26:
        return "image", "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image", "tiff"
    if head[:2] in (b"P2", b"P3", b"P5", b"P6") and len(head) > 2 and head[2:3].isspace():
        return "image", "pnm"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "avi"
    if head.startswith(b"fLaC"):
        return "audio", "flac"
    if head.startswith(b"OggS"):
        return "audio", "ogg"
    if head.startswith(b"ID3"):
        return "audio", "mp3"
    if head.startswith(b"FLV\x01"):
        return "video", "flv"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "webm" if b"webm" in head[:64] else "mkv"
    kind = _iso_bmff_kind(head)
    if kind == "m4a":
        return "audio", "m4a"
    if kind is not None:
        return "video", kind
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # ADTS sync word, layer 0
            return "audio", "aac"
        if head[1] & 0xE0 == 0xE0:  # MPEG audio frame sync
            return "audio", "mp3"
    return None


def _stream_kinds(path: str) -> tuple[bool, bool]:
    """(has a decodable video stream, has a decodable audio stream). Cover art (an attached picture)
    is not video; a stream whose codec FFmpeg does not know (no codec context) does not count."""
    import av
    from av.stream import Disposition

    try:
        with av.open(path) as container:
            video = any(s.codec_context is not None and not (s.disposition & Disposition.attached_pic)
                        for s in container.streams.video)
            return video, any(s.codec_context is not None for s in container.streams.audio)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise CorruptMediaError(f"cannot open media container: {exc}") from exc


def sniff_file(path: str | Path) -> tuple[MediaType, str]:
    """Sniff a file on disk; raise ``UnsupportedMediaError`` when it is not a supported format."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise CorruptMediaError("the file is empty")
    found = sniff_format(head)
    if found is None:
        raise UnsupportedMediaError(
            "unsupported or unrecognised media format",
            supported={k: list(v) for k, v in SUPPORTED_FORMATS.items()},
        )
    media_type, fmt = found
    if media_type in ("video", "audio"):
        # Decoders downstream may rely on it: the sniffed type has a stream they can decode.
        has_video, has_audio = _stream_kinds(str(path))
        if fmt in ("mp4", "mov") and not has_video:
            media_type, fmt = "audio", "m4a"
        if media_type == "audio" and not has_audio:
            raise CorruptMediaError(f"the {fmt} file has no decodable audio stream")
        if media_type == "video" and not has_video:
            raise UnsupportedMediaError(f"the {fmt} file has no decodable video stream")
    return media_type, fmt


def make_media_ref(path: str | Path, expected: MediaType | None = None, source: str | None = None) -> MediaRef:
    """Sniff ``path`` and check it against the media type the caller declared, if any."""
    media_type, fmt = sniff_file(path)
    if expected is not None and expected != media_type:
        raise MediaTypeMismatchError(
            f"media_type says '{expected}' but the content is {media_type} ({fmt})",
            declared=expected,
            detected=media_type,
        )
    return MediaRef(str(path), media_type, fmt, Path(path).stat().st_size, source)


def load_image(path: str | Path, max_pixels: int) -> np.ndarray:
    """Decode an image to RGB uint8 (H, W, 3); the first frame of an animated GIF.

    The pixel limit is checked from the header, before any pixel is decoded (decompression bombs).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise MediaTooLargeError(
                        f"image is {w}x{h} = {w * h} pixels, over the limit of {max_pixels}",
                        pixels=w * h,
                        limit=max_pixels,
                    )
                img.seek(0)
                rgb = img.convert("RGB")
                rgb.load()
                return np.asarray(rgb, dtype=np.uint8).copy()
    except MediaTooLargeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard fired first (over twice its default limit): name OUR limit in the message.
        raise MediaTooLargeError(
            f"image has more pixels than the limit of {max_pixels} (refused as a decompression bomb: {exc})",
            limit=max_pixels,
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptMediaError(f"cannot decode image: {exc}") from exc


@dataclass
class AudioClip:
    """Mono float32 samples at ``sample_rate`` plus what the source file was."""

    samples: np.ndarray
    sample_rate: int
    source_sample_rate: int
    duration: float


def load_audio(
    path: str | Path, max_seconds: float, sample_rate: int = AUDIO_SAMPLE_RATE, stream_index: int | None = None
) -> AudioClip | None:
    """Decode the (first) audio stream of any container to mono float32 at ``sample_rate``.

    Returns None when the file has no audio stream (a silent video). Decoding stops with
    ``MediaTooLargeError`` as soon as the duration limit is passed.
    """
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise CorruptMediaError(f"cannot open audio: {exc}") from exc
    with container:
        streams = container.streams.audio
        if not streams:
            return None
        stream = streams[stream_index or 0]
        if stream.codec_context is None:  # a stream whose codec FFmpeg does not know (damaged header)
            raise CorruptMediaError("the audio stream has no decodable codec")
        source_rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        declared = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        if declared is not None and declared > max_seconds * 1.01:
            raise MediaTooLargeError(
                f"audio is {declared:.1f} s long, over the limit of {max_seconds:.0f} s",
                duration=declared,
                limit=max_seconds,
            )
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        total = 0
        limit = int(max_seconds * sample_rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    total += arr.size
                if total > limit:
                    raise MediaTooLargeError(
                        f"audio is longer than the limit of {max_seconds:.0f} s", limit=max_seconds
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except MediaTooLargeError:
            raise
        except (av.error.FFmpegError, ValueError) as exc:
            if not chunks:
                raise CorruptMediaError(f"cannot decode audio: {exc}") from exc
            # A damaged tail: keep what decoded (the result reports the decoded duration).
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise CorruptMediaError("the audio stream decoded to no samples")
    return AudioClip(samples, sample_rate, source_rate or sample_rate, samples.size / sample_rate)


VARIABLE_FRAME_CODECS = ("pcm_s16le", "pcm_f32le", "flac")  # accept a short last frame; others get it padded


def add_audio_stream(out, codec: str = "aac", sample_rate: int = AUDIO_SAMPLE_RATE, bit_rate: int | None = None):
    """A mono audio stream on an open PyAV output container (add it before anything is muxed)."""
    stream = out.add_stream(codec, rate=sample_rate)
    stream.layout = "mono"
    if bit_rate:
        stream.bit_rate = bit_rate
    return stream


def encode_audio(out, stream, samples: np.ndarray, frame_size: int = 1024, sample_format: str = "s16") -> None:
    """Encode mono ``samples`` (float in -1..1, at the stream's rate) into ``stream`` of ``out`` as
    frames of ``sample_format`` ("s16": 16-bit; "fltp": float, no quantisation), then flush it. The one PyAV audio-encoding loop: re-encoded views, synthetic
    training videos and test media all write sound through it. PyAV re-buffers the frames to the
    codec's own frame size; the last frame is zero-padded for codecs that need full frames.
    """
    from fractions import Fraction

    import av

    rate = int(stream.codec_context.sample_rate)
    pcm = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
    if sample_format == "s16":
        pcm = (pcm * 32767).astype(np.int16)
    pad = stream.codec_context.name not in VARIABLE_FRAME_CODECS
    pts = 0
    for i in range(0, pcm.size, frame_size):
        chunk = pcm[i : i + frame_size]
        if pad and chunk.size < frame_size:
            chunk = np.pad(chunk, (0, frame_size - chunk.size))
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format=sample_format, layout="mono")
        frame.sample_rate = rate
        frame.pts = pts
        frame.time_base = Fraction(1, rate)
        pts += chunk.size
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
