"""Re-encoding for the robustness view: one format per modality, content preserved."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.errors import CorruptMediaError
from detectors.evaluation.reencode import reencode
from detectors.media import load_audio, load_image, sniff_file
from tests.media_factory import write_audio, write_image, write_video


@pytest.mark.parametrize("fmt", ["png", "bmp", "gif", "jpg"])
def test_image_becomes_jpeg_of_same_size(tmp_path, settings, fmt):
    src = write_image(tmp_path / f"a.{fmt}", size=(96, 64))
    out = reencode(src, "image", tmp_path, "x", settings)
    assert sniff_file(out) == ("image", "jpeg")
    a, b = load_image(src, 10**7), load_image(out, 10**7)
    assert a.shape == b.shape == (64, 96, 3)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 12  # JPEG q90: close, not identical


@pytest.mark.parametrize("fmt", ["mp3", "flac", "m4a", "ogg"])
def test_audio_becomes_16k_mono_wav(tmp_path, settings, fmt):
    src = write_audio(tmp_path / f"a.{fmt}", seconds=1.0)
    out = reencode(src, "audio", tmp_path, "x", settings)
    assert sniff_file(out) == ("audio", "wav")
    import soundfile

    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert abs(load_audio(out, 60).duration - load_audio(src, 60).duration) < 0.1


@pytest.mark.parametrize("fmt", ["webm", "avi"])
def test_video_becomes_h264_mp4_with_16k_audio(tmp_path, settings, fmt):
    import av

    src = write_video(tmp_path / f"v.{fmt}", seconds=1.0, size=(161, 121))  # odd size: cropped to even
    out = reencode(src, "video", tmp_path, "x", settings)
    assert sniff_file(out) == ("video", "mp4")
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264" and (v.width, v.height) == (160, 120)
        assert c.streams.audio[0].codec_context.sample_rate == 16000
        assert sum(1 for _ in c.decode(v)) == 10


def test_video_scaled_to_one_shorter_side(tmp_path):
    import av

    from detectors.evaluation.reencode import reencode_video

    src = write_video(tmp_path / "v.mp4", seconds=1.0, size=(160, 120))
    out = reencode_video(src, tmp_path / "x.mp4", max_seconds=10, short_side=240)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (320, 240)
        assert sum(1 for _ in c.decode(v)) == 10


def test_corrupt_input_raises_detection_error(tmp_path, settings):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    with pytest.raises(CorruptMediaError):
        reencode(bad, "image", tmp_path, "x", settings)
