"""Detection metrics reported in the model card: AUC, EER, accuracy at the stored threshold, ECE."""

from __future__ import annotations

import numpy as np


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of p(fake) (equal-width bins)."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(total)


def eer(p: np.ndarray, y: np.ndarray) -> float:
    """Equal error rate (the point where false-accept and false-reject rates meet)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def summary(p: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    """n, AUC, EER, accuracy / TPR / TNR at ``threshold``, ECE. AUC and EER need both classes."""
    from sklearn.metrics import roc_auc_score

    p, y = np.asarray(p, float), np.asarray(y, int)
    pred = p >= threshold
    out = {
        "n_real": int((y == 0).sum()),
        "n_fake": int((y == 1).sum()),
        "accuracy": round(float((pred == y).mean()), 4) if y.size else None,
        "tpr": round(float(pred[y == 1].mean()), 4) if (y == 1).any() else None,
        "tnr": round(float((~pred[y == 0]).mean()), 4) if (y == 0).any() else None,
        "ece": round(ece(p, y), 4) if y.size else None,
    }
    if len(np.unique(y)) == 2:
        out["auc"] = round(float(roc_auc_score(y, p)), 4)
        out["eer"] = round(eer(p, y), 4)
    return out
