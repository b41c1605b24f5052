"""The trained parts of the audio v2 detector: heads over cached stream features, their fusion,
calibration and operating points, stored together in one JSON file (plus the attentive head's
tensors when it is used).

Heads:
- ``linear``: the training core's ``LinearProbe`` over named pooled features (e.g. the mean and
  std of Whisper layers 1-3, or the v1 spectral statistics);
- ``attentive``: ``AttentiveHead``, attention pooling over the ``SEQ_CHUNKS`` time-chunk means of
  one Whisper layer (a small learned head over the frame sequence).
Scores are decision values (log-odds, fake > 0); the fusion is the core's non-negative stacking;
``Calibration`` (Platt) maps the fused score to p(fake); ``OperatingPoints`` give the verdict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detectors.calibration import Calibration, OperatingPoints
from detectors.training.probe import LinearProbe

MODEL_FILE = "audio_whisper.json"
ATTENTIVE_FILE = "attentive_head.pt"
D_MODEL = 512


def feature_matrix(names: Mapping[str, np.ndarray], keys: Sequence[str]) -> np.ndarray:
    """Stack named features side by side: (n, d) arrays, or 1-D vectors of one file -> (1, d)."""
    parts = [np.atleast_2d(np.asarray(names[k], dtype=np.float32)) for k in keys]
    return np.concatenate(parts, axis=1)


class AttentiveHead:
    """Attention pooling over a short sequence of frame-chunk vectors, then a linear score.

    tokens (n, k, d) -> LayerNorm -> Linear(d, h) + GELU -> attention weights (softmax over k)
    -> weighted mean and std of the projected tokens -> Linear(2h, 1). About 33k parameters for
    d = 512, h = 64.
    """

    def __init__(self, d: int = D_MODEL, hidden: int = 64, seed: int = 0) -> None:
        import torch
        from torch import nn

        torch.manual_seed(seed)
        self.d, self.hidden = d, hidden
        self.net = nn.ModuleDict({
            "norm": nn.LayerNorm(d),
            "proj": nn.Linear(d, hidden),
            "att": nn.Linear(hidden, 1),
            "out": nn.Linear(2 * hidden, 1),
            "drop": nn.Dropout(0.2),
        })
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def _forward(self, x):
        import torch

        h = torch.nn.functional.gelu(self.net["proj"](self.net["norm"](x)))
        h = self.net["drop"](h)
        a = torch.softmax(self.net["att"](h).squeeze(-1), dim=1).unsqueeze(-1)
        mu = (a * h).sum(1)
        sd = torch.sqrt(torch.clamp((a * (h - mu.unsqueeze(1)) ** 2).sum(1), min=1e-6))
        return self.net["out"](torch.cat([mu, sd], dim=1)).squeeze(-1)

    def _prep(self, X: np.ndarray):
        import torch

        Z = (np.asarray(X, dtype=np.float32).reshape(len(X), -1, self.d) - self.mean_) / self.scale_
        return torch.from_numpy(np.nan_to_num(Z).astype(np.float32))

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None, epochs: int = 25,
            lr: float = 2e-3, weight_decay: float = 1e-2, batch: int = 128, seed: int = 0) -> AttentiveHead:
        import torch

        T = np.asarray(X, dtype=np.float32).reshape(len(X), -1, self.d)
        self.mean_ = np.nanmean(T, axis=(0, 1))
        sd = np.nanstd(T, axis=(0, 1))
        self.scale_ = np.where(sd > 1e-6, sd, 1.0).astype(np.float32)
        Xt = self._prep(X)
        yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if sample_weight is None:
            for c in (0, 1):
                m = np.asarray(y) == c
                if m.any():
                    w[m] = len(y) / (2 * m.sum())
        wt = torch.from_numpy((w / w.mean()).astype(np.float32))
        opt = torch.optim.AdamW(self.net.parameters(), lr=lr, weight_decay=weight_decay)
        g = torch.Generator().manual_seed(seed)
        self.net.train()
        for _ in range(epochs):
            order = torch.randperm(len(yt), generator=g)
            for i in range(0, len(order), batch):
                idx = order[i : i + batch]
                x = Xt[idx]
                x = x + 0.05 * torch.randn(x.shape, generator=g)  # small feature noise: a regulariser
                loss = (torch.nn.functional.binary_cross_entropy_with_logits(self._forward(x), yt[idx], reduction="none") * wt[idx]).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.net.eval()
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._forward(self._prep(X)).numpy().astype(np.float64)

    def save(self, path: Path) -> None:
        import torch

        torch.save({"state": self.net.state_dict(), "mean": self.mean_, "scale": self.scale_, "d": self.d,
                    "hidden": self.hidden}, path)

    @classmethod
    def load(cls, path: Path) -> AttentiveHead:
        import torch

        blob = torch.load(path, map_location="cpu", weights_only=False)
        head = cls(int(blob["d"]), int(blob["hidden"]))
        head.net.load_state_dict(blob["state"])
        head.net.eval()
        head.mean_, head.scale_ = blob["mean"], blob["scale"]
        return head


@dataclass
class Head:
    """One stream's head: which features it reads and how it scores them."""

    name: str
    kind: str  # "linear" or "attentive"
    keys: list[str]
    probe: LinearProbe | None = None
    attentive: AttentiveHead | None = None

    def score(self, names: Mapping[str, np.ndarray]) -> np.ndarray:
        X = feature_matrix(names, self.keys)
        if self.kind == "linear":
            assert self.probe is not None
            return self.probe.score(X)
        assert self.attentive is not None
        return self.attentive.score(X)


@dataclass
class AudioV2Model:
    """Heads + non-negative fusion + calibration + operating points (one JSON file)."""

    heads: list[Head]
    weights: dict[str, float]
    bias: float
    calibration: Calibration
    operating_points: OperatingPoints
    info: dict = field(default_factory=dict)

    def stream_scores(self, features: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """``features``: stream name (``whisper``, ``v1``) -> its named features -> per-head scores."""
        return {h.name: h.score(features[self.stream_of(h)]) for h in self.heads}

    def stream_of(self, head: Head) -> str:
        return self.info.get("head_streams", {}).get(head.name, "whisper")

    def fused(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        z = np.full(np.asarray(next(iter(scores.values()))).shape, self.bias, dtype=np.float64)
        for name, w in self.weights.items():
            z = z + w * np.asarray(scores[name], dtype=np.float64)
        return z

    def probability(self, fused: float | np.ndarray) -> float | np.ndarray:
        return self.calibration.probability(fused)

    def save(self, model_dir: Path) -> None:
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        heads = []
        for h in self.heads:
            d = {"name": h.name, "kind": h.kind, "keys": h.keys}
            if h.kind == "linear":
                d["probe"] = h.probe.to_dict()
            else:
                d["file"] = ATTENTIVE_FILE
                h.attentive.save(model_dir / ATTENTIVE_FILE)
            heads.append(d)
        blob = {"heads": heads, "weights": self.weights, "bias": self.bias,
                "calibration": self.calibration.to_dict(), "operating_points": self.operating_points.to_dict(),
                "info": self.info}
        (model_dir / MODEL_FILE).write_text(json.dumps(blob, indent=1))

    @classmethod
    def load(cls, model_dir: Path) -> AudioV2Model:
        model_dir = Path(model_dir)
        blob = json.loads((model_dir / MODEL_FILE).read_text())
        heads = []
        for d in blob["heads"]:
            if d["kind"] == "linear":
                heads.append(Head(d["name"], "linear", list(d["keys"]), probe=LinearProbe.from_dict(d["probe"])))
            else:
                heads.append(Head(d["name"], "attentive", list(d["keys"]), attentive=AttentiveHead.load(model_dir / d["file"])))
        return cls(heads, {k: float(v) for k, v in blob["weights"].items()}, float(blob["bias"]),
                   Calibration.from_dict(blob["calibration"]), OperatingPoints.from_dict(blob["operating_points"]),
                   blob.get("info", {}))
