"""The shared training core: feature cache, leave-one-family-out folds, probes, fusion, operating points."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.calibration import OperatingPoints, fit_operating_points
from detectors.evaluation.logo import fold_families, format_logo_table, logo_folds, summary_row
from detectors.features.cache import FeatureCache, derived_key, file_key
from detectors.training import streams
from detectors.training.probe import (
    LinearProbe,
    balanced_weights,
    choose_C,
    fit_nonnegative_fusion,
    logo_table,
)


def _rows(n_real=240, n_fake=240, families=4, tiny=6):
    rows = [dict(label="real", source_repo=f"real{i % 6}", kind="real") for i in range(n_real)]
    rows += [dict(label="fake", family=f"fam{i % families}", source_repo=f"gen{i % families}", kind="tts")
             for i in range(n_fake)]
    rows += [dict(label="fake", family="tiny", source_repo="gen-tiny", kind="tts") for _ in range(tiny)]
    return rows


def test_cache_roundtrip_and_keys(tmp_path):
    cache = FeatureCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"a": np.arange(3, dtype=np.float32), "b": np.ones(2)}

    first = cache.get_or_compute("stream", "v1", "ab" * 32, compute)
    second = cache.get_or_compute("stream", "v1", "ab" * 32, compute)
    assert len(calls) == 1 and cache.hits == 1 and cache.misses == 1
    np.testing.assert_array_equal(first["a"], second["a"])
    assert cache.get("stream", "v2", "ab" * 32) is None  # a new version invalidates
    cache.put("stream", "v1", "cd" * 32, np.zeros(4))
    assert isinstance(cache.get("stream", "v1", "cd" * 32), np.ndarray)
    with pytest.raises(ValueError):
        cache.path("../etc", "v1", "ab")
    f = tmp_path / "x.bin"
    f.write_bytes(b"hello")
    assert file_key(f) == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert derived_key("k", "jpeg90", 1) != derived_key("k", "jpeg90", 2)
    assert not list(tmp_path.rglob("*.tmp"))


def test_logo_folds_hold_out_family_and_real_sources():
    rows = _rows()
    folds = logo_folds(rows, min_fakes=20, n_real_groups=3)
    assert [f.name for f in folds] == ["fam0", "fam1", "fam2", "fam3", "other:tts"]
    assert fold_families(rows)["other:tts"] == ("tiny",)
    for f in folds:
        assert not set(f.train) & set(f.test)
        test_fams = {rows[i]["family"] for i in f.test if rows[i]["label"] == "fake"}
        train_fams = {rows[i]["family"] for i in f.train if rows[i]["label"] == "fake"}
        assert test_fams == set(f.families) and not test_fams & train_fams
        test_real = {rows[i]["source_repo"] for i in f.test if rows[i]["label"] == "real"}
        train_real = {rows[i]["source_repo"] for i in f.train if rows[i]["label"] == "real"}
        assert test_real and not test_real & train_real


def test_refold_keeps_the_held_out_groups_on_other_rows():
    """``logo.refold``: folds made on a small draw, applied to a larger one: the same families and real
    sources held out, only ``test_mask`` rows tested, no held-out group on the training side."""
    from detectors.evaluation.logo import refold, union_draws

    big = _rows(n_real=480, n_fake=480)
    rng = np.random.default_rng(0)
    small_idx = np.flatnonzero(rng.random(len(big)) < 0.5)
    small = [big[i] for i in small_idx]
    test_mask = np.zeros(len(big), bool)
    test_mask[small_idx] = True
    train_mask = rng.random(len(big)) < 0.8
    folds = logo_folds(small, min_fakes=20, n_real_groups=3)
    for f, r in zip(folds, refold(folds, big, train_mask, test_mask), strict=True):
        assert (r.name, r.families, r.test_real_sources) == (f.name, f.families, f.test_real_sources)
        assert sorted(r.test) == sorted(small_idx[f.test])  # exactly the small draw's held-out rows
        assert train_mask[r.train].all() and not set(r.train) & set(r.test)
        for i in r.train:
            row = big[i]
            assert row.get("family") not in f.families and (row["label"] == "fake" or row["source_repo"] not in f.test_real_sources)
    keyed = [dict(r, path=str(i)) for i, r in enumerate(big)]
    rows, in_a, in_b = union_draws(keyed[:100], keyed[50:120])
    assert [r["path"] for r in rows] == [str(i) for i in range(120)]
    assert in_a.sum() == 100 and in_b.sum() == 70 and (in_a & in_b).sum() == 50


def test_probe_logo_table_and_fusion_beat_chance_on_separable_streams():
    rng = np.random.default_rng(0)
    rows = _rows()
    y = np.array([r["label"] == "fake" for r in rows], dtype=int)
    a = rng.normal(size=(len(rows), 8))
    a[:, 0] += 1.5 * y
    b = rng.normal(size=(len(rows), 8))
    b[:, 1] += 1.5 * y
    noise = rng.normal(size=(len(rows), 8))
    folds = logo_folds(rows)
    table = logo_table({"a": a, "b": b, "noise": noise}, y, rows, folds, n_boot=50)
    mean = {k: summary_row(v)["auc"] for k, v in table.items()}
    assert mean["a"] > 0.8 and mean["b"] > 0.8 and 0.3 < mean["noise"] < 0.7
    assert mean["fused"] > max(mean["a"], mean["b"]) - 0.02
    assert "mean of" in format_logo_table(table["fused"])


def test_choose_C_weights_and_nonnegative_fusion():
    rng = np.random.default_rng(1)
    rows = _rows()
    y = np.array([r["label"] == "fake" for r in rows], dtype=int)
    X = rng.normal(size=(len(rows), 5)) + y[:, None] * 0.8
    idx = np.arange(len(rows))
    C, scores = choose_C(X, y, rows, idx, Cs=(0.01, 1.0))
    assert C in (0.01, 1.0) and set(scores) == {0.01, 1.0}
    w = balanced_weights(rows, idx)
    assert np.isclose(w[y == 0].sum(), w[y == 1].sum())
    assert w[-1] > w[0] * 0  # the tiny family is not drowned
    probe = LinearProbe(0.1).fit(X, y)
    again = LinearProbe.from_dict(probe.to_dict())
    np.testing.assert_allclose(probe.score(X), again.score(X))
    S = np.column_stack([X[:, 0], -X[:, 1]])  # the second stream is anti-correlated: weight 0
    weights, _ = fit_nonnegative_fusion(S, y)
    assert weights[0] > 0 and weights[1] == pytest.approx(0.0, abs=1e-6)


def test_operating_points_policy():
    rng = np.random.default_rng(2)
    y = np.r_[np.zeros(400), np.ones(400)].astype(int)
    p = np.r_[rng.beta(2, 5, 400), rng.beta(5, 2, 400)]
    ops = fit_operating_points(p, y)
    assert ops.real_below <= 0.5 <= ops.fake_above
    assert ops.measured["real_called_fake"] <= 0.05 and ops.measured["fake_called_real"] <= 0.05
    assert ops.measured["real_inconclusive"] > 0
    assert ops.verdict(0.99) == "fake" and ops.verdict(0.01) == "real" and ops.verdict(0.5) == "inconclusive"
    # a weak model still never says "fake" under 50 % or "real" over 50 %
    weak = fit_operating_points(rng.uniform(0.3, 0.45, 800), y)
    assert weak.fake_above >= 0.5 and weak.real_below <= 0.5
    assert OperatingPoints.from_dict(ops.to_dict()) == ops
    with pytest.raises(ValueError):
        fit_operating_points(p[:10], np.zeros(10))


class _MeanStream:
    name, version, modality = "mean-test", "1", "image"

    def load(self) -> None:
        pass

    def features(self, path):
        from detectors.media import load_image

        rgb = load_image(path, 10**8).astype(np.float32)
        return {"mean": rgb.mean(axis=(0, 1)), "std": rgb.std(axis=(0, 1))}


def test_extract_caches_views_and_keeps_failures(tmp_path):
    from PIL import Image

    paths = []
    for i in range(3):
        p = tmp_path / f"im{i}.png"
        Image.fromarray(np.full((32, 32, 3), 40 * i, dtype=np.uint8)).save(p)
        paths.append(p)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    cache = FeatureCache(tmp_path / "cache")
    first = streams.extract(_MeanStream(), paths + [bad], cache=cache, progress=False)
    assert first.ok.tolist() == [True, True, True, False] and 3 in first.errors
    assert np.isnan(first["mean"][3]).all() and first.concat(["mean", "std"]).shape == (4, 6)
    again = streams.extract(_MeanStream(), paths, cache=cache, progress=False)
    assert again.cache_hits == 3
    jpeg = streams.extract(_MeanStream(), paths, view="jpeg90", cache=cache, progress=False)
    assert jpeg.ok.all() and jpeg.cache_hits == 0
    assert "jpeg90" in streams.views("image") and "mp3-32k" in streams.views("audio")


def test_linear_probe_on_wide_data_matches_a_full_space_fit():
    """More features than rows: the row-space path gives the full-space logistic regression's optimum."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 30)
    X = rng.normal(size=(60, 200)) * rng.uniform(0.5, 3, 200) + 0.3 * y[:, None]
    w = rng.uniform(0.5, 2.0, 60)
    probe = LinearProbe(0.01).fit(X, y, w)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    full = LogisticRegression(C=0.01, max_iter=5000, tol=1e-8).fit(Z, y, sample_weight=w)
    Xt = rng.normal(size=(30, 200))
    ref = ((Xt - X.mean(axis=0)) / X.std(axis=0)) @ full.coef_[0] + full.intercept_[0]
    assert np.allclose(probe.score(Xt), ref, atol=1e-3 * np.std(ref) + 1e-6)
    assert np.allclose(probe.coef_, full.coef_[0], atol=1e-3 * np.abs(full.coef_).max())
