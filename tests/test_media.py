"""Sniffing and decoding of every format in the usage guide, from generated files."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.errors import (
    CorruptMediaError,
    MediaTooLargeError,
    MediaTypeMismatchError,
    UnsupportedMediaError,
)
from detectors.media import load_audio, load_image, make_media_ref, sniff_format
from tests.media_factory import (
    AUDIO_FORMATS,
    IMAGE_FORMATS,
    VIDEO_FORMATS,
    write_audio,
    write_image,
    write_video,
)

EXPECTED_IMAGE = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "gif": "gif", "bmp": "bmp", "tiff": "tiff"}


@pytest.mark.parametrize("ext", sorted(IMAGE_FORMATS))
def test_every_image_format_sniffs_and_decodes(tmp_path, ext):
    path = write_image(tmp_path / f"x.{ext}", size=(96, 64))
    ref = make_media_ref(path)
    assert (ref.media_type, ref.format) == ("image", EXPECTED_IMAGE[ext])
    img = load_image(path, max_pixels=10**7)
    assert img.shape == (64, 96, 3) and img.dtype == np.uint8


@pytest.mark.parametrize("ext", sorted(AUDIO_FORMATS))
def test_every_audio_format_sniffs_and_decodes(tmp_path, ext):
    path = write_audio(tmp_path / f"x.{ext}", seconds=1.5)
    ref = make_media_ref(path)
    assert (ref.media_type, ref.format) == ("audio", ext)
    clip = load_audio(path, max_seconds=60)
    assert clip.sample_rate == 16000 and clip.samples.dtype == np.float32
    assert 1.3 < clip.duration < 1.8
    assert clip.source_sample_rate == AUDIO_FORMATS[ext][2]
    assert np.abs(clip.samples).max() > 0.05  # real signal, not silence


@pytest.mark.parametrize("ext", sorted(VIDEO_FORMATS))
def test_every_video_format_sniffs_and_has_its_sound_track(tmp_path, ext):
    path = write_video(tmp_path / f"x.{ext}", seconds=1.0)
    ref = make_media_ref(path)
    assert (ref.media_type, ref.format) == ("video", ext)
    clip = load_audio(path, max_seconds=60)
    assert clip is not None and 0.8 < clip.duration < 1.3


def test_silent_video_has_no_audio_clip(tmp_path):
    path = write_video(tmp_path / "x.mp4", seconds=1.0, with_audio=False)
    assert load_audio(path, max_seconds=60) is None


def test_extension_is_ignored_content_decides(tmp_path):
    path = write_image(tmp_path / "x.png")
    renamed = path.rename(tmp_path / "looks_like.mp3")
    assert make_media_ref(renamed).media_type == "image"


def test_declared_type_must_match_content(tmp_path):
    path = write_image(tmp_path / "x.png")
    with pytest.raises(MediaTypeMismatchError) as info:
        make_media_ref(path, expected="video")
    assert info.value.http_status == 415


def test_unknown_bytes_are_unsupported(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"%PDF-1.7\n" + bytes(200))
    with pytest.raises(UnsupportedMediaError):
        make_media_ref(path)


def test_empty_file_is_corrupt(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"")
    with pytest.raises(CorruptMediaError):
        make_media_ref(path)


def test_truncated_image_is_corrupt(tmp_path):
    path = write_image(tmp_path / "x.png")
    path.write_bytes(path.read_bytes()[:120])
    with pytest.raises(CorruptMediaError):
        load_image(path, max_pixels=10**7)


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    path = write_image(tmp_path / "x.png", size=(300, 200))
    with pytest.raises(MediaTooLargeError) as info:
        load_image(path, max_pixels=300 * 200 - 1)
    assert info.value.http_status == 413


def test_audio_duration_limit(tmp_path):
    path = write_audio(tmp_path / "x.wav", seconds=3.0)
    with pytest.raises(MediaTooLargeError):
        load_audio(path, max_seconds=1.0)


def test_sniff_signatures():
    assert sniff_format(b"fLaC\x00\x00") == ("audio", "flac")
    assert sniff_format(b"\x00\x00\x00\x20ftypM4A \x00\x00") == ("audio", "m4a")
    assert sniff_format(b"\x00\x00\x00\x20ftypqt  \x00\x00") == ("video", "mov")
    assert sniff_format(b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x00\x00\x00\x1fB\x82\x84webm") == ("video", "webm")
    assert sniff_format(b"\xff\xf1\x50\x80") == ("audio", "aac")
    assert sniff_format(b"hello world") is None
