"""Train and measure ``audio-whisper`` (audio v2) on corpus v2: ``deepfake-train audio``.

Everything runs on cached stream features (``detectors.training.streams.extract``): the Whisper
base layer statistics, the v1 spectral statistics and the container metadata, extracted once per
file and view. Heads are fitted on them in minutes:

1. Leave-one-family-out (the core's ``logo_folds``, min_fakes 20): per fold every head is fitted
   on the training families (C chosen by family-grouped inner folds of those rows only), their
   non-negative fusion on inner out-of-fold scores, and the held-out family + held-out real
   sources are scored as-is and re-encoded (16 kHz WAV, 32 kbit/s MP3). The metadata baseline
   and the v1 feature stream run under the same protocol.
2. The final model: heads on all rows, fusion weights from family-grouped out-of-fold scores,
   Platt calibration and the two operating points fitted on those out-of-fold (held-out family)
   scores, saved with the weights.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from detectors.audio.v2_data import DEFAULT_CAP, VIEW_SUBCAP, labels, load_rows
from detectors.audio.v2_model import AttentiveHead, AudioV2Model, Head, feature_matrix
from detectors.audio.v2_streams import SEQ_CHUNKS
from detectors.evaluation import logo
from detectors.training.probe import (
    LinearProbe,
    balanced_weights,
    choose_C,
    fit_nonnegative_fusion,
    inner_folds,
    ridge_path,
)

log = logging.getLogger(__name__)

LAYER_KEYS = {f"l{i}": [f"l{i}_mean", f"l{i}_std"] for i in range(7)}


@dataclass
class HeadSpec:
    """A head to fit: which stream and features, linear (C fixed or chosen) or attentive."""

    name: str
    stream: str
    keys: list[str]
    kind: str = "linear"  # "linear": weighted ridge (alpha); "logistic": the core's LinearProbe (C); "attentive"
    C: float | None = None
    alpha: float | None = None  # None: chosen on family-grouped inner folds of each fold's training rows
    Cs: tuple[float, ...] = (0.001, 0.01, 0.1)
    epochs: int = 15
    power: float = 0.5  # sample weights: a fake family's / real source's rows weigh n**-power (class-balanced)

    def matrix(self, feats: Mapping[str, Mapping[str, np.ndarray]]) -> np.ndarray:
        return feature_matrix(feats[self.stream], self.keys)


@dataclass
class Config:
    """The default recipe (chosen by the LOGO probes in experiments/audio/, see the model card)."""

    heads: list[HeadSpec] = field(default_factory=lambda: [
        HeadSpec("whisper-l1", "whisper", LAYER_KEYS["l1"]),
        HeadSpec("whisper-l2", "whisper", LAYER_KEYS["l2"], kind="logistic", C=0.01),
        HeadSpec("whisper-l3", "whisper", LAYER_KEYS["l3"]),
    ])  # one head per layer (mean + std pooled; ridge, logistic on state 2: the variant the nested selection
    # rule picks on all rows, experiments/audio/nested_variants.py), their non-negative fusion = a learned layer weighting
    cap: int = DEFAULT_CAP
    train_views: tuple[str, ...] = ("as-is",)
    eval_views: tuple[str, ...] = ("as-is", "wav16k", "mp3-32k")


STREAM_FACTORIES = {
    "whisper-all": lambda: __import__("detectors.audio.v2_streams", fromlist=["WhisperLayers"]).WhisperLayers(),
    "v1": lambda: __import__("detectors.audio.v2_streams", fromlist=["SpectralStats"]).SpectralStats(),
    "whisper-l3": lambda: __import__("detectors.audio.v2_streams", fromlist=["WhisperLayers"]).WhisperLayers(upto=3),
    "meta": lambda: __import__("detectors.audio.v2_streams", fromlist=["AudioMetadata"]).AudioMetadata(),
    "traces": lambda: __import__("detectors.audio.v2_streams", fromlist=["VocoderTraces"]).VocoderTraces(),
    "aasist": lambda: __import__("detectors.audio.aasist", fromlist=["AasistStream"]).AasistStream(),
    "aasist-1w": lambda: __import__("detectors.audio.aasist", fromlist=["AasistStream"]).AasistStream(max_windows=1),
}


WHISPER_KEYS = [k for i in range(4) for k in LAYER_KEYS[f"l{i}"]] + ["l2_seq"]


def whisper_features(paths: Sequence[str], view: str = "as-is", seed: int = 0) -> dict[str, np.ndarray]:
    """Whisper states 0-3 (mean, std; chunk sequence of state 2) of every file: NaN rows where it failed.

    Read from the all-layer stream's cache where a file has it, else computed by the cheaper
    states-0-3 stream (and cached under its name): both compute the same numbers for these keys.
    """
    from detectors.errors import DetectionError
    from detectors.features.cache import FeatureCache, derived_key, file_key
    from detectors.training.streams import features_of

    cache = FeatureCache()
    full = STREAM_FACTORIES["whisper-all"]()
    part = STREAM_FACTORIES["whisper-l3"]()
    got: list[dict | None] = []
    for i, p in enumerate(paths):
        key = derived_key(file_key(p), view, seed if view != "as-is" else 0)
        g = cache.get(full.name, full.version, key)
        if g is None:
            try:
                if part.encoder is None:
                    part.load()
                g = features_of(part, Path(p), view, seed, cache)
            except (DetectionError, OSError, ValueError, RuntimeError) as exc:
                log.info("whisper/%s failed on %s: %s", view, p, exc)
                g = None
        got.append(None if g is None else {k: np.asarray(g[k], dtype=np.float32) for k in WHISPER_KEYS})
        if (i + 1) % 500 == 0:
            log.info("whisper/%s: %d/%d files", view, i + 1, len(paths))
    first = next(g for g in got if g is not None)
    out = {k: np.full((len(paths), v.size), np.nan, dtype=np.float32) for k, v in first.items()}
    for i, g in enumerate(got):
        if g is not None:
            for k, v in g.items():
                out[k][i] = v
    return out


def load_features(paths: Sequence[str], streams: Sequence[str], view: str, seed: int = 0,
                  progress: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """Cached features of every file (extracted now when absent): stream -> name -> (n, d).

    ``whisper`` is states 0-3 (``whisper_features``); ``whisper-all`` every layer.
    """
    import torch

    from detectors.audio import v2_augment
    from detectors.training.streams import extract

    torch.set_num_threads(1)
    v2_augment.register()
    out = {}
    for s in streams:
        if s == "whisper":
            out[s] = whisper_features(paths, view, seed)
            continue
        st = STREAM_FACTORIES[s]()
        st.load()
        f = extract(st, list(paths), view=view, seed=seed, progress=progress, log_every=500)
        if f.errors:
            log.info("%s/%s: %d files failed (NaN rows)", s, view, len(f.errors))
        out[s] = f.names
    return out


RIDGE_ALPHAS = (10.0, 100.0, 1000.0)  # on a Gram matrix whose diagonal is about the number of rows


class RidgeMoments:
    """Per-class weighted moments of one feature matrix, computed once: a ridge fit on any set of
    whole groups (a fold's training families and real sources) then costs a subtraction of the
    left-out rows and a Cholesky solve per alpha, instead of a Gram matrix over every row.

    Gives the same probe as the core's ``probe.ridge_path`` with ``balanced_weights`` (groups are never split by
    the folds, so a row's group count is the same in every training set).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], power: float = 0.5) -> None:
        from collections import Counter

        from detectors.training.probe import family_of

        X = np.asarray(X, dtype=np.float64)
        col = np.nanmean(X, axis=0)
        self.X = np.where(np.isfinite(X), X, np.nan_to_num(col)[None, :])
        self.y = np.asarray(y, dtype=int)
        keys = [family_of(r) for r in rows]
        counts = Counter(keys)
        self.v = np.array([counts[k] ** -power for k in keys])  # power 0.5: a group's weight grows as sqrt(n)
        self.A, self.m, self.V = {}, {}, {}
        for c in (0, 1):
            Xc, vc = self.X[self.y == c], self.v[self.y == c]
            self.A[c] = (Xc * vc[:, None]).T @ Xc
            self.m[c] = vc @ Xc
            self.V[c] = float(vc.sum())
        self.s1 = self.X.sum(axis=0)
        self.s2 = (self.X**2).sum(axis=0)

    def fit(self, idx: np.ndarray, alphas: Sequence[float]) -> list[LinearProbe]:
        import scipy.linalg as sl

        out_mask = np.ones(len(self.y), dtype=bool)
        out_mask[idx] = False
        n = len(idx)
        Sxx = np.zeros_like(self.A[0])
        Sx = np.zeros(self.X.shape[1])
        Sxt = np.zeros(self.X.shape[1])
        St = 0.0
        for c, t in ((0, -1.0), (1, 1.0)):
            e = out_mask & (self.y == c)
            Xe, ve = self.X[e], self.v[e]
            A = self.A[c] - (Xe * ve[:, None]).T @ Xe
            m = self.m[c] - ve @ Xe
            V = self.V[c] - float(ve.sum())
            if V <= 0:
                raise ValueError("a ridge fit needs both classes")
            sc = (n / 2) / V
            Sxx += sc * A
            Sx += sc * m
            Sxt += sc * t * m
            St += sc * t * V
        W = float(n)
        mu = Sx / W
        tbar = St / W
        C = Sxx - W * np.outer(mu, mu)
        b = Sxt - W * mu * tbar
        Xo = self.X[out_mask]
        mean = (self.s1 - Xo.sum(axis=0)) / n
        var = (self.s2 - (Xo**2).sum(axis=0)) / n - mean**2
        sd = np.sqrt(np.maximum(var, 0.0))
        scale = np.where(sd > 1e-8, sd, 1.0)
        G = C / np.outer(scale, scale)
        bz = b / scale
        zbar = (mu - mean) / scale
        probes = []
        for a in alphas:
            coef = sl.cho_solve(sl.cho_factor(G + a * np.eye(len(G)), check_finite=False), bz, check_finite=False)
            probes.append(LinearProbe(C=1.0 / a, mean_=mean, scale_=scale, coef_=coef, intercept_=tbar - float(zbar @ coef)))
        return probes


class GroupMoments(RidgeMoments):
    """``RidgeMoments`` kept per group (fake family / real source): a fit on any set of whole
    groups sums the groups' stored moments (no pass over rows at all), so the nested validation's
    many fits cost a Cholesky solve each. Groups must not be split by the fits' row sets (the
    LOGO and inner folds never split them); a split group falls back to ``RidgeMoments``.

    Grams are stored per group in float32 over globally centred features (memory: groups x d^2).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], power: float = 0.5) -> None:
        from collections import Counter

        from detectors.training.probe import family_of

        X = np.asarray(X, dtype=np.float64)
        col = np.nanmean(X, axis=0)
        X = np.where(np.isfinite(X), X, np.nan_to_num(col)[None, :])
        self.offset = X.mean(axis=0)
        Xc = X - self.offset
        keys = [family_of(r) for r in rows]
        names = sorted(set(keys))
        self.gid = np.array([names.index(k) for k in keys])
        counts = Counter(keys)
        self.y = np.asarray(y, dtype=int)
        self.size = np.array([counts[k] for k in names], dtype=np.float64)
        self.gv = self.size**-power
        self.gy = np.array([self.y[self.gid == g][0] for g in range(len(names))])
        d = X.shape[1]
        self.G = np.empty((len(names), d * d), dtype=np.float32)  # one flattened Gram a row: a fit is one GEMV
        for g in range(len(names)):
            self.G[g] = (Xc[self.gid == g].T @ Xc[self.gid == g]).astype(np.float32).ravel()
        self.S = np.stack([Xc[self.gid == g].sum(axis=0) for g in range(len(names))])
        self.D = np.stack([(Xc[self.gid == g] ** 2).sum(axis=0) for g in range(len(names))])
        self._rows = (X, self.y, rows, power)

    def fit(self, idx: np.ndarray, alphas: Sequence[float]) -> list[LinearProbe]:
        import scipy.linalg as sl

        idx = np.asarray(idx)
        sel = np.bincount(self.gid[idx], minlength=len(self.size))
        if np.any((sel > 0) & (sel != self.size)):  # a group split: the row-wise path
            return RidgeMoments(*self._rows).fit(idx, alphas)
        keep = sel > 0
        n = float(sel.sum())
        d = self.S.shape[1]
        Sxx = np.zeros((d, d))
        Sx = np.zeros(self.S.shape[1])
        Sxt = np.zeros(self.S.shape[1])
        St = 0.0
        for c, t in ((0, -1.0), (1, 1.0)):
            g = np.flatnonzero(keep & (self.gy == c))
            V = float(self.gv[g] @ self.size[g])
            if V <= 0:
                raise ValueError("a ridge fit needs both classes")
            sc = (n / 2) / V
            wg = np.zeros(len(self.size), dtype=np.float32)
            wg[g] = self.gv[g]
            Sxx += sc * (wg @ self.G).reshape(d, d).astype(np.float64)
            m = self.gv[g] @ self.S[g]
            Sx += sc * m
            Sxt += sc * t * m
            St += sc * t * V
        mu = Sx / n
        tbar = St / n
        C = Sxx - n * np.outer(mu, mu)
        b = Sxt - n * mu * tbar
        g = np.flatnonzero(keep)
        mean_c = self.S[g].sum(axis=0) / n
        var = self.D[g].sum(axis=0) / n - mean_c**2
        sd = np.sqrt(np.maximum(var, 0.0))
        scale = np.where(sd > 1e-8, sd, 1.0)
        G = C / np.outer(scale, scale)
        bz = b / scale
        zbar = (mu - mean_c) / scale
        mean = mean_c + self.offset
        probes = []
        for a in alphas:
            coef = sl.cho_solve(sl.cho_factor(G + a * np.eye(len(G)), check_finite=False), bz, check_finite=False)
            probes.append(LinearProbe(C=1.0 / a, mean_=mean, scale_=scale, coef_=coef, intercept_=tbar - float(zbar @ coef)))
        return probes


def fit_ridge(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], idx: np.ndarray, alpha: float | None,
              alphas: Sequence[float] = RIDGE_ALPHAS, seed: int = 0,
              moments: RidgeMoments | None = None, power: float = 0.5) -> tuple[LinearProbe, float, np.ndarray]:
    """Ridge probe on rows ``idx`` (family-balanced weights); alpha by family-grouped inner folds of
    ``idx`` when not given. Also returns the inner out-of-fold scores at that alpha (for the fusion)."""
    from detectors.evaluation import metrics

    oof = np.full((len(y), len(alphas)), np.nan)
    for tr, te in inner_folds(rows, idx, 3, seed):
        if len(np.unique(y[tr])) < 2:
            continue
        path = moments.fit(tr, alphas) if moments is not None else ridge_path(X[tr], y[tr], balanced_weights(rows, tr, power), alphas)
        for j, probe in enumerate(path):
            oof[te, j] = probe.score(X[te])
    o = oof[idx]
    ok = np.isfinite(o).all(axis=1)
    if alpha is None:
        aucs = [metrics.auc(y[idx][ok], o[ok, j]) if ok.any() else np.nan for j in range(len(alphas))]
        j = int(np.nanargmax(aucs)) if np.isfinite(aucs).any() else len(alphas) // 2
        alpha = float(alphas[j])
    else:
        j = list(alphas).index(alpha) if alpha in alphas else None
    probe = (moments.fit(idx, [alpha]) if moments is not None else ridge_path(X[idx], y[idx], balanced_weights(rows, idx, power), [alpha]))[0]
    return probe, alpha, (o[:, j] if j is not None else np.full(len(idx), np.nan))


class _Fitted:
    def __init__(self, model) -> None:
        self.model = model

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.model.score(X)


def fit_head(spec: HeadSpec, X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], idx: np.ndarray,
             C: float | None = None, seed: int = 0, moments: RidgeMoments | None = None,
             ) -> tuple[_Fitted, float | None, np.ndarray | None]:
    """One head on rows ``idx`` (family-balanced weights); its regularisation chosen on inner folds
    when not given. Ridge heads also return their inner out-of-fold scores over ``idx``."""
    w = balanced_weights(rows, idx, spec.power)
    if spec.kind == "attentive":
        head = AttentiveHead(d=X.shape[1] // SEQ_CHUNKS, seed=seed).fit(X[idx], y[idx], w, epochs=spec.epochs, seed=seed)
        return _Fitted(head), None, None
    if spec.kind == "linear":
        probe, a, oof = fit_ridge(X, y, rows, idx, spec.alpha if C is None else C, seed=seed, moments=moments, power=spec.power)
        return _Fitted(probe), a, oof
    c = C if C is not None else spec.C
    if c is None:
        c, _ = choose_C(X, y, rows, idx, spec.Cs)
    return _Fitted(LinearProbe(c).fit(X[idx], y[idx], w)), c, None


def oof_scores(spec: HeadSpec, X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], idx: np.ndarray,
               C: float | None, n_splits: int = 3, seed: int = 0) -> np.ndarray:
    """Out-of-fold scores over ``idx`` with folds that keep families and real sources apart."""
    o = np.full(len(y), np.nan)
    for tr, te in inner_folds(rows, idx, n_splits, seed):
        if len(np.unique(y[tr])) < 2:
            continue
        m, _, _ = fit_head(spec, X, y, rows, tr, C, seed)
        o[te] = m.score(X[te])
    return o[idx]


def logo_eval(specs: Sequence[HeadSpec], train_feats: Mapping, y: np.ndarray, rows: Sequence[Mapping],
              folds: Sequence[logo.Fold], test_feats: Mapping[str, Mapping] | None = None,
              fuse: bool = True, n_boot: int = 200, train_extra: tuple[Mapping, np.ndarray] | None = None,
              ) -> dict[str, dict[str, list[dict]]]:
    """LOGO rows per view, per head and fused: {view: {head or 'fused': fold rows}}.

    ``test_feats``: view -> features of the same rows in that view (the held-out rows are scored
    there; heads are trained on ``train_feats``). ``train_extra``: (features, row index) of extra
    training copies (augmented views) appended to each fold's training rows of the same files.
    """
    y = np.asarray(y, dtype=int)
    test_feats = dict(test_feats or {"as-is": train_feats})
    Xs = {s.name: s.matrix(train_feats) for s in specs}
    Xt = {v: {s.name: s.matrix(f) for s in specs} for v, f in test_feats.items()}
    if train_extra is not None:
        ef, eidx = train_extra
        Xs = {s.name: np.concatenate([Xs[s.name], s.matrix(ef)]) for s in specs}
        y_all = np.concatenate([y, y[eidx]])
        rows_all = list(rows) + [rows[i] for i in eidx]
    else:
        eidx = np.zeros(0, dtype=int)
        y_all, rows_all = y, list(rows)
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {v: {n: {} for n in [*Xs, "fused"]} for v in Xt}
    chosen: dict[str, list] = {n: [] for n in Xs}
    from threadpoolctl import threadpool_limits

    limit = threadpool_limits(1)  # one BLAS thread: on the shared 2-core machine two are ten times slower
    moments = {s.name: GroupMoments(Xs[s.name], y_all, rows_all, s.power) for s in specs if s.kind == "linear"}  # augmented copies share their group
    for fi, fold in enumerate(folds):
        if len(np.unique(y[fold.test])) < 2 or len(np.unique(y[fold.train])) < 2:
            continue
        t0 = time.monotonic()
        train = fold.train
        if len(eidx):
            held = set(fold.test.tolist())
            extra = len(y) + np.flatnonzero([i not in held for i in eidx])
            train = np.concatenate([train, extra])
        oof, per = [], {}
        for s in specs:
            m, c, o = fit_head(s, Xs[s.name], y_all, rows_all, train, seed=fi, moments=moments.get(s.name))
            chosen[s.name].append(c)
            per[s.name] = {v: m.score(Xt[v][s.name][fold.test]) for v in Xt}
            if fuse and len(specs) > 1:
                oof.append(o if o is not None else oof_scores(s, Xs[s.name], y_all, rows_all, train, c, seed=fi))
        for v in Xt:
            for n in Xs:
                scores[v][n][fi] = per[n][v]
        if fuse and len(specs) > 1:
            oof_m = np.column_stack(oof)
            ok = np.isfinite(oof_m).all(axis=1)
            w, b = fit_nonnegative_fusion(oof_m[ok], y_all[train][ok])
            for v in Xt:
                scores[v]["fused"][fi] = np.column_stack([per[n][v] for n in Xs]) @ w + b
        log.info("fold %d/%d %s: %.0f s", fi + 1, len(folds), fold.name, time.monotonic() - t0)
    limit.restore_original_limits()
    out: dict[str, dict[str, list[dict]]] = {}
    for v in Xt:
        out[v] = {}
        for n, by_fold in scores[v].items():
            if not by_fold:
                continue
            fl = [f for i, f in enumerate(folds) if i in by_fold]
            lookup = {folds[i].test.tobytes(): s for i, s in by_fold.items()}
            out[v][n] = logo.run_logo(y, fl, lambda tr, te, lk=lookup: lk[te.tobytes()], n_boot=n_boot)
            for r, c in zip(out[v][n], chosen.get(n, []), strict=False):
                r["C"] = c
    return out


def summary_line(name: str, fold_rows: Sequence[Mapping]) -> str:
    s = logo.summary_row(fold_rows)
    if not s.get("n_folds"):
        return f"| {name} | – | – | – | – |"
    over = sum(r["eer"] > 0.30 for r in fold_rows)
    return (f"| {name} | {s['auc']:.3f} (min {s['min_auc']:.3f}) | {100 * s['eer']:.1f} % | "
            f"{100 * s['max_eer']:.1f} % | {over} of {s['n_folds']} |")


def summary_table(results: Mapping[str, Mapping[str, Sequence[Mapping]]]) -> str:
    lines = ["| stream / view | mean AUC (worst fold) | mean EER | worst-fold EER | folds over 30 % EER |",
             "|---|---|---|---|---|"]
    for view, by in results.items():
        for name, fr in by.items():
            lines.append(summary_line(f"{name} / {view}", fr))
    return "\n".join(lines)


def fit_final(specs: Sequence[HeadSpec], feats: Mapping, y: np.ndarray, rows: Sequence[Mapping],
              n_splits: int = 5, seed: int = 0) -> tuple[AudioV2Model, dict]:
    """Heads on all rows; fusion, Platt calibration and operating points on grouped out-of-fold scores."""
    from detectors.calibration import fit_operating_points, fit_platt
    from detectors.evaluation import metrics

    y = np.asarray(y, dtype=int)
    idx = np.arange(len(y))
    heads, oof, Cs = [], [], {}
    for s in specs:
        X = s.matrix(feats)
        m, c, o = fit_head(s, X, y, rows, idx, seed=seed)
        Cs[s.name] = c
        if s.kind in ("linear", "logistic"):
            heads.append(Head(s.name, "linear", list(s.keys), probe=m.model))
        else:
            heads.append(Head(s.name, "attentive", list(s.keys), attentive=m.model))
        oof.append(o if o is not None else oof_scores(s, X, y, rows, idx, c, n_splits, seed))
    oof_m = np.column_stack(oof)
    ok = np.isfinite(oof_m).all(axis=1)
    if len(specs) > 1:
        w, b = fit_nonnegative_fusion(oof_m[ok], y[ok])
    else:
        w, b = np.ones(1), 0.0
    fused = oof_m[ok] @ w + b
    fitted_on = f"out-of-fold scores of {int(ok.sum())} corpus v2 audio files, folds grouped by family/real source"
    cal = fit_platt(fused, y[ok], fitted_on=fitted_on)
    p = cal.probability(fused)
    ops = fit_operating_points(p, y[ok], fitted_on=fitted_on)
    info = {
        "head_streams": {s.name: s.stream for s in specs},
        "heads": [asdict(s) for s in specs],
        "C": Cs,
        "oof": {"n": int(ok.sum()), "auc": metrics.auc(y[ok], fused), "eer": metrics.eer(y[ok], fused)[0]},
    }
    model = AudioV2Model(heads, {s.name: float(wi) for s, wi in zip(specs, w, strict=True)}, float(b), cal, ops, info)
    return model, info


def view_features(paths: Sequence[str], streams: Sequence[str], view: str) -> dict[str, dict[str, np.ndarray]]:
    """Features of a view (kept as a name for the experiment scripts)."""
    return load_features(paths, streams, view)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="deepfake-train audio", description=__doc__.split("\n\n")[0])
    ap.add_argument("--v1", action="store_true", help="train the v1 LCNN-LFCC detector (audio-default) instead")
    ap.add_argument("--out", type=Path, default=None, help="model folder (default: MODEL_PATH/audio/whisper)")
    ap.add_argument("--cap", type=int, default=DEFAULT_CAP, help="files per fake family / real source")
    ap.add_argument("--subcap", type=int, default=VIEW_SUBCAP, help="files per group for the re-encoded views' tables")
    ap.add_argument("--no-eval", action="store_true", help="skip the leave-one-family-out tables")
    ap.add_argument("--eval-views", nargs="+", default=list(Config().eval_views))
    ap.add_argument("--report", type=Path, default=None, help="also write the LOGO tables (JSON) here")
    ap.add_argument("--seed", type=int, default=0)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from detectors.settings import get_settings

    start = time.monotonic()
    cfg = Config(cap=args.cap)
    rows = load_rows(cap=cfg.cap, seed=args.seed)
    y = labels(rows)
    paths = [r["path"] for r in rows]
    streams = sorted({s.stream for s in cfg.heads})
    log.info("%d files (%d fake); streams %s", len(rows), int(y.sum()), streams)
    feats = load_features(paths, sorted(set(streams) | {"meta"}), "as-is")
    out = args.out or Path(get_settings().model_path) / "audio" / "whisper"
    report: dict = {"rows": len(rows), "fakes": int(y.sum()), "cap": cfg.cap, "config": asdict(cfg)}
    if not args.no_eval:
        meta = [HeadSpec("metadata", "meta", ["meta"])]
        folds = logo.logo_folds(rows, min_fakes=20)
        report["folds"] = len(folds)
        report["as-is"] = logo_eval([*cfg.heads], feats, y, rows, folds)
        report["as-is-metadata"] = logo_eval(meta, feats, y, rows, folds, fuse=False)
        log.info("LOGO (as-is, %d files) in %.0f s\n%s\n%s", len(rows), time.monotonic() - start,
                 summary_table(report["as-is"]), summary_table(report["as-is-metadata"]))
        sub = load_rows(cap=cfg.cap, seed=args.seed, subcap=args.subcap)
        ys = labels(sub)
        sp = [r["path"] for r in sub]
        sfolds = logo.logo_folds(sub, min_fakes=20)
        base = [*meta, HeadSpec("v1-spectral-stats", "v1", ["stats"])]
        sstreams = sorted(set(streams) | {"meta", "v1"})
        views = {v: view_features(sp, sstreams, v) for v in args.eval_views}
        report["views"] = {"rows": len(sub), "fakes": int(ys.sum()), "subcap": args.subcap, "folds": len(sfolds),
                           "default": logo_eval(cfg.heads, views["as-is"], ys, sub, sfolds, views),
                           "baselines": logo_eval(base, views["as-is"], ys, sub, sfolds, views, fuse=False)}
        log.info("LOGO (views, %d files) in %.0f s\n%s\n%s", len(sub), time.monotonic() - start,
                 summary_table(report["views"]["default"]), summary_table(report["views"]["baselines"]))
    model, info = fit_final(cfg.heads, feats, y, rows, n_splits=3, seed=args.seed)  # 3 folds, as in the nested runs
    model.info["trained"] = {"rows": len(rows), "fakes": int(y.sum()), "cap": cfg.cap, "seed": args.seed,
                             "seconds": round(time.monotonic() - start, 1)}
    model.save(out)
    report["final"] = model.info
    report["operating_points"] = model.operating_points.to_dict()
    (out / "training.json").write_text(json.dumps(report, indent=1, default=float))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=1, default=float))
    log.info("saved %s in %.0f s (out-of-fold AUC %.3f, EER %.1f %%)", out, time.monotonic() - start,
             info["oof"]["auc"], 100 * info["oof"]["eer"])
    return 0
