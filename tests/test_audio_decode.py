"""Every audio format of the usage guide, and a video's sound track, decodes to 16 kHz mono."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.media import load_audio, make_media_ref
from tests.media_factory import AUDIO_FORMATS, VIDEO_FORMATS, write_audio, write_video


@pytest.mark.parametrize("ext", sorted(AUDIO_FORMATS))
def test_every_audio_format_decodes(tmp_path, ext):
    path = write_audio(tmp_path / f"clip.{ext}", seconds=2.0)
    ref = make_media_ref(path, "audio")
    clip = load_audio(ref.path, max_seconds=60)
    assert clip is not None
    assert clip.sample_rate == 16_000
    assert clip.source_sample_rate == AUDIO_FORMATS[ext][2]
    assert clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert abs(clip.duration - 2.0) < 0.15, clip.duration
    assert float(np.sqrt(np.mean(clip.samples**2))) > 0.01  # real signal, not silence


@pytest.mark.parametrize("ext", sorted(VIDEO_FORMATS))
def test_video_sound_track_decodes(tmp_path, ext):
    path = write_video(tmp_path / f"clip.{ext}", seconds=1.5)
    clip = load_audio(path, max_seconds=60)
    assert clip is not None and clip.sample_rate == 16_000
    assert abs(clip.duration - 1.5) < 0.2, clip.duration
    assert float(np.abs(clip.samples).max()) > 0.05


def test_silent_video_has_no_audio(tmp_path):
    path = write_video(tmp_path / "silent.mp4", seconds=1.0, with_audio=False)
    assert load_audio(path, max_seconds=60) is None


def test_duration_limit_is_enforced(tmp_path):
    from detectors.errors import MediaTooLargeError

    path = write_audio(tmp_path / "long.wav", seconds=3.0)
    with pytest.raises(MediaTooLargeError):
        load_audio(path, max_seconds=1.0)
