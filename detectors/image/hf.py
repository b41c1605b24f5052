"""``image-hf``: any transformers ``AutoModelForImageClassification`` checkpoint (ResNet-50, ViT, ...).

The checkpoint comes from ``settings.image_model`` (a local folder, or a hub id when the machine
can reach the hub). Which output is "fake" is read from ``config.id2label``. Calibration comes
from ``calibration.json`` beside a local checkpoint (Platt a, b and threshold fitted on the
checkpoint's scores); without one the raw probability is used with threshold 0.5 and
``modelUsed`` says the model is uncalibrated.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detectors.base import Prepared, register
from detectors.calibration import Calibration
from detectors.image.detector import ImageDetectorBase, severity_of
from detectors.image.prepare import ImageEvidence
from detectors.schema import AnalysisResult, Anomaly, ComponentScore, FaceResult, verdict_fields

CALIBRATION_FILE = "calibration.json"
FAKE_LABEL = re.compile(r"fake|spoof|manipulat|deepfake|synthetic|generated|artificial|forged|\bai\b", re.I)
REAL_LABEL = re.compile(r"real|bona.?fide|authentic|genuine|pristine|original|human|\bnot.?ai\b", re.I)


def fake_label_ids(id2label: dict[int, str]) -> list[int]:
    """Indices of the "fake" class(es) from a config's id2label; raises when none can be told."""
    labels = {int(k): str(v) for k, v in id2label.items()}
    fake = [i for i, name in labels.items() if FAKE_LABEL.search(name) and not re.search(r"\bnot\b", name, re.I)]
    if fake:
        return sorted(fake)
    real = [i for i, name in labels.items() if REAL_LABEL.search(name)]
    if len(labels) == 2 and len(real) == 1:
        return [i for i in labels if i not in real]
    raise ValueError(
        f"cannot tell which label means fake in id2label={labels}; name one 'fake' (or 'real' in a two-class model)"
    )


@register("image-hf")
class HFImageDetector(ImageDetectorBase):
    """A transformers image classifier scoring the whole image and each aligned face."""

    def load(self) -> None:
        if self._loaded:
            return
        from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification

        source = self.settings.image_model
        if not source:
            raise ValueError("image-hf needs IMAGE_MODEL (a checkpoint folder or a model id)")
        torch.set_num_threads(self.settings.torch_threads)
        # the project's forensic ranges (for anomalies) live in MODEL_PATH/image when trained
        self._load_common(Path(self.settings.model_path) / "image")
        config = AutoConfig.from_pretrained(source)
        self.fake_ids = fake_label_ids(config.id2label)
        self.model = AutoModelForImageClassification.from_pretrained(source).eval()
        try:
            self.processor = AutoImageProcessor.from_pretrained(source)
        except (OSError, ValueError):
            self.processor = None  # no preprocessor_config.json: ImageNet normalisation at config.image_size
        self.input_size = int(getattr(config, "image_size", 224) or 224)
        cal_path = Path(source) / CALIBRATION_FILE
        if cal_path.exists():
            self.calibration = Calibration.load(cal_path)
            self.calibrated = True
        else:
            self.calibration = Calibration(a=1.0, b=0.0, threshold=0.5, method="identity")
            self.calibrated = False
        self.source = source
        self.arch = (config.architectures or [type(self.model).__name__])[0]
        self._loaded = True

    @property
    def model_used(self) -> str:
        if not self.loaded:
            return "image-hf"
        state = "calibrated" if self.calibrated else "uncalibrated: raw softmax, threshold 0.5"
        return f"image-hf {self.source} ({self.arch}, {state})"

    def _pixels(self, inputs: list[np.ndarray]) -> torch.Tensor:
        if self.processor is not None:
            return self.processor(images=list(inputs), return_tensors="pt")["pixel_values"]
        import cv2

        from detectors.image.backbone import to_tensor

        size = self.input_size
        return to_tensor([cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA) for x in inputs])

    @torch.inference_mode()
    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        """Log-odds of the fake class(es) against the rest, one per input."""
        if not inputs:
            return []
        logits = self.model(pixel_values=self._pixels(inputs)).logits.float()
        mask = torch.zeros(logits.shape[1], dtype=torch.bool)
        mask[self.fake_ids] = True
        fake = torch.logsumexp(logits[:, mask], dim=1)
        rest = torch.logsumexp(logits[:, ~mask], dim=1) if (~mask).any() else torch.zeros_like(fake)
        return [float(v) for v in (fake - rest)]

    def postprocess(self, prepared: Prepared, scores: list[float], **extra: Any) -> AnalysisResult:
        ev: ImageEvidence = prepared.payload["evidence"]
        if ev.inconclusive:
            return self._inconclusive(ev, ev.inconclusive, self.model_used)
        if not scores:
            return self._inconclusive(ev, "the model produced no score for this image", self.model_used)
        cal, thr = self.calibration, self.calibration.threshold
        probs = [float(cal.probability(s)) for s in scores]
        # The most suspicious input (whole image or a face) decides; calibration.json is fitted on it.
        p = max(probs)
        result = AnalysisResult(
            **verdict_fields(p, thr), media_type="image", model_used=self.model_used, width=ev.width, height=ev.height
        )
        anomalies, _, _ = self.forensic_anomalies(ev)
        faces = []
        for i, face in enumerate(ev.faces):
            pf = probs[1 + i]
            faces.append(FaceResult(box=face.box, fake_probability=round(pf, 4), is_deepfake=pf >= thr))
            if pf >= thr:
                anomalies.append(
                    Anomaly(
                        type="Facial inconsistency",
                        severity=severity_of(pf, thr),
                        description=f"Face {i + 1} at {face.box} is classified fake by {self.source}: p = {pf:.2f}.",
                        value=round(pf, 4),
                    )
                )
        if probs[0] >= thr:
            anomalies.append(
                Anomaly(
                    type="Synthesis artifacts",
                    severity=severity_of(probs[0], thr),
                    description=f"The whole image is classified fake by {self.source}: p = {probs[0]:.2f}.",
                    value=round(probs[0], 4),
                )
            )
        result.faces = faces
        result.anomalies = anomalies
        result.components = [
            ComponentScore(name=f"hf:{self.arch}:whole-image", used=True, fake_probability=round(probs[0], 4)),
            ComponentScore(
                name=f"hf:{self.arch}:faces",
                used=bool(ev.faces),
                fake_probability=round(max(probs[1:]), 4) if ev.faces else None,
                reason=None if ev.faces else "no face found",
            ),
            ComponentScore(
                name="forensic-features",
                used=False,
                reason="no fusion weights for this checkpoint; out-of-range features are listed as anomalies only",
            ),
        ]
        return result
