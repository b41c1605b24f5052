"""Features, artifacts, self-made fakes and augmentation on constructed signals."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.audio.artifacts import find_artifacts, measure
from detectors.audio.features import clip_features, compute_spectra
from detectors.audio.segmentation import Span, speech_mask
from tests.media_factory import tone

SR = 16_000


def _speechy(seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = tone(seconds, SR, freq=130.0, seed=seed)
    return (x + 0.003 * rng.standard_normal(x.size)).astype(np.float32)  # broadband floor like a room


def _artifact_types(x: np.ndarray, source_rate: int, spans: list[Span] | None = None) -> set[str]:
    mask = speech_mask(spans, x.size, SR) if spans else None
    sp = compute_spectra(x, SR, mask)
    feats = clip_features(x, sp)
    m = measure(sp, source_rate, feats["jitter"], feats["phase_irregularity"])
    return {a.type for a in find_artifacts(m)}


def test_guide_and_antispoofing_features_are_all_there_and_finite():
    x = _speechy()
    feats = clip_features(x, compute_spectra(x, SR, None))
    for key in (
        "mfcc0_mean",
        "centroid_mean",
        "rolloff_mean",
        "zcr_mean",
        "chroma_entropy_mean",
        "contrast0_mean",
        "lfcc0_std",
        "hf_4k_8k_db",
        "phase_irregularity",
        "jitter",
    ):
        assert key in feats
    assert all(np.isfinite(v) for v in feats.values())


def test_band_limit_fires_only_when_the_file_could_carry_more():
    from scipy.signal import butter, sosfiltfilt

    x = _speechy()
    sos = butter(12, 4000, btype="low", fs=SR, output="sos")
    limited = sosfiltfilt(sos, x).astype(np.float32)
    assert "Band-limited spectrum" in _artifact_types(limited, source_rate=22_050)
    assert "Band-limited spectrum" not in _artifact_types(x, source_rate=22_050)
    assert "Band-limited spectrum" not in _artifact_types(limited, source_rate=8_000)  # an 8 kHz file cannot


def test_digitally_silent_pauses_are_an_artifact_and_room_noise_is_not():
    rng = np.random.default_rng(1)
    burst = tone(1.5, SR, freq=140.0)
    spans = [Span(0.0, 1.5), Span(2.5, 4.0), Span(5.0, 6.5)]
    silent = np.concatenate([burst, np.zeros(SR, np.float32), burst, np.zeros(SR, np.float32), burst])
    assert "No room noise in pauses" in _artifact_types(silent, 16_000, spans)
    roomy = silent + (0.003 * rng.standard_normal(silent.size)).astype(np.float32)
    assert "No room noise in pauses" not in _artifact_types(roomy, 16_000, spans)


@pytest.mark.parametrize("vocoder", ["griffin_lim", "griffin_lim_mel", "world", "lpc"])
def test_self_made_fakes_keep_length_and_loudness(vocoder):
    from detectors.audio.synth import resynthesise

    x = _speechy(2.0)
    y = resynthesise(x, vocoder, np.random.default_rng(0))
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=0.05)
    assert not np.allclose(x, y, atol=1e-3)  # it really was re-synthesised


class OneCodec:
    """A stand-in generator that always picks codec ``index`` (and random bitrates/rates)."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.rng = np.random.default_rng(index)

    def integers(self, n: int) -> int:
        return self.index

    def choice(self, options):
        return self.rng.choice(options)


def test_augmentation_keeps_length_for_every_codec():
    from detectors.audio import augment as aug

    x = _speechy(2.0)
    for i in range(len(aug.CODECS)):
        y = aug.codec_round_trip(x, OneCodec(i))
        assert y.shape == x.shape and float(np.sqrt(np.mean(y**2))) > 0.3 * float(np.sqrt(np.mean(x**2)))
    y = aug.augment(x, np.random.default_rng(0), band_limited_source=False)
    assert y.shape == x.shape and np.abs(y).max() <= 1.0
