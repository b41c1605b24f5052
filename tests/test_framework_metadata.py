"""The metadata-only baseline's header features on generated media."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from detectors.errors import CorruptMediaError
from detectors.evaluation.metadata import MetadataStream, audio_metadata, image_metadata, video_metadata
from tests.media_factory import synthetic_face_image, write_audio, write_video


def test_image_header_facts(tmp_path):
    rgb = synthetic_face_image(96, 64)
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=90)
    Image.fromarray(rgb).save(tmp_path / "b.png")
    jpg, png = image_metadata(tmp_path / "a.jpg"), image_metadata(tmp_path / "b.png")
    assert jpg[0] == pytest.approx(math.log(96)) and jpg[1] == pytest.approx(math.log(64))
    assert jpg[3] == 1 and png[4] == 1  # JPEG / PNG one-hot
    assert jpg[-1] == pytest.approx(90, abs=2) and png[-1] == 0  # estimated JPEG quality
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(CorruptMediaError):
        image_metadata(tmp_path / "bad.png")


def test_audio_and_video_header_facts(tmp_path):
    wav = audio_metadata(write_audio(tmp_path / "a.wav", seconds=1.5))
    mp3 = audio_metadata(write_audio(tmp_path / "a.mp3", seconds=1.5))
    assert wav[0] == pytest.approx(math.log(16000)) and wav[1] == pytest.approx(1.5, abs=0.05) and wav[3] == 1
    assert wav[4] == 1 and mp3[6] == 1  # pcm / mp3 codec one-hot
    video = video_metadata(write_video(tmp_path / "v.mp4", seconds=1.0, fps=10, size=(160, 120)))
    assert video[0] == pytest.approx(math.log(160)) and video[2] == pytest.approx(10) and video[5] == 1
    assert video[6] == 1  # h264
    feats = MetadataStream("video").features(tmp_path / "v.mp4")
    assert set(feats) == {"meta"} and np.isfinite(feats["meta"][:3]).all()
    with pytest.raises(CorruptMediaError):
        video_metadata(tmp_path / "a.wav")
