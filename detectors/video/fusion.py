"""Video-level fusion: a small standardised logistic regression over face-track scores, temporal
features, the sound track's probability and lip sync, then Platt calibration; plus the ranges of
each temporal feature on real videos, which decide when a feature is reported as an anomaly.

Stored as one JSON file (``fusion.json``) beside its model card; no pickle. A feature that is
missing for a clip (no face, no sound, too short) is set to its training mean, so it contributes
nothing; the response lists which components were used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detectors.calibration import Calibration, OperatingPoints

FUSION_FILE = "fusion.json"

FACE_FEATURES = ("face_score_mean", "face_score_q90", "face_track_max")
AUDIO_FEATURES = ("audio_logit",)
CROSS_MODAL_FEATURES = ("lip_sync",)

# What each range-checked feature means to a reader: (anomaly type, text when too high, when too low).
FEATURE_TEXT: dict[str, tuple[str, str, str]] = {
    "motion_face_bg": (
        "Temporal inconsistency",
        "the face changes much more from frame to frame than its surroundings",
        "the face changes much less from frame to frame than its surroundings (a frozen face)",
    ),
    "flow_face_bg": (
        "Temporal inconsistency",
        "optical flow inside the face is unusually strong compared with the background",
        "optical flow inside the face is unusually weak compared with the background",
    ),
    "flow_boundary_jump": (
        "Face boundary motion",
        "the face's rim moves differently from the ring just outside it (a face sliding over its head)",
        "",
    ),
    "landmark_jitter": (
        "Landmark jitter",
        "facial landmarks tremble between consecutive frames more than on real videos",
        "",
    ),
    "boundary_colour_flicker": (
        "Face boundary flicker",
        "the colour contrast at the face boundary flickers from frame to frame",
        "",
    ),
    "boundary_sharpness_flicker": (
        "Face boundary flicker",
        "the sharpness contrast at the face boundary flickers from frame to frame",
        "",
    ),
    "boundary_sharpness_gap": (
        "Blending artifacts",
        "the face's rim is much sharper than its surroundings",
        "the face's rim is much softer than its surroundings (blending)",
    ),
    "box_consistency": (
        "Face-box inconsistency",
        "the detected face box changes size relative to the face's own geometry across the clip",
        "",
    ),
    "lip_sync": (
        "Lip-sync mismatch",
        "",
        "mouth movement does not follow the loudness of the speech",
    ),
}


@dataclass
class FusionModel:
    """p(fake) = calibration(coef . standardised(x) + intercept), missing features at their mean."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    calibration: Calibration
    crop_calibration: Calibration  # raw image-model score of one face crop -> p(fake), frames/tracks
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    operating_points: OperatingPoints | None = None  # the verdict policy's two points (fitted on val)

    @property
    def verdict_points(self) -> OperatingPoints | float:
        """What the verdict is taken at: the stored operating points, or an old file's single threshold."""
        return self.operating_points if self.operating_points is not None else self.calibration.threshold

    def vector(self, values: dict[str, float | None]) -> np.ndarray:
        """Standardised feature vector; a missing or non-finite value becomes 0 (its training mean)."""
        out = np.zeros(len(self.features), dtype=np.float64)
        for i, name in enumerate(self.features):
            v = values.get(name)
            if v is not None and math.isfinite(float(v)):
                out[i] = (float(v) - self.mean[i]) / (self.scale[i] or 1.0)
        return out

    def logit(self, values: dict[str, float | None]) -> float:
        return float(self.vector(values) @ np.asarray(self.coef, dtype=np.float64) + self.intercept)

    def probability(self, values: dict[str, float | None]) -> float:
        return float(self.calibration.probability(self.logit(values)))

    def contributions(self, values: dict[str, float | None]) -> dict[str, float]:
        """Each feature's share of the logit (coef x standardised value)."""
        z = self.vector(values)
        return {n: round(float(c * v), 4) for n, c, v in zip(self.features, self.coef, z, strict=True)}

    def to_dict(self) -> dict:
        return {
            "version": 1,
            "features": list(self.features),
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
            "coef": [float(v) for v in self.coef],
            "intercept": float(self.intercept),
            "calibration": self.calibration.to_dict(),
            "crop_calibration": self.crop_calibration.to_dict(),
            "ranges": {k: [float(a), float(b)] for k, (a, b) in self.ranges.items()},
            "info": self.info,
            **({"operating_points": self.operating_points.to_dict()} if self.operating_points else {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> FusionModel:
        n = len(d["features"])
        for key in ("mean", "scale", "coef"):
            if len(d[key]) != n:
                raise ValueError(f"fusion.json: '{key}' has {len(d[key])} values for {n} features")
        return cls(
            features=list(d["features"]),
            mean=[float(v) for v in d["mean"]],
            scale=[float(v) for v in d["scale"]],
            coef=[float(v) for v in d["coef"]],
            intercept=float(d["intercept"]),
            calibration=Calibration.from_dict(d["calibration"]),
            crop_calibration=Calibration.from_dict(d["crop_calibration"]),
            ranges={k: (float(v[0]), float(v[1])) for k, v in d.get("ranges", {}).items()},
            info=dict(d.get("info", {})),
            operating_points=OperatingPoints.from_dict(d["operating_points"]) if d.get("operating_points") else None,
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> FusionModel:
        return cls.from_dict(json.loads(Path(path).read_text()))


def range_severity(value: float, lo: float, hi: float) -> str | None:
    """None inside [lo, hi]; otherwise low / medium / high by the excess in range widths."""
    width = max(hi - lo, 1e-9)
    excess = (lo - value) / width if value < lo else (value - hi) / width if value > hi else 0.0
    if excess <= 0:
        return None
    return "high" if excess > 1.0 else "medium" if excess > 0.3 else "low"


def real_ranges(values: dict[str, list[float]], margin: float = 0.1) -> dict[str, tuple[float, float]]:
    """The range of each feature over real videos (min..max, widened by ``margin`` of its width)."""
    out = {}
    for name, vals in values.items():
        v = np.asarray([x for x in vals if x is not None and math.isfinite(x)], dtype=np.float64)
        if v.size < 3:
            continue
        lo, hi = float(v.min()), float(v.max())
        pad = margin * max(hi - lo, 1e-6)
        out[name] = (round(lo - pad, 6), round(hi + pad, 6))
    return out
