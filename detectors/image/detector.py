"""``image-default``: the project's trained model + forensic features + calibrated fusion.

preprocess: decode, faces, forensic features at native resolution, model inputs.
infer:      MobileNetV2 features + linear head -> one raw logit per 224 px crop (batched).
postprocess: fusion of whole-image score, the most suspicious face, and the forensic score,
             calibrated on validation sources; a ``FaceResult`` per face; readable anomalies.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import Detector, Part, Prepared, ProgressFn, no_progress, register
from detectors.errors import ModelNotReadyError
from detectors.faces import FaceDetector
from detectors.image.anomalies import RANGES_FILE, FeatureRanges
from detectors.image.fusion import FUSION_FILE, Fusion
from detectors.image.model import HEAD_FILE, ImageModel, LinearHead
from detectors.image.prepare import ImageEvidence, prepare_ref
from detectors.media import MediaRef
from detectors.recipes.payloads import ImagePayload
from detectors.schema import (
    AnalysisResult,
    Anomaly,
    ComponentScore,
    FaceResult,
    inconclusive_fields,
    verdict_fields,
)


def severity_of(p: float, threshold: float) -> str:
    """Severity of a learned-score anomaly from how far past the threshold p is."""
    span = max(1e-6, 1.0 - threshold)
    x = (p - threshold) / span
    return "high" if x >= 0.6 else "medium" if x >= 0.25 else "low"


class ImageDetectorBase(Detector):
    """What every image detector shares: face detector, forensic ranges, preprocessing."""

    modality = "image"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.faces = FaceDetector()
        self.ranges: FeatureRanges | None = None

    def _load_common(self, ranges_dir: Path | None) -> None:
        self.faces.load()
        path = (ranges_dir or self.model_dir) / RANGES_FILE
        self.ranges = FeatureRanges.load(path) if path.exists() else None

    def preprocess(self, ref: MediaRef, progress: ProgressFn = no_progress) -> Prepared[ImagePayload]:
        return prepare_ref(ref, self.settings.max_image_pixels, self.faces, progress)

    def forensic_anomalies(self, ev: ImageEvidence) -> tuple[list[Anomaly], float, list[float]]:
        """Anomalies of the whole image and each face, the image's forensic score, per-face scores."""
        if self.ranges is None:
            return [], 0.0, [0.0] * len(ev.faces)
        out = self.ranges.anomalies(ev.forensics.image)
        face_scores = []
        for i, (face, feats) in enumerate(zip(ev.faces, ev.forensics.faces, strict=False)):
            x, y, w, h = face.box
            out += self.ranges.anomalies(feats, where=f"face {i + 1} (at x={x}, y={y}, {w}x{h} px)")
            face_scores.append(self.ranges.score(feats))
        return out, self.ranges.score(ev.forensics.image), face_scores

    def _inconclusive(self, ev: ImageEvidence, reason: str, model_used: str) -> AnalysisResult:
        return AnalysisResult(
            **inconclusive_fields(reason),
            media_type="image",
            model_used=model_used,
            width=ev.width,
            height=ev.height,
            faces=[],
        )


@register("image-default")
class DefaultImageDetector(ImageDetectorBase):
    """Trained MobileNetV2 head + forensic features, fused and calibrated on validation sources."""

    def load(self) -> None:
        self.load_part("all")

    def load_part(self, part: Part, models: object = None) -> None:
        """A "host" (prepare and fuse) reads the head's facts but loads no MobileNetV2."""
        if self._loaded:
            return
        self._load_common(None)
        if self.ranges is None:
            raise FileNotFoundError(f"no {RANGES_FILE} in {self.model_dir}; train with `deepfake-train image`")
        fusion_path = self.model_dir / FUSION_FILE
        if not fusion_path.exists():
            raise FileNotFoundError(f"no {FUSION_FILE} in {self.model_dir}; train with `deepfake-train image`")
        self.fusion = Fusion.load(fusion_path)
        self.model: ImageModel | None = None
        if part == "host":
            self.head: LinearHead | None = LinearHead.load(self.model_dir / HEAD_FILE)
        else:
            self.model = ImageModel.load(self.model_dir, threads=self.settings.torch_threads)
            self.head = self.model.head
        self._loaded = True

    @property
    def model_used(self) -> str:
        head = self.head.meta if self.loaded and self.head else {}
        return (
            f"image-default {head.get('version', '')}: MobileNetV2 (ImageNet, frozen) + linear head, "
            "forensic features, calibrated fusion"
        ).replace("  ", " ")

    def info(self) -> dict:
        out = super().info()
        if self.loaded:
            out.update(version=self.head.meta.get("version") if self.head else None, threshold=self.fusion.threshold,
                       backbone="mobilenetv2" if self.model is not None else None)
        return out

    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        if not inputs:
            return []
        if self.model is None:
            raise ModelNotReadyError("image-default was loaded as a host (no MobileNetV2): its model calls go elsewhere")
        return [float(v) for v in self.model.logits(inputs)]

    def postprocess(self, prepared: Prepared[ImagePayload], scores: list[float]) -> AnalysisResult:
        ev: ImageEvidence = prepared.payload["evidence"]
        if ev.inconclusive:
            return self._inconclusive(ev, ev.inconclusive, self.model_used)
        if not scores:
            return self._inconclusive(ev, "the model produced no score for this image", self.model_used)
        n_faces = len(ev.faces)
        anomalies, forensic_image, forensic_faces = self.forensic_anomalies(ev)
        comp = fusion_inputs(scores, n_faces, forensic_image, forensic_faces)
        s_whole, s_face, s_forensic = comp["whole"], comp["face"], comp["forensic"]
        face_scores = [float(s) for s in scores[1 : 1 + n_faces]]
        fusion = self.fusion
        thr = fusion.threshold
        p = fusion.probability({"whole": s_whole, "face": s_face, "forensic": s_forensic})
        result = AnalysisResult(
            **verdict_fields(p, thr),
            media_type="image",
            model_used=self.model_used,
            width=ev.width,
            height=ev.height,
        )
        faces: list[FaceResult] = []
        face_thr = self.face_threshold
        for i, face in enumerate(ev.faces):
            pf = self.face_probability(face_scores[i])
            faces.append(FaceResult(box=face.box, fake_probability=round(pf, 4), is_deepfake=pf >= face_thr))
            if pf >= face_thr:
                x, y, w, h = face.box
                anomalies.append(
                    Anomaly(
                        type="Facial inconsistency",
                        severity=severity_of(pf, face_thr),
                        description=(
                            f"Face {i + 1} (at x={x}, y={y}, {w}x{h} px) looks manipulated to the trained model: "
                            f"probability of fake {pf:.2f} (face threshold {face_thr:.2f}); it was trained on "
                            "blended (face-swap-like) and generated faces."
                        ),
                        value=round(pf, 4),
                    )
                )
        result.faces = faces
        w = fusion.weights(s_face is not None)
        comp_p = {
            "whole": self._component_p("whole", s_whole),
            "face": self._component_p("face", s_face) if s_face is not None else None,
            "forensic": self._component_p("forensic", s_forensic),
        }
        if comp_p["whole"] is not None and comp_p["whole"] >= thr and not any(f.is_deepfake for f in faces):
            anomalies.append(
                Anomaly(
                    type="Synthesis artifacts",
                    severity=severity_of(comp_p["whole"], thr),
                    description=(
                        f"The whole image looks generated to the trained model: probability {comp_p['whole']:.2f} "
                        f"(threshold {thr:.2f})."
                    ),
                    value=round(comp_p["whole"], 4),
                )
            )
        notes = "; ".join(ev.notes) or None
        result.components = [
            ComponentScore(
                name="mobilenetv2-head:whole-image",
                used=True,
                fake_probability=_r(comp_p["whole"]),
                weight=round(w.get("whole", 0.0), 4),
            ),
            ComponentScore(
                name="mobilenetv2-head:faces",
                used=s_face is not None,
                fake_probability=_r(comp_p["face"]),
                weight=round(w.get("face", 0.0), 4) if s_face is not None else None,
                reason=(f"{n_faces} face(s); the most suspicious face counts" if s_face is not None else "no face found")
                + (f" ({ev.faces_found} found, {n_faces} analysed)" if ev.faces_found > n_faces else ""),
            ),
            ComponentScore(
                name="forensic-features",
                used=w.get("forensic", 0.0) > 0,
                fake_probability=_r(comp_p["forensic"]),
                weight=round(w.get("forensic", 0.0), 4),
                reason=(
                    f"{len(anomalies_of(anomalies))} feature(s) outside the real-photo range"
                    + (f"; {notes}" if notes else "")
                    + ("" if w.get("forensic", 0.0) > 0 else "; weight 0 on validation data, listed for information")
                ),
            ),
        ]
        result.anomalies = sorted(anomalies, key=lambda a: {"high": 0, "medium": 1, "low": 2}[a.severity])
        return result

    def face_probability(self, score: float) -> float:
        """Calibrated probability that one aligned face crop is fake, from its raw ``infer`` logit.

        Uses the face component's own Platt mapping (fitted on validation face crops); the video
        detector can call this for the face crops it scores.
        """
        cal = self.fusion.component_calibration.get("face")
        if cal is None:
            return float(self.fusion.probability({"whole": score, "face": score, "forensic": 0.0}))
        return float(cal.probability(score))

    @property
    def face_threshold(self) -> float:
        """Operating threshold for ``face_probability`` (the face component's EER point on val)."""
        cal = self.fusion.component_calibration.get("face")
        return float(cal.threshold) if cal is not None else self.fusion.threshold

    def _component_p(self, name: str, score: float | None) -> float | None:
        cal = self.fusion.component_calibration.get(name)
        if score is None or cal is None:
            return None
        return float(cal.probability(score))


def fusion_inputs(
    scores: list[float], n_faces: int, forensic_image: float, forensic_faces: list[float]
) -> dict[str, float | None]:
    """The fusion's component scores: whole-image logit, the most suspicious face's logit
    (None without faces), and the forensic exceedance of the image plus its worst face."""
    face_scores = [float(s) for s in scores[1 : 1 + n_faces]]
    return {
        "whole": float(scores[0]),
        "face": max(face_scores) if face_scores else None,
        "forensic": float(forensic_image + max(forensic_faces, default=0.0)),
    }


def anomalies_of(anomalies: list[Anomaly]) -> list[Anomaly]:
    """The forensic (range-based) anomalies, i.e. those that carry a normal range."""
    return [a for a in anomalies if a.normal_range is not None]


def _r(p: float | None) -> float | None:
    return None if p is None or not math.isfinite(p) else round(p, 4)
