"""Calibrated fusion of the learned scores and the forensic score into one probability of fake.

z = w_whole * s_whole + w_face * s_face + w_forensic * s_forensic, then Platt scaling and the
operating threshold (``detectors.calibration``). Weights, Platt and threshold are fitted on the
validation sources and stored as ``fusion.json`` beside the weights. Two weight sets: one for
images with a face, one without (then the face term is absent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detectors.calibration import Calibration, eer_threshold

FUSION_FILE = "fusion.json"
COMPONENTS = ("whole", "face", "forensic")


@dataclass
class Fusion:
    """Non-negative component weights per case, a shared Platt calibration and threshold."""

    with_face: dict[str, float] = field(default_factory=lambda: {"whole": 0.5, "face": 0.5, "forensic": 0.0})
    without_face: dict[str, float] = field(default_factory=lambda: {"whole": 1.0, "forensic": 0.0})
    calibration: Calibration = field(default_factory=Calibration)
    # each component's own Platt mapping, to report what it says on its own
    component_calibration: dict[str, Calibration] = field(default_factory=dict)
    fitted_on: str = ""
    metrics: dict = field(default_factory=dict)

    def weights(self, has_face: bool) -> dict[str, float]:
        return self.with_face if has_face else self.without_face

    def logit(self, s: dict[str, float | None]) -> float:
        w = self.weights(s.get("face") is not None)
        return float(sum(w.get(k, 0.0) * float(s[k]) for k in w if s.get(k) is not None))

    def probability(self, s: dict[str, float | None]) -> float:
        return float(self.calibration.probability(self.logit(s)))

    @property
    def threshold(self) -> float:
        return self.calibration.threshold

    def save(self, path: str | Path) -> None:
        data = {
            "with_face": self.with_face,
            "without_face": self.without_face,
            "calibration": self.calibration.to_dict(),
            "component_calibration": {k: v.to_dict() for k, v in self.component_calibration.items()},
            "fitted_on": self.fitted_on,
            "metrics": self.metrics,
        }
        Path(path).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Fusion:
        d = json.loads(Path(path).read_text())
        return cls(
            with_face=d["with_face"],
            without_face=d["without_face"],
            calibration=Calibration.from_dict(d["calibration"]),
            component_calibration={k: Calibration.from_dict(v) for k, v in d.get("component_calibration", {}).items()},
            fitted_on=d.get("fitted_on", ""),
            metrics=d.get("metrics", {}),
        )


def _nonneg_logreg(x: np.ndarray, y: np.ndarray, names: list[str], c: float) -> dict[str, float]:
    """Logistic regression whose weights are forced >= 0 (evidence of fake never lowers p):
    a component that earns a negative weight is dropped and the rest refitted."""
    from sklearn.linear_model import LogisticRegression

    active = list(range(len(names)))
    while active:
        lr = LogisticRegression(C=c, max_iter=2000)
        lr.fit(x[:, active], y)
        coef = lr.coef_[0]
        if (coef >= 0).all():
            out = dict.fromkeys(names, 0.0)
            out.update({names[j]: float(coef[i]) for i, j in enumerate(active)})
            return out
        active.pop(int(np.argmin(coef)))
    return dict.fromkeys(names, 0.0)


def fit_fusion(rows: list[dict[str, float | None]], labels: np.ndarray, fitted_on: str, c: float = 1.0) -> Fusion:
    """Fit weights on rows of component scores, then Platt + the EER threshold on the fused logit."""
    from detectors.calibration import fit_platt

    y = np.asarray(labels, dtype=int)
    has_face = np.array([r.get("face") is not None for r in rows])
    fusion = Fusion(fitted_on=fitted_on)

    def fit(mask: np.ndarray, names: list[str], default: dict[str, float]) -> dict[str, float]:
        if mask.sum() < 8 or len(np.unique(y[mask])) < 2:
            return default
        x = np.array([[float(rows[i][k]) for k in names] for i in np.flatnonzero(mask)])
        return _nonneg_logreg(x, y[mask], names, c)

    fusion.with_face = fit(has_face, ["whole", "face", "forensic"], fusion.with_face)
    # Images without a face: fitted on every row (the face term left out), so it has data.
    fusion.without_face = fit(np.ones_like(has_face), ["whole", "forensic"], fusion.without_face)
    z = np.array([fusion.logit(r) for r in rows])
    fusion.calibration = fit_platt(z, y, fitted_on=fitted_on)
    p = np.asarray(fusion.calibration.probability(z))
    fusion.calibration.threshold = eer_threshold(p, y)
    for name in COMPONENTS:
        idx = [i for i, r in enumerate(rows) if r.get(name) is not None]
        if len(idx) >= 8 and len(np.unique(y[idx])) == 2:
            sc = np.array([float(rows[i][name]) for i in idx])
            fusion.component_calibration[name] = fit_platt(sc, y[idx], fitted_on=fitted_on)
    return fusion
