"""What a media file really is (container sniffed from its bytes) and its basic properties.

The ``format`` column is the sniffed container, not the file-name extension: some demo pages
serve MP3 data in ``.wav`` files or FLAC as ``.wav``. Width/height come from the image header or
the first video stream; duration and sample rate from PyAV (audio, and video with audio).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

# container -> canonical extension
EXTENSIONS = {
    "jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "bmp": ".bmp", "tiff": ".tif",
    "pgm": ".pgm", "wav": ".wav", "flac": ".flac", "mp3": ".mp3", "ogg": ".ogg", "mp4": ".mp4",
    "mov": ".mov", "m4a": ".m4a", "matroska": ".mkv", "webm": ".webm", "avi": ".avi", "mpeg": ".mpg",
}
# extensions that count as "the same container" (no renaming needed)
ALIASES = {".jpeg": ".jpg", ".jpe": ".jpg", ".tiff": ".tif", ".mpeg": ".mpg", ".pnm": ".pgm"}


def sniff(data: bytes, name: str = "") -> str:
    """The container of ``data`` from its magic bytes; falls back to the extension of ``name``."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"GIF8"):
        return "gif"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "tiff"
    if head[:2] in (b"P5", b"P2", b"P6"):
        return "pgm"
    if head.startswith(b"RIFF"):
        return {b"WAVE": "wav", b"WEBP": "webp", b"AVI ": "avi"}.get(head[8:12], "riff")
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"M4A"):
            return "m4a"
        return "mov" if brand == b"qt  " else "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if b"webm" in data[:4096] else "matroska"
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return "mpeg"
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {"jpg": "jpeg", "mkv": "matroska", "mpg": "mpeg"}.get(ext, ext or "unknown")


def canonical_name(name: str, fmt: str) -> str:
    """``name`` with its extension replaced when it contradicts the sniffed container."""
    want = EXTENSIONS.get(fmt)
    stem, dot, ext = name.rpartition(".")
    have = ALIASES.get("." + ext.lower(), "." + ext.lower()) if dot else ""
    if not want or have == want or (fmt == "mp4" and have in (".m4v", ".mov")) or (fmt == "mov" and have == ".mp4"):
        return name
    return (stem if dot else name) + want


@dataclass
class MediaInfo:
    """Basic properties; missing ones are None."""

    width: int | None = None
    height: int | None = None
    duration: float | None = None
    sample_rate: int | None = None


def image_info(data: bytes) -> MediaInfo:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return MediaInfo(width=im.width, height=im.height)


def av_info(data: bytes) -> MediaInfo:
    """Width/height of the first video stream, sample rate of the first audio stream, duration."""
    import av

    info = MediaInfo()
    with av.open(io.BytesIO(data)) as c:
        if c.streams.video:
            v = c.streams.video[0]
            info.width, info.height = v.codec_context.width or None, v.codec_context.height or None
        if c.streams.audio:
            info.sample_rate = c.streams.audio[0].codec_context.sample_rate or None
        if c.duration:
            info.duration = round(c.duration / 1_000_000, 3)
        else:
            s = (c.streams.video or c.streams.audio)[0]
            if s.duration and s.time_base:
                info.duration = round(float(s.duration * s.time_base), 3)
    return info


def media_info(data: bytes, modality: str, fmt: str) -> MediaInfo:
    """Properties of a file's bytes; never raises (unreadable media give an empty MediaInfo)."""
    try:
        if modality == "image":
            return image_info(data)
        info = av_info(data)
        if modality == "video" and fmt == "gif" and info.width is None:
            return image_info(data)
        return info
    except Exception:  # noqa: BLE001 - a damaged file is reported by empty fields, not a crash
        return MediaInfo()
