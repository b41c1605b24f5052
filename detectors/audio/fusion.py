"""Calibrated fusion of the audio components into one probability of "synthesised or cloned".

Components (each a number per clip): the LCNN's mean window logit, the feature model's logit,
the artifact count and the voice-change count. A logistic regression over the standardised
components is fitted on the validation sources (never the training ones), which makes its
output a calibrated probability; the operating threshold is the EER point on the same data.
The feature model is a standardised logistic regression over ``clip_features``, fitted on the
augmented training audio.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FUSION_FILE = "fusion.json"
FEATURE_MODEL_FILE = "feature_model.json"
COMPONENTS = ("lcnn", "features", "artifacts", "inconsistency")


@dataclass
class LinearModel:
    """Standardise, then a logistic regression: logit = coef . (x - mean) / scale + intercept."""

    names: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float

    def logit(self, values: dict[str, float]) -> float:
        x = np.array([values.get(n, 0.0) for n in self.names], dtype=np.float64)
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(np.asarray(self.coef) @ z + self.intercept)

    @classmethod
    def fit(
        cls,
        names: list[str],
        x: np.ndarray,
        y: np.ndarray,
        c: float = 1.0,
        sample_weight: np.ndarray | None = None,
    ) -> LinearModel:
        from sklearn.linear_model import LogisticRegression

        mean = x.mean(0)
        scale = x.std(0)
        scale[scale < 1e-9] = 1.0
        lr = LogisticRegression(C=c, max_iter=2000)
        lr.fit((x - mean) / scale, y, sample_weight=sample_weight)
        return cls(list(names), mean.tolist(), scale.tolist(), lr.coef_[0].tolist(), float(lr.intercept_[0]))


@dataclass
class Fusion:
    """The stored fusion: the combining model, its threshold, and how it was fitted."""

    model: LinearModel
    threshold: float
    window_a: float = 1.0  # Platt mapping of a single window's LCNN logit (for per-segment scores)
    window_b: float = 0.0
    window_threshold: float = 0.5  # EER threshold of single windows on validation (set by training)
    fitted_on: str = ""
    left_out: dict = field(default_factory=dict)  # component -> why validation left it out
    metrics: dict = field(default_factory=dict)

    def probability(self, components: dict[str, float]) -> float:
        return float(1.0 / (1.0 + np.exp(-np.clip(self.model.logit(components), -60, 60))))

    def window_probability(self, logit: float) -> float:
        return float(1.0 / (1.0 + np.exp(-np.clip(self.window_a * logit + self.window_b, -60, 60))))

    def weights(self) -> dict[str, float]:
        """Each component's coefficient on its standardised scale (its say in the verdict); 0 when left out."""
        out = {name: 0.0 for name in COMPONENTS}
        out.update(zip(self.model.names, self.model.coef, strict=True))
        return out

    def save(self, directory: Path | str) -> Path:
        path = Path(directory) / FUSION_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: Path | str) -> Fusion:
        data = json.loads((Path(directory) / FUSION_FILE).read_text())
        data["model"] = LinearModel(**data["model"])
        return cls(**data)


def save_feature_model(model: LinearModel, directory: Path | str) -> Path:
    path = Path(directory) / FEATURE_MODEL_FILE
    path.write_text(json.dumps(asdict(model), indent=2) + "\n")
    return path


def load_feature_model(directory: Path | str) -> LinearModel:
    return LinearModel(**json.loads((Path(directory) / FEATURE_MODEL_FILE).read_text()))
