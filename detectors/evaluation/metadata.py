"""The metadata-only baseline: what a model could score from a file's header alone.

Beside every result table stands this baseline under the same protocol (same folds, same views):
a linear probe on header facts only. Images: width, height, aspect, format, JPEG quality. Audio:
sample rate, duration, codec, bit rate, channels. Video: width, height, frame rate, duration,
codec, bit rate, sound or not. If it scores high, the data (not the detector) separates the
classes, and the detector's number means little. The features are registered as the streams
``<modality>/metadata``, so they go through the same extraction, cache and re-encoded views as any
stream (a re-encoded view is described as it really is after re-encoding).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from detectors.errors import CorruptMediaError
from detectors.training.stream_registry import register_stream

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")
AUDIO_CODECS = ("pcm", "flac", "mp3", "aac", "opus", "vorbis")
VIDEO_CODECS = ("h264", "hevc", "vp9", "vp8", "mpeg4", "av1")
# the standard IJG luminance table (quality 50); a JPEG's quality is estimated from how it is scaled
_IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17,
             22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78,
             87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)


def jpeg_quality(luma_table: list[int] | None) -> float:
    """An estimate of the IJG quality (1-100) from a luma quantisation table; 0 when not a JPEG."""
    if not luma_table:
        return 0.0
    scale = 100.0 * sum(luma_table) / sum(_IJG_LUMA)
    q = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return float(min(100.0, max(1.0, q)))


def _onehot(value: str, names: tuple[str, ...]) -> list[float]:
    hit = [float(value.startswith(n)) for n in names]
    return hit + [float(not any(hit))]


def _log(v: float | None) -> float:
    return math.log(v) if v and v > 0 else math.nan


def image_metadata(path: str | Path) -> np.ndarray:
    """log width, log height, log aspect, format one-hot (JPEG/PNG/WEBP/other), JPEG quality."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            w, h = img.size
            fmt = img.format or ""
            q = jpeg_quality(list(img.quantization.get(0, []))) if fmt == "JPEG" and getattr(img, "quantization", None) else 0.0
    except (OSError, UnidentifiedImageError) as exc:
        raise CorruptMediaError(f"cannot read the image header: {exc}") from exc
    return np.array([math.log(w), math.log(h), math.log(w / h), *_onehot(fmt, IMAGE_FORMATS), q], np.float32)


def _probe(path: str | Path, kind: str) -> dict:
    """Header facts of the first ``kind`` ("audio" / "video") stream and its container (no decoding)."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise CorruptMediaError(f"cannot open the file: {exc}") from exc
    with container as c:
        streams = getattr(c.streams, kind)
        if not streams:
            raise CorruptMediaError(f"no {kind} stream")
        s = streams[0]
        cc = s.codec_context
        info = {"codec": cc.name or "", "bit_rate": s.bit_rate or c.bit_rate, "has_audio": bool(c.streams.audio),
                "duration": c.duration / 1e6 if c.duration else (float(s.duration * s.time_base) if s.duration else math.nan)}
        if kind == "audio":
            info.update(rate=cc.sample_rate, channels=cc.channels)
        else:
            info.update(width=cc.width, height=cc.height, fps=float(s.average_rate or s.guessed_rate or 0))
    return info


def audio_metadata(path: str | Path) -> np.ndarray:
    """log sample rate, duration, log bit rate, channels, codec one-hot."""
    h = _probe(path, "audio")
    return np.array([_log(h["rate"]), h["duration"], _log(h["bit_rate"]), float(h["channels"] or 0),
                     *_onehot(h["codec"], AUDIO_CODECS)], np.float32)


def video_metadata(path: str | Path) -> np.ndarray:
    """log width, log height, frame rate, duration, log bit rate, has sound, codec one-hot."""
    h = _probe(path, "video")
    return np.array([_log(h["width"]), _log(h["height"]), h["fps"], h["duration"], _log(h["bit_rate"]),
                     float(h["has_audio"]), *_onehot(h["codec"], VIDEO_CODECS)], np.float32)


_READERS = {"image": image_metadata, "audio": audio_metadata, "video": video_metadata}


class MetadataStream:
    """Header facts of one modality's files as a ``FeatureStream`` (feature name ``meta``)."""

    version = "1"

    def __init__(self, modality: str) -> None:
        self.modality = modality
        self.name = f"metadata-{modality}"
        self._read = _READERS[modality]

    def load(self) -> None:
        pass

    def features(self, path: Path) -> dict[str, np.ndarray]:
        return {"meta": self._read(path)}


for _m in _READERS:
    register_stream(f"{_m}/metadata", lambda _m=_m: MetadataStream(_m))
