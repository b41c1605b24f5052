"""The ``video-v2`` fusion: one linear probe per stream, a non-negative stacked fusion in which an
absent stream counts as neutral, and the calibration and operating points stored with it.

A stream is a group of named clip vectors (``v2_features.clip_vector``): e.g. ``face`` = CLIP
features of the aligned face crops pooled along the primary face track. A stream is *absent* for a
clip when all its features are NaN (no face, no audible sound, no lip window): its probe is
trained only on clips where it is present, and in the fusion it contributes 0 (its score is
centred on the mean out-of-fold score of the training clips). So a clip without speech is judged
by its pictures and a clip without faces by its frames and sound, with no retraining.

Per-stream probes and the choice of their regularisation come from ``detectors.training.probe``
(family-grouped inner folds); the fusion weights are fitted on inner out-of-fold scores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detectors.calibration import Calibration, OperatingPoints
from detectors.training.probe import (
    DEFAULT_CS,
    LinearProbe,
    balanced_weights,
    choose_C,
    fit_nonnegative_fusion,
    inner_folds,
)

FUSION_FILE = "v2_fusion.json"

# stream name -> clip-vector names it reads (columns within a name may be selected by STREAM_COLUMNS)
FUSION_STREAMS: dict[str, tuple[str, ...]] = {
    "face": ("face.pen",),
    "frame": ("frame.pen",),
    "temporal": ("temporal",),
    "lipsync": ("lip",),
    "audio": ("audio.l2",),
}
# streams measured for the model card only (never fused): shortcuts and baselines
PROBE_STREAMS: dict[str, tuple[str, ...]] = {
    "corner-only": ("corner.pen",),
    "metadata": ("meta",),
    "v1": ("v1.face", "temporal"),
    "face-proj": ("face.proj",),
    "audio-l4": ("audio.l4",),
}


def design(vectors: Sequence[Mapping[str, np.ndarray]], names: Sequence[str],
           columns: Mapping[str, Sequence[int]] | None = None) -> np.ndarray:
    """(n, d) matrix of the named vectors of many clips side by side (``columns`` selects within a name)."""
    cols = columns or {}
    rows = []
    for v in vectors:
        parts = []
        for n in names:
            x = np.asarray(v[n], np.float64).reshape(-1)
            if n in cols:
                x = x[list(cols[n])]
            parts.append(x)
        rows.append(np.concatenate(parts))
    return np.vstack(rows)


def present(X: np.ndarray) -> np.ndarray:
    """Rows where a stream was measured (not all NaN)."""
    return np.isfinite(X).any(axis=1)


@dataclass
class StreamModel:
    """One stream's probe and the centre of its out-of-fold scores (what 'absent' maps to)."""

    names: tuple[str, ...]
    probe: LinearProbe
    centre: float = 0.0
    columns: dict[str, list[int]] = field(default_factory=dict)
    calibration: Calibration | None = None  # Platt on held-out scores: per-frame / per-track probabilities

    def matrix(self, vectors: Sequence[Mapping[str, np.ndarray]]) -> np.ndarray:
        return design(vectors, self.names, self.columns)

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Probe decision values; NaN where the stream is absent."""
        s = self.probe.score(X)
        return np.where(present(X), s, np.nan)


@dataclass
class FusionV2:
    """Streams, non-negative fusion weights and bias, calibration and operating points."""

    streams: dict[str, StreamModel]
    weights: dict[str, float]
    bias: float
    calibration: Calibration = field(default_factory=Calibration)
    operating_points: OperatingPoints = field(default_factory=OperatingPoints)
    info: dict = field(default_factory=dict)

    def stream_scores(self, vectors: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {n: m.scores(m.matrix(vectors)) for n, m in self.streams.items()}

    def logits(self, vectors: Sequence[Mapping[str, np.ndarray]]) -> np.ndarray:
        """Fused log-odds before calibration; an absent stream adds nothing."""
        return fuse(self.stream_scores(vectors), {n: m.centre for n, m in self.streams.items()}, self.weights, self.bias)

    def probabilities(self, vectors: Sequence[Mapping[str, np.ndarray]]) -> np.ndarray:
        return np.asarray(self.calibration.probability(self.logits(vectors)), np.float64).reshape(-1)

    def contributions(self, vector: Mapping[str, np.ndarray]) -> dict[str, float | None]:
        """Each stream's weighted, centred share of one clip's logit (None: absent)."""
        s = self.stream_scores([vector])
        return {n: (None if not np.isfinite(s[n][0]) else float(self.weights.get(n, 0.0) * (s[n][0] - m.centre)))
                for n, m in self.streams.items()}

    def to_dict(self) -> dict:
        return {
            "kind": "video-v2-fusion",
            "streams": {n: {"names": list(m.names), "columns": m.columns, "centre": m.centre, "probe": m.probe.to_dict(),
                            "calibration": None if m.calibration is None else m.calibration.to_dict()}
                        for n, m in self.streams.items()},
            "weights": self.weights,
            "bias": self.bias,
            "calibration": self.calibration.to_dict(),
            "operating_points": self.operating_points.to_dict(),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> FusionV2:
        streams = {
            n: StreamModel(names=tuple(s["names"]), probe=LinearProbe.from_dict(s["probe"]), centre=float(s["centre"]),
                           columns={k: list(v) for k, v in (s.get("columns") or {}).items()},
                           calibration=None if not s.get("calibration") else Calibration.from_dict(s["calibration"]))
            for n, s in d["streams"].items()
        }
        return cls(streams=streams, weights={k: float(v) for k, v in d["weights"].items()}, bias=float(d["bias"]),
                   calibration=Calibration.from_dict(d["calibration"]),
                   operating_points=OperatingPoints.from_dict(d["operating_points"]), info=dict(d.get("info", {})))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> FusionV2:
        return cls.from_dict(json.loads(Path(path).read_text()))


def fuse(scores: Mapping[str, np.ndarray], centres: Mapping[str, float], weights: Mapping[str, float],
         bias: float) -> np.ndarray:
    """bias + sum of weight * (score - centre) over the streams present (absent = NaN = 0)."""
    n = len(next(iter(scores.values())))
    z = np.full(n, float(bias))
    for name, s in scores.items():
        c = np.nan_to_num(np.asarray(s, np.float64) - centres.get(name, 0.0), nan=0.0)
        z += weights.get(name, 0.0) * c
    return z


def fit_stream(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping[str, str]], idx: np.ndarray,
               Cs: Sequence[float] = DEFAULT_CS, C: float | None = None) -> tuple[LinearProbe | None, float]:
    """A probe on the training rows where the stream is present (C chosen on family-grouped inner folds)."""
    have = idx[present(X[idx])]
    if len(have) < 4 or len(np.unique(y[have])) < 2:
        return None, float("nan")
    c = C if C is not None else choose_C(X, y, rows, have, Cs)[0]
    probe = LinearProbe(c).fit(X[have], y[have], balanced_weights(rows, have))
    return probe, c


def fit_fusion(
    matrices: Mapping[str, np.ndarray],
    y: np.ndarray,
    rows: Sequence[Mapping[str, str]],
    idx: np.ndarray,
    Cs: Sequence[float] = DEFAULT_CS,
    n_inner: int = 3,
    names: Mapping[str, tuple[str, ...]] | None = None,
    columns: Mapping[str, Mapping[str, list[int]]] | None = None,
) -> tuple[FusionV2, dict[str, np.ndarray]]:
    """Fit every stream on ``idx`` and the fusion weights on their inner out-of-fold scores.

    Returns the fusion (calibration still the identity) and each stream's out-of-fold scores
    over ``idx`` (NaN where absent), which the caller may use to calibrate the streams.
    """
    y = np.asarray(y, dtype=int)
    inner = [(tr, te) for tr, te in inner_folds(rows, idx, n_inner) if len(np.unique(y[tr])) == 2]
    streams: dict[str, StreamModel] = {}
    oof: dict[str, np.ndarray] = {}
    for name, X in matrices.items():
        probe, c = fit_stream(X, y, rows, idx, Cs)
        if probe is None:
            continue
        o = np.full(len(y), np.nan)
        for tr, te in inner:
            p, _ = fit_stream(X, y, rows, tr, C=c)
            if p is not None:
                o[te] = np.where(present(X[te]), p.score(X[te]), np.nan)
        o = o[idx]
        centre = float(np.nanmean(o)) if np.isfinite(o).any() else 0.0
        streams[name] = StreamModel(names=tuple((names or {}).get(name, (name,))), probe=probe, centre=centre,
                                    columns={k: list(v) for k, v in ((columns or {}).get(name) or {}).items()})
        oof[name] = o
    if not streams:
        raise ValueError("no stream could be fitted")
    order = list(streams)
    S = np.column_stack([np.nan_to_num(oof[n] - streams[n].centre, nan=0.0) for n in order])
    w, b = fit_nonnegative_fusion(S, y[idx])
    return FusionV2(streams=streams, weights={n: float(v) for n, v in zip(order, w, strict=True)}, bias=b), oof
