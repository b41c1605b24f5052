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


@dataclass
class OperatingPoints:
    """Two thresholds on the calibrated p(fake): ``real`` below ``real_below``, ``fake`` at or above
    ``fake_above``, ``inconclusive`` between (honest uncertainty).

    Chosen on held-out sources so that at most ``max_fpr`` of reals are called fake and at most
    ``max_fnr`` of fakes are called real, where the model allows it; ``fake_above`` is never under
    0.5 and ``real_below`` never over 0.5, so a stated verdict always has confidence >= 50 %.
    The measured rates on the fitting data are stored beside them.
    """

    real_below: float = 0.5
    fake_above: float = 0.5
    max_fpr: float = 0.05
    max_fnr: float = 0.05
    fitted_on: str = ""
    measured: dict = field(default_factory=dict)

    def verdict(self, p: float) -> str:
        if p >= self.fake_above:
            return "fake"
        if p < self.real_below:
            return "real"
        return "inconclusive"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> OperatingPoints:
        known = {k: data[k] for k in ("real_below", "fake_above", "max_fpr", "max_fnr", "fitted_on", "measured") if k in data}
        return cls(**known)


def operating_rates(probabilities: np.ndarray, labels: np.ndarray, real_below: float, fake_above: float) -> dict:
    """Error and inconclusive rates of two operating points on (p, label) pairs."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=int)
    reals, fakes = p[y == 0], p[y == 1]

    def frac(mask: np.ndarray) -> float:
        return float(mask.mean()) if mask.size else math.nan

    return {
        "n_real": int(reals.size),
        "n_fake": int(fakes.size),
        "real_called_fake": frac(reals >= fake_above),
        "fake_called_real": frac(fakes < real_below),
        "real_inconclusive": frac((reals >= real_below) & (reals < fake_above)),
        "fake_inconclusive": frac((fakes >= real_below) & (fakes < fake_above)),
    }


def fit_operating_points(
    probabilities: np.ndarray,
    labels: np.ndarray,
    max_fpr: float = 0.05,
    max_fnr: float = 0.05,
    fitted_on: str = "",
) -> OperatingPoints:
    """The two thresholds of the verdict policy, from calibrated probabilities on held-out data.

    ``fake_above`` is the lowest threshold at which at most ``max_fpr`` of reals score at or above
    it; ``real_below`` the highest at which at most ``max_fnr`` of fakes score below it. When the
    two cross (a model good enough for both targets), they meet midway between and there is no
    inconclusive band. Both are then kept on their side of 0.5.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=int)
    if len(np.unique(y)) < 2:
        raise ValueError("operating points need both real and fake examples")
    reals, fakes = np.sort(p[y == 0]), np.sort(p[y == 1])
    # fake_above: just above the (1 - max_fpr) quantile of the reals (count-exact, not interpolated)
    k = int(math.floor(max_fpr * reals.size))  # reals allowed at or above the threshold
    fake_above = float(np.nextafter(reals[reals.size - k - 1], np.inf)) if k < reals.size else 0.0
    # real_below: at the max_fnr quantile of the fakes (fakes strictly below it are called real)
    m = int(math.floor(max_fnr * fakes.size))
    real_below = float(fakes[m]) if m < fakes.size else 1.0
    if real_below > fake_above:  # both targets met with room to spare: one threshold, mid-gap
        real_below = fake_above = 0.5 * (real_below + fake_above)
    fake_above = min(max(fake_above, 0.5), 1.0)
    real_below = max(min(real_below, 0.5), 0.0)
    ops = OperatingPoints(real_below=real_below, fake_above=fake_above, max_fpr=max_fpr, max_fnr=max_fnr,
                          fitted_on=fitted_on)
    ops.measured = operating_rates(p, y, real_below, fake_above)
    return ops
