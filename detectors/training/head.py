"""The probe-based head every recipe fits: one linear probe per stream and their non-negative fusion.

``fit_head`` is the one place that fits it, on given training rows: per stream, C by
``choose_C`` on family-grouped inner folds of those rows, the probe on all of them; the fusion's
non-negative weights on inner out-of-fold probe scores (so the fusion never sees a probe score of
a row the probe trained on). The final model (train sources of the split) and every
leave-one-family-out fold use it, so the LOGO table measures exactly the head that ships.
``logo_scores`` runs it over folds and keeps the held-out scores (for tables and plots).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.evaluation import logo
from detectors.training.probe import (
    DEFAULT_CS,
    LinearProbe,
    balanced_weights,
    choose_C,
    fit_nonnegative_fusion,
    inner_folds,
)

FUSED = "fused"


@dataclass
class FittedHead:
    """Probes per stream key, and the fusion ``sigmoid(sum_k w_k s_k + b)`` of their scores."""

    probes: dict[str, LinearProbe]
    weights: dict[str, float]
    bias: float = 0.0
    C_scores: dict[str, dict] = field(default_factory=dict)

    def stream_scores(self, X: Mapping[str, np.ndarray], idx: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Each probe's decision values on rows ``idx`` (all rows when None)."""
        return {k: p.score(X[k] if idx is None else X[k][idx]) for k, p in self.probes.items()}

    def fused(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        """The fusion's log-odds from per-stream scores."""
        return sum(self.weights[k] * scores[k] for k in self.probes) + self.bias

    def score(self, X: Mapping[str, np.ndarray], idx: np.ndarray | None = None) -> np.ndarray:
        return self.fused(self.stream_scores(X, idx))

    def to_dict(self) -> dict:
        return {"probes": {k: p.to_dict() for k, p in self.probes.items()}, "weights": self.weights,
                "bias": self.bias, "C_scores": {k: {str(c): v for c, v in s.items()} for k, s in self.C_scores.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> FittedHead:
        return cls({k: LinearProbe.from_dict(p) for k, p in d["probes"].items()},
                   {k: float(v) for k, v in d["weights"].items()}, float(d["bias"]))


def _probe(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], idx: np.ndarray, C: float, weighted: bool) -> LinearProbe:
    w = balanced_weights(rows, idx) if weighted else None
    return LinearProbe(C).fit(X[idx], y[idx], w)


def fit_head(
    X: Mapping[str, np.ndarray],
    y: np.ndarray,
    rows: Sequence[Mapping],
    train: np.ndarray,
    Cs: Sequence[float] = DEFAULT_CS,
    n_inner: int = 3,
    weighted: bool = True,
    fuse: bool = True,
) -> FittedHead:
    """Fit the head on rows ``train`` (indices into X's rows, ``y`` and ``rows``)."""
    y = np.asarray(y, dtype=int)
    keys = list(X)
    probes, C_scores = {}, {}
    for k in keys:
        c, scores = choose_C(X[k], y, rows, train, Cs, n_inner, weighted)
        probes[k] = _probe(X[k], y, rows, train, c, weighted)
        C_scores[k] = scores
    if len(keys) == 1 or not fuse:
        return FittedHead(probes, {k: 1.0 for k in keys}, 0.0, C_scores)
    inner = [(tr, te) for tr, te in inner_folds(rows, train, n_inner) if len(np.unique(y[tr])) == 2]
    oof = np.full((len(y), len(keys)), np.nan)
    for tr, te in inner:
        for j, k in enumerate(keys):
            oof[te, j] = _probe(X[k], y, rows, tr, probes[k].C, weighted).score(X[k][te])
    S = oof[train]
    ok = np.isfinite(S).all(axis=1)
    if ok.sum() < 4 or len(np.unique(y[train][ok])) < 2:
        return FittedHead(probes, {k: 1.0 / len(keys) for k in keys}, 0.0, C_scores)
    w, b = fit_nonnegative_fusion(S[ok], y[train][ok])
    return FittedHead(probes, {k: float(v) for k, v in zip(keys, w, strict=True)}, float(b), C_scores)


@dataclass
class LogoScores:
    """Held-out scores per fold index, per stream key and for the fusion."""

    folds: list[logo.Fold]
    scores: dict[str, dict[int, np.ndarray]]  # key -> fold index -> scores of fold.test


def logo_scores(
    X: Mapping[str, np.ndarray],
    y: np.ndarray,
    rows: Sequence[Mapping],
    folds: Sequence[logo.Fold],
    test_X: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    **head_kwargs,
) -> dict[str, LogoScores]:
    """Fit the head on each fold's training rows; score its held-out rows as-is and in each view of
    ``test_X`` (view -> stream key -> features aligned with X: train as-is, test re-encoded).
    Returns view ("as-is" and the test_X views) -> LogoScores."""
    y = np.asarray(y, dtype=int)
    views = {"as-is": X, **(test_X or {})}
    out = {v: LogoScores(list(folds), {k: {} for k in [*X, FUSED]}) for v in views}
    for i, fold in enumerate(folds):
        if len(np.unique(y[fold.test])) < 2 or len(np.unique(y[fold.train])) < 2:
            continue
        head = fit_head(X, y, rows, fold.train, **head_kwargs)
        for v, Xv in views.items():
            per = head.stream_scores(Xv, fold.test)
            for k, s in per.items():
                out[v].scores[k][i] = s
            if len(per) > 1:
                out[v].scores[FUSED][i] = head.fused(per)
    for ls in out.values():
        if not ls.scores[FUSED] and len(X) == 1:
            ls.scores[FUSED] = dict(ls.scores[next(iter(X))])  # one stream: the fusion is the stream
    return out


def logo_rows(y: np.ndarray, ls: LogoScores, n_boot: int = 200) -> dict[str, list[dict]]:
    """``run_logo`` rows (AUC / EER with intervals per held-out family) for every key of ``ls``."""
    out = {}
    for key, by_fold in ls.scores.items():
        if not by_fold:
            continue
        folds = [f for i, f in enumerate(ls.folds) if i in by_fold]
        lookup = {ls.folds[i].test.tobytes(): s for i, s in by_fold.items()}
        out[key] = logo.run_logo(y, folds, lambda tr, te, lookup=lookup: lookup[te.tobytes()], n_boot=n_boot)
    return out


def pooled(y: np.ndarray, ls: LogoScores, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and held-out scores of ``key`` pooled over folds (a row held out twice counts twice)."""
    ys, ss = [], []
    for i, s in ls.scores.get(key, {}).items():
        ys.append(np.asarray(y)[ls.folds[i].test])
        ss.append(s)
    if not ys:
        return np.zeros(0, int), np.zeros(0)
    return np.concatenate(ys), np.concatenate(ss)
