"""Re-encode every input to one format so a detector cannot score on container or codec alone.

Images become JPEG at quality 90, audio 16 kHz mono 16-bit WAV, video H.264 MP4 (CRF 23,
yuv420p, same frame rate) with a 16 kHz mono AAC track. Two lossier views test robustness:
audio as 32 kbit/s MP3 and video at CRF 32. Pixels and samples are decoded with the
service's own decoders (``detectors.media``), so what is re-encoded is exactly what a detector
would have seen. In ../shared/data most fake images are PNG and most real ones JPEG: a format
rule alone scores high on the originals, not on these.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from detectors.errors import CorruptMediaError
from detectors.media import AUDIO_SAMPLE_RATE, add_audio_stream, encode_audio, load_audio, load_image
from detectors.settings import Settings

JPEG_QUALITY = 90
VIDEO_CRF = "23"
VIDEO_CRF_LOW = "32"  # the "lower bitrate" H.264 view
MP3_BIT_RATE = 32_000
SUFFIX = {"image": ".jpg", "audio": ".wav", "video": ".mp4"}


def reencode_image(src: str | Path, dst: str | Path, max_pixels: int) -> Path:
    """Decode to RGB and save as baseline JPEG, quality 90 (size unchanged)."""
    from PIL import Image

    rgb = load_image(src, max_pixels)
    Image.fromarray(rgb).save(dst, format="JPEG", quality=JPEG_QUALITY)
    return Path(dst)


def reencode_audio(src: str | Path, dst: str | Path, max_seconds: float) -> Path:
    """Decode any container to 16 kHz mono and write 16-bit PCM WAV."""
    import soundfile

    clip = load_audio(src, max_seconds, sample_rate=AUDIO_SAMPLE_RATE)
    if clip is None:
        raise CorruptMediaError("the file has no audio stream")
    soundfile.write(str(dst), np.clip(clip.samples, -1.0, 1.0), AUDIO_SAMPLE_RATE, subtype="PCM_16")
    return Path(dst)


def reencode_audio_mp3(src: str | Path, dst: str | Path, max_seconds: float, bit_rate: int = MP3_BIT_RATE) -> Path:
    """Decode to 16 kHz mono and write MP3 at a low bit rate (32 kbit/s): a lossy-channel view."""
    import av

    clip = load_audio(src, max_seconds, sample_rate=AUDIO_SAMPLE_RATE)
    if clip is None:
        raise CorruptMediaError("the file has no audio stream")
    with av.open(str(dst), "w", format="mp3") as out:
        stream = add_audio_stream(out, "libmp3lame", AUDIO_SAMPLE_RATE, bit_rate)
        encode_audio(out, stream, clip.samples, sample_format="fltp")
    return Path(dst)


def reencode_video(src: str | Path, dst: str | Path, max_seconds: float, crf: str = VIDEO_CRF,
                   short_side: int | None = None) -> Path:
    """Re-encode to H.264 MP4 at the source frame rate (cropped to even size, or scaled to a
    ``short_side`` px shorter side so that every clip shares one resolution), audio to 16 kHz mono AAC."""
    import av

    clip = load_audio(src, max_seconds * 1.5)  # None for a silent video
    try:
        container = av.open(str(src))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise CorruptMediaError(f"cannot open video: {exc}") from exc
    with container:
        if not container.streams.video:
            raise CorruptMediaError("the file has no video stream")
        vin = container.streams.video[0]
        w0, h0 = vin.codec_context.width, vin.codec_context.height
        if w0 < 2 or h0 < 2:
            raise CorruptMediaError("the video stream has no frame size")
        scale = short_side / min(w0, h0) if short_side else 1.0
        w, h = (int(round(w0 * scale / 2)) * 2, int(round(h0 * scale / 2)) * 2) if short_side else (w0 // 2 * 2, h0 // 2 * 2)
        rate = Fraction(vin.average_rate or vin.guessed_rate or 25).limit_denominator(1001)
        frames = 0
        with av.open(str(dst), "w", format="mp4") as out:
            vout = out.add_stream("libx264", rate=rate, options={"crf": crf, "preset": "veryfast"})
            vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
            aout = add_audio_stream(out) if clip is not None and clip.samples.size else None
            try:
                for frame in container.decode(vin):
                    if frames / float(rate) > max_seconds:
                        break
                    rgb = None if short_side else frame.to_ndarray(format="rgb24")
                    if short_side:
                        rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="BICUBIC").to_ndarray()
                    elif rgb.shape[0] < h or rgb.shape[1] < w:  # a frame of another size: scale it
                        rgb = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
                    new = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
                    new.pts = frames
                    frames += 1
                    for packet in vout.encode(new):
                        out.mux(packet)
            except (av.error.FFmpegError, ValueError) as exc:
                if frames == 0:
                    raise CorruptMediaError(f"cannot decode video: {exc}") from exc
                # a damaged tail: keep the frames that decoded, as the service's sampler does
            if frames == 0:
                raise CorruptMediaError("the video decoded to no frames")
            for packet in vout.encode(None):
                out.mux(packet)
            if aout is not None:
                encode_audio(out, aout, clip.samples[: int(max_seconds * AUDIO_SAMPLE_RATE)], sample_format="fltp")
    return Path(dst)


def reencode(src: str | Path, modality: str, dst_dir: str | Path, stem: str, settings: Settings) -> Path:
    """Re-encode ``src`` of ``modality`` into ``dst_dir/<stem>.<ext>`` within the service's limits."""
    dst = Path(dst_dir) / f"{stem}{SUFFIX[modality]}"
    if modality == "image":
        return reencode_image(src, dst, settings.max_image_pixels)
    if modality == "audio":
        return reencode_audio(src, dst, settings.max_audio_seconds)
    if modality == "video":
        return reencode_video(src, dst, settings.max_video_seconds)
    raise ValueError(f"unknown modality {modality!r}")
