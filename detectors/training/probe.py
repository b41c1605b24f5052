"""Linear probes on frozen features, their regularisation, and the fusion of several streams.

The recipe of UnivFD (Ojha et al. 2023) and of the Whisper-feature anti-spoofing work: a frozen
foundation model, a linear head, regularisation chosen on generator families the head did not
train on, and a non-negative stacked fusion of streams that fail differently. Everything here
takes row indices into arrays aligned with manifest rows, so folds from
``detectors.evaluation.logo`` apply directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.evaluation import logo, metrics

DEFAULT_CS = (0.001, 0.01, 0.1, 1.0)


def family_of(row: Mapping[str, str]) -> str:
    """The fold group of a row: its family for fakes, its source for reals."""
    if str(row.get("label", "")).lower() in ("fake", "1"):
        return "fake:" + (row.get("family") or row.get("generator") or row.get("kind") or "unknown")
    return "real:" + (row.get("source_repo") or row.get("source") or "unknown")


def balanced_weights(rows: Sequence[Mapping[str, str]], idx: np.ndarray, power: float = 0.5) -> np.ndarray:
    """Sample weights that damp dominant groups (YourTTS, TPDNE, SD 1.5 grids ...).

    A row of a group with n members weighs n**-power (0.5: a group's total grows as sqrt(n)),
    then each class is scaled to the same total weight.
    """
    keys = [family_of(rows[i]) for i in idx]
    counts = Counter(keys)
    w = np.array([counts[k] ** -power for k in keys], dtype=np.float64)
    y = np.array([1 if k.startswith("fake:") else 0 for k in keys])
    for label in (0, 1):
        m = y == label
        if m.any():
            w[m] *= (len(y) / 2) / w[m].sum()
    return w


@dataclass
class LinearProbe:
    """Standardise, then class-balanced L2 logistic regression; NaN features count as the mean."""

    C: float = 0.1
    mean_: np.ndarray | None = None
    scale_: np.ndarray | None = None
    coef_: np.ndarray | None = None
    intercept_: float = 0.0

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        Z = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        return np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0)

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> LinearProbe:
        """Fit on standardised ``X``. With more features than rows it is solved in the row space:
        an L2 logistic regression's weights lie in the span of the standardised rows, so it is
        fitted on the n SVD coordinates and mapped back (the same optimum, a fraction of the time)."""
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(X, dtype=np.float64)
        with np.errstate(all="ignore"):
            self.mean_, self.scale_ = standardiser(X)
        Z = self._standardise(X)
        basis = None
        if Z.shape[1] > Z.shape[0]:  # Z = U S V^T from the n x n Gram matrix: coordinates U S, back-map V = Z^T U / S
            ev, u = np.linalg.eigh(Z @ Z.T)
            keep = ev > 1e-10 * max(float(ev.max()), 1e-300)
            s, u = np.sqrt(ev[keep]), u[:, keep]
            basis = (Z.T @ u) / s
            Z = u * s
        lr = LogisticRegression(C=self.C, class_weight=None if sample_weight is not None else "balanced", max_iter=3000,
                                solver="newton-cg" if basis is not None else "lbfgs")
        lr.fit(Z, np.asarray(y, dtype=int), sample_weight=sample_weight)
        coef = lr.coef_[0].astype(np.float64)
        self.coef_ = basis @ coef if basis is not None else coef
        self.intercept_ = float(lr.intercept_[0])
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        """Decision values (log-odds before calibration)."""
        return self._standardise(X) @ self.coef_ + self.intercept_

    def to_dict(self) -> dict:
        return {"C": self.C, "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "coef": self.coef_.tolist(), "intercept": self.intercept_}

    @classmethod
    def from_dict(cls, d: Mapping) -> LinearProbe:
        return cls(C=float(d["C"]), mean_=np.asarray(d["mean"]), scale_=np.asarray(d["scale"]),
                   coef_=np.asarray(d["coef"]), intercept_=float(d["intercept"]))


def standardiser(X: np.ndarray, norm: str = "std") -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of the features, NaN-aware: "std" scales each feature by its deviation, "center"
    divides every feature by one global scale (keeps the geometry of row-normalised features)."""
    mean = np.nan_to_num(np.nanmean(X, axis=0))
    sd = np.nanstd(X, axis=0)
    if norm == "center":
        rms = float(np.sqrt(np.nanmean(sd**2))) if np.isfinite(sd).any() else 1.0
        return mean, np.full(X.shape[1], rms if rms > 1e-8 else 1.0)
    if norm != "std":
        raise ValueError(f"unknown norm {norm!r}")
    return mean, np.where(np.isfinite(sd) & (sd > 1e-8), sd, 1.0)


def ridge_path(X: np.ndarray, y: np.ndarray, w: np.ndarray, penalties: Sequence[float],
               norm: str = "std") -> list[LinearProbe]:
    """Weighted ridge regression of y in {-1, +1} on standardised (or centred) X (NaN = the mean),
    one ``LinearProbe`` per penalty (C = 1 / penalty; scored like the logistic probe, decision values
    calibrated later by the fusion and Platt).

    Penalties are in units of the total sample weight (``balanced_weights`` makes it n). One
    eigendecomposition of the weighted d x d Gram matrix (or the SVD of the weighted rows when rows
    are fewer than features) serves every penalty, so choosing it on inner folds costs a few
    decompositions instead of dozens of iterative logistic fits (2 shared cores).
    """
    X = np.asarray(X, np.float64)
    mean, scale = standardiser(X, norm)
    Z = np.nan_to_num((X - mean) / scale, nan=0.0, posinf=0.0, neginf=0.0)
    t = np.where(np.asarray(y) == 1, 1.0, -1.0)
    w = np.asarray(w, np.float64)
    W = w.sum()
    zm = (w[:, None] * Z).sum(axis=0) / W
    tm = float((w * t).sum() / W)
    Zc = Z - zm
    if Zc.shape[1] > Zc.shape[0]:
        sw = np.sqrt(w)[:, None]
        _, S, Vt = np.linalg.svd(Zc * sw, full_matrices=False)
        V, evals = Vt.T, S * S
    else:
        evals, V = np.linalg.eigh(Zc.T @ (w[:, None] * Zc))
        evals = np.maximum(evals, 0.0)
    ut = V.T @ (Zc.T @ (w * (t - tm)))
    out = []
    for lam in penalties:
        coef = V @ (ut / (evals + lam))
        out.append(LinearProbe(C=1.0 / lam, mean_=mean, scale_=scale, coef_=coef, intercept_=tm - float(zm @ coef)))
    return out


def inner_folds(rows: Sequence[Mapping[str, str]], idx: np.ndarray, n_splits: int = 3, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds over ``idx`` that keep each fake family and each real source on one side (for tuning)."""
    from sklearn.model_selection import GroupKFold

    groups = np.array([family_of(rows[i]) for i in idx])
    n = min(n_splits, len(set(groups)))
    if n < 2:
        return []
    out = []
    for tr, te in GroupKFold(n_splits=n, shuffle=True, random_state=seed).split(idx, groups=groups):
        out.append((idx[tr], idx[te]))
    return out


def _fit(X, y, rows, idx, C, weighted):
    w = balanced_weights(rows, idx) if weighted else None
    return LinearProbe(C).fit(X[idx], y[idx], w)


def choose_C(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping[str, str]], idx: np.ndarray,
             Cs: Sequence[float] = DEFAULT_CS, n_inner: int = 3, weighted: bool = True) -> tuple[float, dict]:
    """The C with the best mean AUC over family-grouped inner folds of the training rows ``idx``."""
    folds = [(tr, te) for tr, te in inner_folds(rows, idx, n_inner)
             if len(np.unique(y[tr])) == 2 and len(np.unique(y[te])) == 2]
    if not folds:
        return float(Cs[len(Cs) // 2]), {}
    scores = {}
    for C in Cs:
        aucs = [metrics.auc(y[te], _fit(X, y, rows, tr, C, weighted).score(X[te])) for tr, te in folds]
        scores[C] = float(np.nanmean(aucs))
    best = max(scores, key=lambda c: (scores[c], -c))
    return float(best), scores


def fit_nonnegative_fusion(S: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, float]:
    """Weights >= 0 and a bias for a logistic fusion of per-stream scores (no stream may count against)."""
    from scipy.optimize import minimize

    S = np.asarray(S, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    k = S.shape[1]

    def loss(theta):
        w, b = theta[:k], theta[k]
        z = S @ w + b
        p = 1 / (1 + np.exp(-np.clip(z, -40, 40)))
        ll = np.logaddexp(0, z) - y * z
        g = p - y
        return ll.mean() + l2 * w @ w, np.r_[S.T @ g / len(y) + 2 * l2 * w, g.mean()]

    res = minimize(loss, np.r_[np.full(k, 1.0 / k), 0.0], jac=True, method="L-BFGS-B",
                   bounds=[(0, None)] * k + [(None, None)])
    return res.x[:k], float(res.x[k])


@dataclass
class FoldResult:
    stream: str
    rows: list[dict] = field(default_factory=list)


def logo_table(
    feature_sets: Mapping[str, np.ndarray],
    y: np.ndarray,
    rows: Sequence[Mapping[str, str]],
    folds: Sequence[logo.Fold],
    C: float | Mapping[str, float] | None = None,
    Cs: Sequence[float] = DEFAULT_CS,
    n_inner: int = 3,
    weighted: bool = True,
    fuse: bool = True,
    test_features: Mapping[str, np.ndarray] | None = None,
    n_boot: int = 200,
) -> dict[str, list[dict]]:
    """Leave-one-family-out rows for each stream and for their fusion.

    Per fold and stream: C from ``C`` (fixed) or chosen by ``choose_C`` on the fold's training
    rows only; the probe is fitted on the training rows and scores the held-out ones. The fusion's
    non-negative weights are fitted on inner out-of-fold scores of the training rows. With
    ``test_features`` (same streams, another view such as a re-encoding), the held-out rows are
    scored on those instead: train as-is, test re-encoded.
    """
    y = np.asarray(y, dtype=int)
    names = list(feature_sets)
    per_stream: dict[str, dict[int, np.ndarray]] = {n: {} for n in names}
    fused: dict[int, np.ndarray] = {}
    chosen: dict[str, list[float]] = {n: [] for n in names}
    for fi, fold in enumerate(folds):
        if len(np.unique(y[fold.test])) < 2 or len(np.unique(y[fold.train])) < 2:
            continue
        test_scores, oof = [], []
        inner = inner_folds(rows, fold.train, n_inner) if fuse and len(names) > 1 else []
        for n in names:
            X = feature_sets[n]
            Xt = (test_features or feature_sets)[n]
            if C is None:
                c, _ = choose_C(X, y, rows, fold.train, Cs, n_inner, weighted)
            else:
                c = float(C[n] if isinstance(C, Mapping) else C)
            chosen[n].append(c)
            probe = _fit(X, y, rows, fold.train, c, weighted)
            s = probe.score(Xt[fold.test])
            per_stream[n][fi] = s
            test_scores.append(s)
            if inner:
                o = np.full(len(y), np.nan)
                for tr, te in inner:
                    o[te] = _fit(X, y, rows, tr, c, weighted).score(X[te])
                oof.append(o[fold.train])
        if inner:
            oof_m = np.column_stack(oof)
            m = np.isfinite(oof_m).all(axis=1)
            w, b = fit_nonnegative_fusion(oof_m[m], y[fold.train][m])
            fused[fi] = np.column_stack(test_scores) @ w + b
    out: dict[str, list[dict]] = {}
    for n in names:
        out[n] = logo.run_logo(y, [f for i, f in enumerate(folds) if i in per_stream[n]],
                               _lookup(per_stream[n], folds), n_boot=n_boot)
        for r, c in zip(out[n], chosen[n], strict=False):
            r["C"] = c
    if fused:
        out["fused"] = logo.run_logo(y, [f for i, f in enumerate(folds) if i in fused], _lookup(fused, folds), n_boot=n_boot)
    return out


def _lookup(scores: Mapping[int, np.ndarray], folds: Sequence[logo.Fold]):
    """A ``fit_predict`` for ``run_logo`` that returns precomputed scores by fold."""
    by_test = {folds[i].test.tobytes(): s for i, s in scores.items()}

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        return by_test[test.tobytes()]

    return fit_predict
