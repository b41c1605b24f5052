"""The default audio detector: a checkpoint the test saves itself loads through the real code path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from detectors import base
from detectors.audio.fusion import COMPONENTS, Fusion, LinearModel, load_feature_model, save_feature_model
from detectors.audio.model import LCNN, LCNNConfig, load_lcnn, parameter_count, save_lcnn
from detectors.media import make_media_ref
from tests.media_factory import tone, write_audio, write_video

SR = 16_000


def test_lcnn_is_small_and_takes_any_length():
    model = LCNN(LCNNConfig(width=16)).eval()
    assert parameter_count(model) < 85_000  # smaller than AASIST-L
    with torch.no_grad():
        for n in (SR, int(2.5 * SR), 4 * SR):
            assert model(torch.randn(3, n)).shape == (3,)


def test_lcnn_round_trips_through_disk(tmp_path):
    torch.manual_seed(0)
    model = LCNN(LCNNConfig(width=8)).eval()
    save_lcnn(model, tmp_path)
    loaded = load_lcnn(tmp_path)
    x = torch.randn(2, 2 * SR)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=1e-6)


def _write_checkpoint(directory, feature_names):
    """A tiny untrained model + feature model + fusion, in the layout training writes."""
    torch.manual_seed(0)
    save_lcnn(LCNN(LCNNConfig(width=4)).eval(), directory)
    k = len(feature_names)
    save_feature_model(LinearModel(feature_names, [0.0] * k, [1.0] * k, [0.01] * k, 0.0), directory)
    fusion = Fusion(
        model=LinearModel(list(COMPONENTS), [0.0] * 4, [1.0] * 4, [1.0, 0.5, 0.3, 0.2], -0.1),
        threshold=0.6,
        window_a=1.0,
        window_b=0.0,
        window_threshold=0.55,
        fitted_on="test fixture",
    )
    fusion.save(directory)


@pytest.fixture(scope="module")
def feature_names():
    from detectors.audio.features import clip_features, compute_spectra

    x = tone(2.0, SR)
    return list(clip_features(x, compute_spectra(x, SR, None)))


@pytest.fixture(scope="module")
def detector(tmp_path_factory, feature_names):
    from detectors.settings import Settings

    d = tmp_path_factory.mktemp("audio_model")
    _write_checkpoint(d, feature_names)
    det = base.create("audio-default", settings=Settings(environment="test"), model_dir=d)
    det.load()
    return det


def test_registered():
    assert {"audio-default", "audio-hf"} <= set(base.available())


def test_saved_checkpoint_loads_and_analyses(detector, tmp_path):
    assert detector.model is not None and detector.fusion is not None and detector.missing is None
    assert load_feature_model(detector.model_dir).names == detector.feature_model.names
    signal = np.concatenate([tone(5.0, 22_050), np.zeros(22_050, np.float32), tone(4.0, 22_050, freq=180.0)])
    path = write_audio(tmp_path / "speech.mp3", signal=signal, sample_rate=22_050)
    stages = []
    result = detector.analyze(make_media_ref(path), progress=lambda s, f, e: stages.append(s))
    assert {"audio_decode", "audio_features"} <= set(stages)
    assert result.media_type == "audio" and result.verdict in ("fake", "real")
    assert result.sample_rate == 22_050  # the source file's rate
    assert abs(result.duration - 10.0) < 0.2
    assert 0.0 <= result.fake_probability <= 1.0 and result.threshold == 0.6
    assert result.segments and all(0 <= s.start < s.end <= result.duration + 0.01 for s in result.segments)
    assert result.inconsistency_count >= 0 and result.artifact_count == len(
        [a for a in result.anomalies if a.type not in ("Voice inconsistency", "Synthetic speech segment")]
    )
    names = {c.name for c in result.components}
    assert {"lcnn-lfcc", "spectral-features", "synthesis-artifacts", "voice-consistency"} <= names
    body = result.to_json_dict()
    for key in (
        "duration",
        "sampleRate",
        "inconsistencyCount",
        "artifactCount",
        "isDeepfake",
        "confidence",
        "modelUsed",
    ):
        assert key in body
    json.dumps(body)


def test_infer_is_batched_and_order_preserving(detector):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (4 * SR, 2 * SR, 4 * SR)]
    together = detector.infer(xs)
    alone = [detector.infer([x])[0] for x in xs]
    assert np.allclose(together, alone, atol=1e-4)


def test_silence_and_too_little_speech_are_inconclusive(detector, tmp_path):
    silent = write_audio(tmp_path / "silence.wav", signal=np.zeros(3 * SR, np.float32), sample_rate=SR)
    r = detector.analyze(make_media_ref(silent))
    assert r.verdict == "inconclusive" and "no speech" in r.verdict_reason and r.confidence == 0.0
    blip = np.concatenate([np.zeros(SR, np.float32), tone(0.4, SR), np.zeros(SR, np.float32)])
    r = detector.analyze(make_media_ref(write_audio(tmp_path / "blip.wav", signal=blip, sample_rate=SR)))
    assert r.verdict == "inconclusive"


@pytest.mark.parametrize("seconds", [0.01, 0.05, 0.3])
def test_tiny_clips_are_inconclusive_not_a_crash(detector, tmp_path, seconds):
    path = write_audio(tmp_path / "tiny.wav", signal=tone(seconds, SR), sample_rate=SR)
    r = detector.analyze(make_media_ref(path))
    assert r.verdict == "inconclusive" and r.artifact_count >= 0


def test_too_low_a_sample_rate_is_inconclusive(detector, tmp_path):
    path = write_audio(tmp_path / "phone.wav", signal=tone(3.0, 6_000), sample_rate=6_000)
    r = detector.analyze(make_media_ref(path))
    assert r.verdict == "inconclusive" and "sample rate" in r.verdict_reason and r.sample_rate == 6_000


def test_a_videos_sound_track_goes_through_preprocess_clip(detector, tmp_path):
    from detectors.media import load_audio

    path = write_video(tmp_path / "talk.mp4", seconds=3.0)
    ref = make_media_ref(path)
    clip = load_audio(path, 60)
    prepared = detector.preprocess_clip(clip, ref)
    result = detector.postprocess(
        prepared, detector.infer(prepared.model_inputs) if prepared.model_inputs else []
    )
    assert result.media_type == "audio" and result.sample_rate == 22_050


def test_missing_weights_are_said_not_guessed(tmp_path):
    from detectors.settings import Settings

    det = base.create("audio-default", settings=Settings(environment="test"), model_dir=tmp_path / "nothing")
    det.load()
    assert det.missing and "deepfake-train audio" in det.missing
    path = write_audio(tmp_path / "speech.wav", signal=tone(3.0, SR), sample_rate=SR)
    r = det.analyze(make_media_ref(path))
    assert r.verdict == "inconclusive" and "no trained audio model" in r.verdict_reason
    assert r.components and r.components[0].used is False
