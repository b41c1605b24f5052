"""``audio-hf``: a tiny Wav2Vec2 classifier the test saves itself, loaded through the real code path."""

from __future__ import annotations

import pytest

from detectors import base
from detectors.calibration import Calibration
from detectors.errors import ModelNotReadyError
from detectors.media import make_media_ref
from tests.media_factory import tone, write_audio


def _tiny_wav2vec2(directory, id2label):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    cfg = Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=8,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        do_stable_layer_norm=True,
        feat_extract_norm="layer",
    )
    Wav2Vec2ForSequenceClassification(cfg).save_pretrained(directory)
    Wav2Vec2FeatureExtractor(sampling_rate=16_000, return_attention_mask=True).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return _tiny_wav2vec2(tmp_path_factory.mktemp("w2v"), {0: "bonafide", 1: "spoof"})


def _detector(directory):
    from detectors.settings import Settings

    det = base.create("audio-hf", settings=Settings(environment="test", audio_model=str(directory)))
    det.load()
    return det


def test_uncalibrated_checkpoint_says_so(checkpoint, tmp_path):
    det = _detector(checkpoint)
    assert det.fake_idx == [1] and det.calibration is None
    path = write_audio(tmp_path / "speech.flac", signal=tone(5.0, 16_000), sample_rate=16_000)
    r = det.analyze(make_media_ref(path))
    assert r.verdict in ("fake", "real") and "uncalibrated" in r.verdict_reason
    assert "uncalibrated" in r.model_used and r.segments
    assert r.sample_rate == 16_000 and abs(r.duration - 5.0) < 0.1


def test_calibration_beside_the_checkpoint_is_used(tmp_path):
    d = _tiny_wav2vec2(tmp_path / "cal", {0: "real", 1: "fake"})
    Calibration(a=0.0, b=3.0, threshold=0.9, fitted_on="test").save(d / "calibration.json")
    det = _detector(d)
    path = write_audio(tmp_path / "speech.wav", signal=tone(3.0, 16_000), sample_rate=16_000)
    r = det.analyze(make_media_ref(path))
    # a = 0, b = 3 fixes p = sigmoid(3) = 0.9526 whatever the model says; threshold 0.9 -> fake
    assert r.fake_probability == pytest.approx(0.9526, abs=1e-3)
    assert r.verdict == "fake" and r.threshold == 0.9 and r.verdict_reason is None


def test_label_mapping_comes_from_the_config():
    from detectors.audio.hf import fake_label_indices

    assert fake_label_indices({0: "bonafide", 1: "spoof"}) == [1]
    assert fake_label_indices({0: "fake", 1: "real"}) == [0]
    assert fake_label_indices({0: "human", 1: "tts", 2: "vc"}) == [1, 2]
    with pytest.raises(ModelNotReadyError):
        fake_label_indices({0: "LABEL_0", 1: "LABEL_1"})


def test_no_model_configured_fails_loudly():
    from detectors.settings import Settings

    det = base.create("audio-hf", settings=Settings(environment="test", audio_model=None))
    with pytest.raises(ModelNotReadyError):
        det.load()
