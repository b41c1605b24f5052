"""Synthetic talking-face clips for tests and benchmarks (no network, no shared data).

A drawn face that OpenCV's Haar cascade and dlib's landmarks do find, whose mouth opens with a
speech-like sound track (or with an unrelated one), written in any of the six containers, with
optional display rotation, variable frame rate and a scene cut. Not a real face: these clips test
mechanics (sampling, tracking, timing, bounds), never detection accuracy.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from detectors.media import add_audio_stream, encode_audio

# container extension -> (PyAV format, video codec, audio codec)
CONTAINERS = {
    "mp4": ("mp4", "libx264", "aac"),
    "mov": ("mov", "libx264", "aac"),
    "avi": ("avi", "mpeg4", "mp3"),
    "mkv": ("matroska", "libx264", "aac"),
    "webm": ("webm", "libvpx", "opus"),
    "flv": ("flv", "flv", "mp3"),
}


def syllable_envelope(seconds: float, rate: float, seed: int = 0) -> np.ndarray:
    """A 0..1 loudness envelope of random syllables and pauses, sampled at ``rate`` Hz."""
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * rate)))
    env = np.zeros(n, dtype=np.float64)
    t = 0.1
    while t < seconds:
        dur = rng.uniform(0.12, 0.3)
        a, b = int(t * rate), min(n, int((t + dur) * rate))
        if b > a:
            env[a:b] = np.sin(np.linspace(0, np.pi, b - a)) * rng.uniform(0.6, 1.0)
        t += dur + rng.choice([rng.uniform(0.03, 0.1), rng.uniform(0.3, 0.7)], p=[0.75, 0.25])
    return env


def speech_like(envelope_at_rate: np.ndarray, rate: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A voiced harmonic signal whose loudness follows an envelope given at ``rate`` Hz."""
    rng = np.random.default_rng(seed + 1)
    n = int(round(envelope_at_rate.size / rate * sample_rate))
    t = np.arange(n, dtype=np.float32) / np.float32(sample_rate)
    env = np.interp(t, np.arange(envelope_at_rate.size) / rate, envelope_at_rate).astype(np.float32)
    f0 = 140.0 * (1 + 0.08 * np.sin(np.float32(2 * np.pi * 2.3) * t))
    phase = np.mod(np.cumsum(f0 * np.float32(2 * np.pi / sample_rate), dtype=np.float64), 2 * np.pi).astype(np.float32)
    voiced = np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.33 * np.sin(3 * phase)
    noise = rng.standard_normal(n, dtype=np.float32)
    return (0.3 * voiced * env + 0.003 * noise).astype(np.float32)


def textured_background(width: int, height: int, colour: tuple[int, int, int]) -> np.ndarray:
    """A smooth wavy texture in ``colour`` (RGB uint8)."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.float32)
    img[:] = colour
    img += (12 * np.sin(xx / 7.0) * np.cos(yy / 11.0))[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def cartoon_face(
    width: int, height: int, cx: float, cy: float, size: float, mouth: float = 0.0,
    background: tuple[int, int, int] | np.ndarray = (90, 110, 140), seed: int = 0, skin_shift: float = 0.0,
) -> np.ndarray:
    """An RGB uint8 frame with a drawn frontal face (found by Haar + dlib) on a textured background."""
    rng = np.random.default_rng(seed)
    base = background if isinstance(background, np.ndarray) else textured_background(width, height, background)
    noise = rng.integers(-4, 5, size=(height, width, 1), dtype=np.int16)
    img = np.clip(base.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    s, c = size, (int(round(cx)), int(round(cy)))
    skin = tuple(int(np.clip(v + skin_shift, 0, 255)) for v in (200, 160, 130))
    cv2.ellipse(img, c, (int(s * 0.8), int(s * 1.05)), 0, 0, 360, skin, -1)
    cv2.ellipse(img, (c[0], c[1] - int(s * 0.75)), (int(s * 0.82), int(s * 0.4)), 0, 180, 360, (40, 30, 20), -1)
    ex, ey = int(s * 0.33), c[1] - int(s * 0.2)
    for sx in (-1, 1):
        cv2.ellipse(img, (c[0] + sx * ex, ey - int(s * 0.18)), (int(s * 0.2), int(s * 0.05)), 0, 0, 360, (60, 40, 30), -1)
        cv2.ellipse(img, (c[0] + sx * ex, ey), (int(s * 0.16), int(s * 0.08)), 0, 0, 360, (240, 240, 240), -1)
        cv2.circle(img, (c[0] + sx * ex, ey), max(1, int(s * 0.07)), (40, 30, 30), -1)
    cv2.line(img, (c[0], ey), (c[0] - int(s * 0.06), c[1] + int(s * 0.2)), (170, 120, 100), 2)
    cv2.ellipse(img, (c[0], c[1] + int(s * 0.22)), (int(s * 0.12), int(s * 0.05)), 0, 0, 360, (150, 100, 90), -1)
    open_h = max(1, int(s * (0.03 + 0.16 * float(np.clip(mouth, 0, 1)))))
    cv2.ellipse(img, (c[0], c[1] + int(s * 0.5)), (int(s * 0.28), open_h), 0, 0, 360, (70, 20, 30), -1)
    return cv2.GaussianBlur(img, (3, 3), 0)


def write_talking_video(
    path: Path | str,
    seconds: float = 3.0,
    fps: float = 15.0,
    size: tuple[int, int] = (192, 144),
    fmt: str | None = None,
    with_audio: bool = True,
    lip_sync: bool = True,
    rotation: int = 0,
    variable_frame_rate: bool = False,
    scene_cut_at: float | None = None,
    boundary_flicker: float = 0.0,
    with_face: bool = True,
    seed: int = 0,
    preset: str | None = None,
    gop: int | None = None,
    audio_rate: int = 22050,
) -> Path:
    """Write a clip of a talking drawn face; returns ``path``.

    ``lip_sync=False`` drives the mouth with an envelope unrelated to the sound. ``rotation``
    (multiple of 90, counter-clockwise) stores the frames turned and sets the display matrix so a
    player shows them upright again. ``variable_frame_rate`` alternates short and long frame
    intervals. ``scene_cut_at`` switches to a different shot. ``gop`` caps the key-frame interval. ``boundary_flicker`` (0..1) makes the
    skin tone jump from frame to frame, like a badly blended face swap.
    """
    import av

    path = Path(path)
    ext = (fmt or path.suffix.lstrip(".")).lower()
    container_fmt, vcodec, acodec = CONTAINERS[ext]
    w, h = size
    rng = np.random.default_rng(seed)
    if variable_frame_rate:
        gaps = np.where(np.arange(int(seconds * fps) + 1) % 2 == 0, 0.5, 1.5) / fps
        times = np.concatenate([[0.0], np.cumsum(gaps)])
        times = times[times < seconds]
    else:
        times = np.arange(int(round(seconds * fps))) / fps
    env_rate = 100.0
    env = syllable_envelope(seconds + 0.5, env_rate, seed)
    mouth_env = env if lip_sync else syllable_envelope(seconds + 0.5, env_rate, seed + 1000)
    k = rotation // 90 % 4
    stored_w, stored_h = (h, w) if k % 2 else (w, h)
    with av.open(str(path), "w", format=container_fmt) as out:
        if variable_frame_rate:
            vs = out.add_stream(vcodec, rate=int(round(fps)))
            vs.codec_context.time_base = Fraction(1, 1000)
            vs.time_base = Fraction(1, 1000)
        else:
            vs = out.add_stream(vcodec, rate=Fraction(fps).limit_denominator(1001))
        vs.width, vs.height, vs.pix_fmt = stored_w, stored_h, "yuv420p"
        if preset and vcodec == "libx264":
            vs.options = {"preset": preset}
        if gop:
            vs.codec_context.gop_size = gop
        if k:
            vs.set_display_rotation(rotation)
        astream = None
        if with_audio:
            arate = 48000 if acodec == "opus" else audio_rate
            astream = add_audio_stream(out, acodec, arate)
        backgrounds = [textured_background(w, h, (90, 110, 140)), textured_background(w, h, (160, 60, 50))]
        for i, t in enumerate(times):
            shot = 1 if scene_cut_at is not None and t >= scene_cut_at else 0
            size_px = min(w, h) * (0.28 if shot == 0 else 0.2)
            cx = w * (0.5 if shot == 0 else 0.35) + 0.04 * w * np.sin(2 * np.pi * 0.3 * t)
            cy = h * 0.5 + 0.02 * h * np.cos(2 * np.pi * 0.2 * t)
            mouth = float(np.interp(t, np.arange(mouth_env.size) / env_rate, mouth_env))
            bg = backgrounds[shot]
            shift = boundary_flicker * 40.0 * rng.standard_normal()
            frame_rgb = cartoon_face(w, h, cx, cy, size_px, mouth, bg, seed=seed * 7919 + i, skin_shift=shift)
            if not with_face:
                frame_rgb = cv2.GaussianBlur(frame_rgb, (0, 0), 6)
                frame_rgb[:] = np.clip(frame_rgb.astype(np.int16) // 3 + 60, 0, 255).astype(np.uint8)
            if k:
                frame_rgb = np.ascontiguousarray(np.rot90(frame_rgb, -k))
            frame = av.VideoFrame.from_ndarray(frame_rgb, format="rgb24")
            if variable_frame_rate:
                frame.pts = int(round(t * 1000))
                frame.time_base = Fraction(1, 1000)
            else:
                frame.pts = i
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        if astream is not None:
            arate = astream.codec_context.sample_rate
            encode_audio(out, astream, speech_like(env[: int(seconds * env_rate)], env_rate, arate, seed))
    return path
