"""The v1 image model card's summary row (n, AUC, EER, accuracy / TPR / TNR at the stored
threshold, ECE), computed with the project's metrics (``detectors.evaluation.metrics``)."""

from __future__ import annotations

import numpy as np

from detectors.evaluation import metrics


def summary(p: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    """n, AUC, EER, accuracy / TPR / TNR at ``threshold``, ECE. AUC and EER need both classes."""
    p, y = np.asarray(p, float), np.asarray(y, int)
    pred = p >= threshold
    out = {
        "n_real": int((y == 0).sum()),
        "n_fake": int((y == 1).sum()),
        "accuracy": round(float((pred == y).mean()), 4) if y.size else None,
        "tpr": round(float(pred[y == 1].mean()), 4) if (y == 1).any() else None,
        "tnr": round(float((~pred[y == 0]).mean()), 4) if (y == 0).any() else None,
        "ece": round(metrics.ece(y, p), 4) if y.size else None,
    }
    if metrics.both_classes(y):
        out["auc"] = round(metrics.auc(y, p), 4)
        out["eer"] = round(metrics.eer(y, p)[0], 4)
    return out
