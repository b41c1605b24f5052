"""In-process analysis of one file: the same detectors and the same steps the Serve graph runs.

The CLI, the evaluation harness and the Ray Data batch job use this; the Serve graph runs the
very same ``preprocess`` / ``infer`` / ``postprocess`` calls, split over deployments.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import numpy as np

from detectors import base
from detectors.base import Detector, ProgressFn, no_progress
from detectors.media import MediaRef, make_media_ref
from detectors.schema import AnalysisResult, MediaType, operating_points_info
from detectors.settings import Settings, get_settings

INFER_CHUNK = 16


def detector_name(settings: Settings, modality: MediaType) -> str:
    """The registered detector a modality uses under these settings."""
    if modality == "image":
        return "image-hf" if settings.image_model else settings.image_detector
    if modality == "audio":
        return "audio-hf" if settings.audio_model else settings.audio_detector
    return settings.video_detector


def operating_points_of(detector: Detector) -> dict | None:
    """A loaded detector's verdict operating points and their measured error rates, for ``/api/status``.

    Looked up in this order: ``detector.operating_points`` (an ``OperatingPoints``), then
    ``operating_points`` or ``threshold`` on its ``fusion`` / ``calibration``, then the ``threshold``
    its ``info()`` reports. A detector that stores ``OperatingPoints`` should expose them as the
    ``operating_points`` attribute; an old model's single threshold shows as two points (see
    ``detectors.schema.as_operating_points``). None when the detector has none (e.g. not loaded).
    """
    found = getattr(detector, "operating_points", None)
    for holder in (getattr(detector, "fusion", None), getattr(detector, "calibration", None)):
        if found is None and holder is not None:
            found = getattr(holder, "operating_points", None)
            if found is None:
                found = getattr(holder, "verdict_points", None) or getattr(holder, "threshold", None)
    if found is None:
        found = detector.info().get("threshold")
    try:
        return operating_points_info(found) if found is not None else None
    except (TypeError, ValueError):
        return None


def detector_status(detector: Detector) -> dict:
    """``detector.info()`` plus its ``operating_points`` (points and measured error rates) when loaded."""
    out = dict(detector.info())
    if out.get("loaded") and "operating_points" not in out:
        out["operating_points"] = operating_points_of(detector)
    return out


def infer_in_chunks(detector: Detector, inputs: list[np.ndarray], chunk: int = INFER_CHUNK) -> list[float]:
    """Score many inputs in bounded batches (bounded memory for long videos)."""
    scores: list[float] = []
    for i in range(0, len(inputs), chunk):
        scores.extend(detector.infer(inputs[i : i + chunk]))
    return scores


class Analyzer:
    """Holds one loaded detector per modality and analyses files end to end."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._detectors: dict[MediaType, Detector] = {}
        for module in self.settings.detector_plugins:
            importlib.import_module(module)

    def detector(self, modality: MediaType) -> Detector:
        if modality not in self._detectors:
            det = base.create(detector_name(self.settings, modality), settings=self.settings)
            det.load()
            self._detectors[modality] = det
        return self._detectors[modality]

    def load_all(self) -> None:
        for modality in ("image", "audio", "video"):
            self.detector(modality)  # type: ignore[arg-type]

    def analyze_file(
        self,
        path: str | Path,
        media_type: MediaType | None = None,
        progress: ProgressFn = no_progress,
        source: str | None = None,
    ) -> AnalysisResult:
        """Sniff, check limits, analyse; raises the typed errors of ``detectors.errors``."""
        ref = make_media_ref(path, media_type, source=source or str(path))
        return self.analyze_ref(ref, progress)

    def analyze_ref(self, ref: MediaRef, progress: ProgressFn = no_progress) -> AnalysisResult:
        start = time.perf_counter()
        if ref.media_type == "video":
            result = self._analyze_video(ref, progress)
        else:
            result = self.detector(ref.media_type).analyze(ref, progress)
        result.processing_time = round(time.perf_counter() - start, 3)
        result.source = ref.source
        return result

    def _analyze_video(self, ref: MediaRef, progress: ProgressFn) -> AnalysisResult:
        video = self.detector("video")
        prepared = video.preprocess(ref, progress)
        prepared.payload["temporal"] = video.temporal(prepared)  # type: ignore[attr-defined]
        scores = infer_in_chunks(self.detector("image"), prepared.model_inputs) if prepared.model_inputs else []
        audio_result = None
        if prepared.audio is not None:
            audio = self.detector("audio")
            audio_prepared = audio.preprocess_clip(prepared.audio, ref, progress)  # type: ignore[attr-defined]
            audio_scores = (
                infer_in_chunks(audio, audio_prepared.model_inputs) if audio_prepared.model_inputs else []
            )
            audio_result = audio.postprocess(audio_prepared, audio_scores)
        return video.postprocess(prepared, scores, audio_result=audio_result)
