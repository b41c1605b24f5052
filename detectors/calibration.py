"""Score → calibrated probability, and the operating threshold, both measured and stored with weights.

Platt scaling (a one-feature logistic regression) fitted on validation scores of sources the
model did not train on; the threshold is chosen on the same validation data. Stored as JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Calibration:
    """p(fake) = sigmoid(a * score + b); verdict "fake" when p >= threshold."""

    a: float = 1.0
    b: float = 0.0
    threshold: float = 0.5
    method: str = "platt"
    fitted_on: str = ""
    metrics: dict = field(default_factory=dict)

    def probability(self, score: float | np.ndarray) -> float | np.ndarray:
        z = self.a * np.asarray(score, dtype=np.float64) + self.b
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))
        return float(p) if np.ndim(p) == 0 else p

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        known = {k: data[k] for k in ("a", "b", "threshold", "method", "fitted_on", "metrics") if k in data}
        return cls(**known)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        return cls.from_dict(json.loads(Path(path).read_text()))


def fit_platt(scores: np.ndarray, labels: np.ndarray, fitted_on: str = "") -> Calibration:
    """Fit a, b on (score, label) pairs; labels 1 = fake. Threshold: the EER point of p."""
    from sklearn.linear_model import LogisticRegression

    s = np.asarray(scores, dtype=np.float64).reshape(-1, 1)
    y = np.asarray(labels, dtype=int)
    if len(np.unique(y)) < 2:
        raise ValueError("calibration needs both real and fake examples")
    lr = LogisticRegression(C=1e4)
    lr.fit(s, y)
    cal = Calibration(a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]), fitted_on=fitted_on)
    cal.threshold = eer_threshold(np.asarray(cal.probability(s[:, 0])), y)
    return cal


def eer_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The threshold where false-accept and false-reject rates are closest (the EER point)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(labels, probabilities)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    t = float(thr[i])
    return 0.5 if not math.isfinite(t) else min(max(t, 1e-6), 1.0)
