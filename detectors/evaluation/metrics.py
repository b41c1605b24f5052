"""Detection metrics on (label, fake probability) pairs: AUC, EER, ECE, operating point, bootstrap CIs.

Labels are 1 = fake, 0 = real; scores are calibrated probabilities of "fake" in [0, 1] (EER and
AUC also accept any monotone score). Built on scikit-learn so every number matches the standard
definitions. Undefined metrics (one class only, no predicted positives ...) are NaN with a note,
never an exception: small per-kind subsets hit these cases all the time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn

ONE_CLASS_NOTE = "only one class present: AUC and EER are undefined"


def _arrays(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels as int 0/1 and scores as float64, both 1-D and of the same length."""
    ya = np.asarray(y, dtype=int).reshape(-1)
    pa = np.asarray(p, dtype=np.float64).reshape(-1)
    if ya.shape != pa.shape:
        raise ValueError(f"labels and scores differ in length: {ya.size} vs {pa.size}")
    if ya.size and not np.isin(ya, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(pa).all():
        raise ValueError("scores must be finite (drop inconclusive results without a probability first)")
    return ya, pa


def both_classes(y: Sequence[int] | np.ndarray) -> bool:
    """True when both real and fake examples are present (AUC and EER need both)."""
    return len(np.unique(np.asarray(y, dtype=int))) == 2


def auc(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (probability a random fake scores above a random real); NaN if one class.

    The same computation as ``roc_auc_score`` for binary labels (trapezoids under ``roc_curve``),
    called directly because the bootstrap evaluates it thousands of times.
    """
    from sklearn.metrics import auc as area_under
    from sklearn.metrics import roc_curve

    ya, pa = _arrays(y, p)
    if not both_classes(ya):
        return math.nan
    fpr, tpr, _ = roc_curve(ya, pa)
    return float(area_under(fpr, tpr))


def eer(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Equal error rate and the threshold that reaches it; (NaN, NaN) if one class.

    The EER is where the linearly interpolated ROC curve crosses FNR = FPR; the threshold is the
    score at the first ROC point at or past that crossing (verdict "fake" when score >= threshold).
    """
    from sklearn.metrics import roc_curve

    ya, pa = _arrays(y, p)
    if not both_classes(ya):
        return math.nan, math.nan
    fpr, tpr, thr = roc_curve(ya, pa, drop_intermediate=False)
    fnr = 1.0 - tpr
    gap = fnr - fpr  # starts at 1 (threshold above every score), ends at -1
    i = int(np.argmax(gap <= 0))
    if i == 0:  # cannot happen with both classes; guard anyway
        return float(fpr[0]), float(thr[0])
    d0, d1 = gap[i - 1], gap[i]
    frac = d0 / (d0 - d1) if d0 != d1 else 0.0
    rate = float(fpr[i - 1] + frac * (fpr[i] - fpr[i - 1]))
    t = float(thr[i])
    if not math.isfinite(t):
        t = float(pa.max())
    return rate, t


@dataclass
class ReliabilityBins:
    """Equal-width bins of predicted probability: count, mean prediction and fraction fake per bin."""

    edges: np.ndarray
    count: np.ndarray
    mean_pred: np.ndarray  # NaN in empty bins
    frac_fake: np.ndarray  # NaN in empty bins


def reliability_bins(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray, n_bins: int = 10) -> ReliabilityBins:
    """Bin like ``sklearn.calibration.calibration_curve(strategy="uniform")`` but keep the counts.

    Empty bins stay in the arrays (as NaN) so a reliability diagram can show the counts too.
    """
    ya, pa = _arrays(y, p)
    if pa.size and (pa.min() < 0 or pa.max() > 1):
        raise ValueError("probabilities must lie in [0, 1] for calibration metrics")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], pa)  # the same bin assignment calibration_curve uses
    count = np.bincount(ids, minlength=n_bins).astype(int)
    sums = np.bincount(ids, weights=pa, minlength=n_bins)
    fakes = np.bincount(ids, weights=ya.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.where(count > 0, sums / np.maximum(count, 1), np.nan)
        frac_fake = np.where(count > 0, fakes / np.maximum(count, 1), np.nan)
    return ReliabilityBins(edges, count, mean_pred, frac_fake)


def ece(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error of p(fake): sum over bins of (bin share) x |fraction fake - mean p|.

    Defined for one class too (then it measures how far p is from 0 or 1); NaN for no data.
    """
    bins = reliability_bins(y, p, n_bins)
    n = int(bins.count.sum())
    if n == 0:
        return math.nan
    used = bins.count > 0
    gaps = np.abs(bins.frac_fake[used] - bins.mean_pred[used])
    return float(np.sum(bins.count[used] / n * gaps))


def at_threshold(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray, t: float) -> dict[str, Any]:
    """Confusion counts and rates when the verdict is "fake" for p >= t (the service's rule).

    precision is NaN when nothing is called fake; recall (TPR) is NaN without fakes, the
    false-positive rate NaN without reals.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

    ya, pa = _arrays(y, p)
    pred = (pa >= t).astype(int)
    out: dict[str, Any] = {"threshold": float(t), "n": int(ya.size)}
    if ya.size == 0:
        out.update(accuracy=math.nan, precision=math.nan, recall=math.nan, f1=math.nan,
                   fpr=math.nan, fnr=math.nan, tp=0, fp=0, tn=0, fn=0)
        return out
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(ya, pred, labels=[0, 1]).ravel())
    n_fake, n_real = tp + fn, tn + fp
    out.update(
        accuracy=float(accuracy_score(ya, pred)),
        precision=float(precision_score(ya, pred, labels=[0, 1], zero_division=np.nan)),
        recall=float(recall_score(ya, pred, labels=[0, 1], zero_division=np.nan)) if n_fake else math.nan,
        f1=float(f1_score(ya, pred, labels=[0, 1], zero_division=np.nan)) if n_fake else math.nan,
        fpr=fp / n_real if n_real else math.nan,
        fnr=fn / n_fake if n_fake else math.nan,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
    )
    return out


def _scalar(value: Any) -> float:
    """The metric value of a metric function's result (``eer`` returns (rate, threshold))."""
    if isinstance(value, tuple):
        value = value[0]
    return float(value)


def bootstrap_ci(
    metric_fn: Callable[[np.ndarray, np.ndarray], Any],
    y: Sequence[int] | np.ndarray,
    p: Sequence[float] | np.ndarray,
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) interval of ``metric_fn(y, p)``; (NaN, NaN) if one class.

    Resamples within each class (stratified) so every replicate keeps the set's real/fake counts:
    AUC and EER stay defined in every replicate even for a handful of fakes.
    """
    ya, pa = _arrays(y, p)
    if not both_classes(ya) or n <= 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx_real = np.flatnonzero(ya == 0)
    idx_fake = np.flatnonzero(ya == 1)
    values = np.empty(n, dtype=np.float64)
    # inputs were validated once above; skip sklearn's per-call checks in the loop
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for k in range(n):
            idx = np.concatenate(
                [rng.choice(idx_real, idx_real.size, replace=True), rng.choice(idx_fake, idx_fake.size, replace=True)]
            )
            values[k] = _scalar(metric_fn(ya[idx], pa[idx]))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def summarize(
    y: Sequence[int] | np.ndarray,
    p: Sequence[float] | np.ndarray,
    threshold: float,
    n_boot: int = 1000,
    seed: int = 0,
    n_bins: int = 10,
) -> dict[str, Any]:
    """Every metric for one set: counts, AUC and EER with bootstrap CIs, ECE, operating point.

    ``threshold`` is the detector's stored operating threshold (from validation), not one fitted
    here. ``notes`` explains every NaN.
    """
    ya, pa = _arrays(y, p)
    notes: list[str] = []
    out: dict[str, Any] = {"n": int(ya.size), "n_real": int((ya == 0).sum()), "n_fake": int((ya == 1).sum())}
    if ya.size == 0:
        notes.append("no scored files")
    elif not both_classes(ya):
        notes.append(ONE_CLASS_NOTE)
    out["auc"] = auc(ya, pa)
    out["auc_ci"] = list(bootstrap_ci(auc, ya, pa, n=n_boot, seed=seed))
    rate, eer_t = eer(ya, pa)
    out["eer"] = rate
    out["eer_threshold"] = eer_t
    out["eer_ci"] = list(bootstrap_ci(eer, ya, pa, n=n_boot, seed=seed))
    out["ece"] = ece(ya, pa, n_bins) if ya.size and pa.min() >= 0 and pa.max() <= 1 else math.nan
    if ya.size and not (pa.min() >= 0 and pa.max() <= 1):
        notes.append("scores are not probabilities in [0, 1]: ECE undefined")
    op = at_threshold(ya, pa, threshold)
    for key in ("threshold", "accuracy", "precision", "recall", "f1", "fpr", "fnr", "tp", "fp", "tn", "fn"):
        out[key] = op[key]
    if out["n_fake"] and op["tp"] + op["fp"] == 0:
        notes.append("nothing called fake at the threshold: precision undefined")
    out["notes"] = notes
    return out
