"""Audio v2 second pass: grouped ridge moments, weight powers, AASIST window variants, chunk pooling."""

from __future__ import annotations

import numpy as np
import pytest


def grouped_data(seed: int = 0, d: int = 24):
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(26):
        label = "fake" if g < 16 else "real"
        for _ in range(int(rng.integers(3, 30))):
            rows.append({"label": label, "family": f"fam{g}", "source_repo": f"src{g}", "kind": "tts"})
    y = np.array([1 if r["label"] == "fake" else 0 for r in rows])
    X = rng.normal(5.0, 2.0, (len(rows), d))  # far from zero: the centring matters
    X[y == 1, :3] += 0.8
    X[rng.random(X.shape) < 0.01] = np.nan
    gid = np.array([int(r["family"][3:]) for r in rows])
    return rows, y, X, gid


@pytest.mark.parametrize("power", [0.0, 0.5, 1.0])
def test_group_moments_equal_row_moments(power: float):
    from detectors.audio.v2_train import GroupMoments, RidgeMoments

    rows, y, X, gid = grouped_data()
    idx = np.flatnonzero(~np.isin(gid, [1, 7, 18, 20]))  # whole groups held out
    a = RidgeMoments(X, y, rows, power=power).fit(idx, [1.0, 100.0])
    b = GroupMoments(X, y, rows, power=power).fit(idx, [1.0, 100.0])
    Xf = np.nan_to_num(X, nan=5.0)
    for pa, pb in zip(a, b, strict=True):
        assert np.allclose(pa.score(Xf), pb.score(Xf), atol=1e-5)


def test_group_moments_fall_back_when_a_group_is_split():
    from detectors.audio.v2_train import GroupMoments, RidgeMoments

    rows, y, X, gid = grouped_data(1)
    idx = np.arange(len(y))[:-4]  # the last group loses 4 rows
    a = RidgeMoments(X, y, rows).fit(idx, [10.0])[0]
    b = GroupMoments(X, y, rows).fit(idx, [10.0])[0]
    Xf = np.nan_to_num(X, nan=5.0)
    assert np.allclose(a.score(Xf), b.score(Xf))


def test_weight_power_changes_the_fit():
    from detectors.audio.v2_train import GroupMoments

    rows, y, X, _ = grouped_data(2)
    idx = np.arange(len(y))
    Xf = np.nan_to_num(X, nan=5.0)
    s0 = GroupMoments(X, y, rows, power=0.0).fit(idx, [1.0])[0].score(Xf)
    s1 = GroupMoments(X, y, rows, power=1.0).fit(idx, [1.0])[0].score(Xf)
    assert not np.allclose(s0, s1)


def test_aasist_window_count_names_its_cache():
    from detectors.audio.aasist import MAX_WINDOWS, N_SAMPLES, AasistStream

    one, full = AasistStream(max_windows=1), AasistStream()
    assert full.name == "aasist-asvspoof19la" and one.name == "aasist-asvspoof19la-1w"
    x = np.zeros(N_SAMPLES * 6, dtype=np.float32)
    assert one.windows(x).shape == (1, N_SAMPLES)
    assert full.windows(x).shape == (MAX_WINDOWS, N_SAMPLES)
    assert one.windows(np.zeros(1000, dtype=np.float32)).shape == (1, N_SAMPLES)  # short clips repeat


def test_chunk_pooling():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "nested_variants", Path(__file__).resolve().parent.parent / "experiments" / "audio" / "nested_variants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    s = np.arange(32, dtype=float)
    assert np.allclose(mod.pool_chunks(s, "mean"), [7.5, 23.5])
    assert np.allclose(mod.pool_chunks(s, "max"), [15, 31])
    assert np.allclose(mod.pool_chunks(s, "top4"), [13.5, 29.5])


def test_fuse_and_select_prefers_the_informative_variant():
    """nested_variants.fuse_and_select: a variant built on a head that tracks the label beats one on a
    pure-noise head by the inner criterion in every fold, and its held-out scores fill each fold's test rows."""
    import importlib.util
    from pathlib import Path

    from detectors.evaluation.logo import logo_folds

    spec = importlib.util.spec_from_file_location(
        "nested_variants", Path(__file__).resolve().parent.parent / "experiments" / "audio" / "nested_variants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = [dict(label="real", source_repo=f"real{i % 6}") for i in range(180)]
    rows += [dict(label="fake", family=f"fam{i % 4}", source_repo=f"gen{i % 4}", kind="tts") for i in range(160)]
    y = np.array([r["label"] == "fake" for r in rows], dtype=int)
    rng = np.random.default_rng(0)
    heads = {"good": y + 0.5 * rng.standard_normal(len(y)), "noise": rng.standard_normal(len(y))}
    folds = logo_folds(rows, min_fakes=20, n_real_groups=3)
    variants = {"noise only": ["noise"], "good + noise": ["good", "noise"]}
    vscore, crit, weights, chosen, sel = mod.fuse_and_select(
        y, rows, folds, variants, lambda v, h, fi: heads[h][folds[fi].test], lambda v, h, fi: heads[h][folds[fi].train])
    assert chosen == ["good + noise"] * len(folds)
    assert all((np.asarray(w) >= 0).all() for w in weights["good + noise"])
    for fi, f in enumerate(folds):
        assert np.isfinite(sel[fi, f.test]).all() and np.isnan(np.delete(sel[fi], f.test)).all()
    assert np.nanmean(crit["good + noise"]) < 0.2 < np.nanmean(crit["noise only"])
    lines = mod.variant_lines({v: mod.outer_results(y, folds, vscore[v], 20) for v in variants}, crit, chosen)
    assert lines[2].startswith("| noise only |") and f"| {len(folds)} |" in lines[3]


def test_vocoder_traces_shapes_and_meaning():
    """The traces stream: fixed sizes, finite; harmonic phase is locked where noise is not; a smooth
    channel colouring moves the band levels but hardly the fine structure."""
    from scipy.signal import lfilter

    from detectors.audio.v2_streams import TRACE_BANDS, TRACE_KEYS, vocoder_traces

    sr = 16_000
    rng = np.random.default_rng(0)
    t = np.arange(3 * sr) / sr
    tone = sum(np.sin(2 * np.pi * 200 * k * t) / k for k in range(1, 6)) * 0.1 + 1e-3 * rng.standard_normal(t.size)
    noise = 0.1 * rng.standard_normal(t.size)
    f_tone, f_noise = vocoder_traces(tone), vocoder_traces(noise)
    assert sorted(f_tone) == sorted(TRACE_KEYS)
    assert f_tone["fine"].shape == (257,) and all(f_tone[k].shape == (TRACE_BANDS,) for k in TRACE_KEYS if k != "fine")
    assert all(np.isfinite(v).all() for v in f_tone.values())
    assert f_tone["if_lock"][:4].mean() > f_noise["if_lock"][:4].mean() + 0.2  # harmonics below 1 kHz
    coloured = vocoder_traces(lfilter([1.0, -0.9], [1.0], noise))  # pre-emphasis: a smooth tilt
    assert np.abs(coloured["tilt"] - f_noise["tilt"]).mean() > 3.0
    assert np.abs(coloured["fine"] - f_noise["fine"]).mean() < 0.5


def test_vocoder_traces_rejects_a_blip():
    from detectors.audio.v2_streams import vocoder_traces
    from detectors.errors import CorruptMediaError

    with pytest.raises(CorruptMediaError):
        vocoder_traces(np.zeros(1000))
