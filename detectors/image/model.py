"""The project's image model: frozen ImageNet MobileNetV2 features + a trained linear head.

Input: RGB uint8 crops of ``IMAGE_INPUT_SIZE`` (the whole image resized, or an aligned face).
Output: one raw logit per crop (log-odds of fake before calibration). The head is a standardised
logistic regression stored as ``head.npz`` (a few kB) beside its model card.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from detectors.faces import IMAGE_INPUT_SIZE
from detectors.image.backbone import MobileNetV2Features, extract, load_backbone

HEAD_FILE = "head.npz"


@dataclass
class LinearHead:
    """logit = ((x - mean) / scale) . coef + intercept"""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    meta: dict

    def logits(self, feats: np.ndarray) -> np.ndarray:
        z = (np.asarray(feats, np.float64) - self.mean) / self.scale
        return z @ self.coef + self.intercept

    def save(self, path: str | Path) -> None:
        np.savez(
            path,
            mean=self.mean.astype(np.float32),
            scale=self.scale.astype(np.float32),
            coef=self.coef.astype(np.float32),
            intercept=np.float64(self.intercept),
            meta=np.array(json.dumps(self.meta)),
        )

    @classmethod
    def load(cls, path: str | Path) -> LinearHead:
        with np.load(path, allow_pickle=False) as d:
            return cls(
                mean=d["mean"].astype(np.float64),
                scale=d["scale"].astype(np.float64),
                coef=d["coef"].astype(np.float64),
                intercept=float(d["intercept"]),
                meta=json.loads(str(d["meta"])),
            )


class ImageModel:
    """Backbone + head; ``logits`` scores a batch of 224 px RGB crops."""

    def __init__(self, backbone: MobileNetV2Features, head: LinearHead | None) -> None:
        self.backbone = backbone
        self.head = head

    @classmethod
    def load(cls, model_dir: str | Path | None, threads: int = 1) -> ImageModel:
        torch.set_num_threads(threads)
        head = None
        if model_dir is not None:
            path = Path(model_dir) / HEAD_FILE
            if not path.exists():
                raise FileNotFoundError(
                    f"no image head at {path}; train one with `deepfake-train image --out {model_dir}`"
                )
            head = LinearHead.load(path)
        return cls(load_backbone(), head)

    def features(self, crops: list[np.ndarray]) -> np.ndarray:
        for c in crops:
            if c.shape != (IMAGE_INPUT_SIZE, IMAGE_INPUT_SIZE, 3) or c.dtype != np.uint8:
                raise ValueError(f"model inputs must be {IMAGE_INPUT_SIZE}x{IMAGE_INPUT_SIZE}x3 uint8 RGB, got {c.shape} {c.dtype}")
        return extract(self.backbone, crops)

    def logits(self, crops: list[np.ndarray]) -> np.ndarray:
        if self.head is None:
            raise RuntimeError("ImageModel has no head loaded")
        return self.head.logits(self.features(crops))
