"""video-v2's nested fusion choice (``detectors.video.v2_select``) on constructed streams, and the
audio-chain rule as applied to the shipped model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detectors.training.probe import LinearProbe, balanced_weights
from detectors.video.v2_select import (
    VARIANTS,
    Variant,
    candidate_variants,
    chain_rule,
    fit_probe,
    nested_fit,
)

MODELS = Path(__file__).resolve().parents[1] / "models" / "video"


def _rows(n_fam: int = 5, per_fam: int = 8, n_src: int = 10, per_src: int = 4) -> list[dict]:
    rows = []
    for f in range(n_fam):
        rows += [{"label": "fake", "family": f"fam{f}", "kind": "talking-head", "source_repo": f"fsrc{f}"}] * per_fam
    for s in range(n_src):
        rows += [{"label": "real", "family": "", "kind": "real-video", "source_repo": f"rsrc{s}"}] * per_src
    return [dict(r) for r in rows]


def _streams(rows: list[dict], seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """'good' separates the classes in every family; 'noise' is noise; 'half' is present for half the clips."""
    rng = np.random.default_rng(seed)
    y = np.array([r["label"] == "fake" for r in rows], int)
    good = rng.normal(size=(len(y), 4)) + 1.5 * y[:, None]
    noise = rng.normal(size=(len(y), 6))
    half = rng.normal(size=(len(y), 3)) + 0.8 * y[:, None]
    half[::2] = np.nan  # absent
    return {"good": good, "noise": noise, "half": half}, y


TOY = (
    Variant("good", ("good",), "mean"),
    Variant("noise", ("noise",), "mean"),
    Variant("good+noise mean", ("good", "noise"), "mean"),
    Variant("good+noise stack", ("good", "noise"), "stack"),
    Variant("good+half stack", ("good", "half"), "stack"),
)


def test_fit_probe_uses_present_rows_only():
    rng = np.random.default_rng(1)
    rows = _rows()
    y = np.array([r["label"] == "fake" for r in rows], int)
    X = rng.normal(size=(len(y), 5)) + 0.5 * y[:, None]
    X[::3] = np.nan  # absent stream
    idx = np.arange(len(y))
    have = idx[np.isfinite(X).all(axis=1)]
    p = fit_probe(X, y, rows, idx, C=0.1)
    direct = LinearProbe(0.1).fit(X[have], y[have], balanced_weights(rows, have))
    assert p is not None and np.allclose(p.coef_, direct.coef_)
    assert fit_probe(X, y, rows, idx[:2], C=0.1) is None


def test_nested_choice_prefers_the_informative_stream_and_weights_noise_low():
    rows = _rows()
    mats, y = _streams(rows)
    nf = nested_fit(mats, y, rows, np.arange(len(y)), TOY, Cs=(0.01, 0.1))
    assert "noise" not in nf.chosen or nf.chosen == "good+noise stack"
    assert nf.inner_auc[nf.chosen] >= nf.inner_auc["good+noise mean"]
    assert nf.inner_auc["good"] > 0.9 > 0.7 > nf.inner_auc["noise"]
    assert nf.n_inner == 5  # one inner fold per family
    stacked = nf.models["good+noise stack"]
    assert stacked.weights["good"] > 3 * stacked.weights["noise"]
    # a stream absent for half the clips still gets a weight, and an absent clip adds nothing to the logit
    with_half = nf.models["good+half stack"]
    assert with_half.weights["half"] > 0
    centre = with_half.streams["half"].centre
    assert np.isfinite(centre)
    # every variant is refitted; streams a variant does not read carry weight 0
    assert set(nf.models) == {v.name for v in TOY}
    assert nf.models["good"].weights["noise"] == 0.0 and nf.models["good"].weights["good"] > 0


def test_nested_choice_never_reads_rows_outside_its_training_rows():
    rows = _rows()
    mats, y = _streams(rows)
    fam = np.array([r["family"] for r in rows])
    train = np.flatnonzero(fam != "fam0")
    before = nested_fit(mats, y, rows, train, TOY, Cs=(0.01,))
    leaked = {k: v.copy() for k, v in mats.items()}
    held = np.setdiff1d(np.arange(len(y)), train)
    leaked["noise"][held] = 10.0 * y[held, None]  # the noise stream is perfect on the held-out rows only
    after = nested_fit(leaked, y, rows, train, TOY, Cs=(0.01,))
    assert after.chosen == before.chosen
    assert after.inner_auc == pytest.approx(before.inner_auc)
    assert after.stream_C == before.stream_C


def test_eligible_limits_the_choice_but_every_variant_is_still_reported():
    rows = _rows()
    mats, y = _streams(rows)
    nf = nested_fit(mats, y, rows, np.arange(len(y)), TOY, Cs=(0.01,), eligible=["noise", "good+noise mean"])
    assert nf.chosen == "good+noise mean"
    assert "good" in nf.models and nf.inner_auc["good"] > nf.inner_auc[nf.chosen]


def test_candidate_variants_without_an_excluded_stream():
    kept = candidate_variants(("audio",))
    assert kept and all("audio" not in v.streams for v in kept)
    assert len(kept) < len(VARIANTS)
    assert any(set(v.streams) == {"face", "frame", "temporal", "lipsync", "audio"} for v in VARIANTS)


@pytest.mark.parametrize(("a", "views", "auc_rs", "expected"), [
    (0.75, {"aac32": 0.74, "band8k": 0.76}, 0.70, "drop"),
    (0.75, {"aac32": 0.60, "band8k": 0.76}, 0.70, "drop"),
    (0.75, {"aac32": 0.69, "band8k": 0.76}, 0.55, "down-weight"),
    (0.75, {"aac32": 0.72, "band8k": 0.74}, 0.55, "keep"),
    (0.75, {"aac32": 0.72}, float("nan"), "keep"),
])
def test_chain_rule(a, views, auc_rs, expected):
    assert chain_rule(a, views, auc_rs) == expected


def test_the_measured_chain_decision_is_applied_to_the_shipped_model():
    result = Path(__file__).resolve().parents[1] / "experiments" / "video" / "audio_chain.json"
    fusion = MODELS / "v2_fusion.json"
    if not (result.exists() and fusion.exists()):
        pytest.skip("experiments/video/audio_chain.json or models/video/v2_fusion.json not present")
    r = json.loads(result.read_text())
    decision = chain_rule(r["A"], {k: v for k, v in r["T1"]["mean_auc"].items() if k != "as-is"}, r["T2"]["auc_rs"])
    assert decision == r["decision"]
    model = json.loads(fusion.read_text())
    if decision == "drop":
        assert model["weights"].get("audio", 0.0) == 0.0
        assert "audio" in model["info"]["excluded_streams"]
        assert "audio" not in model["info"]["variant"]
