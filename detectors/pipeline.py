"""In-process analysis of one file: the modality's recipe with the models in this process.

The CLI, the evaluation harness, training and the Ray Data batch job use ``Analyzer``; the Serve
graph's ``Analysis`` deployment runs the very same recipes (``detectors.recipes``) with the model
calls sent to the model deployments.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from detectors import base
from detectors.base import Detector, Part, ProgressFn, no_progress
from detectors.media import MediaRef, make_media_ref
from detectors.recipes.base import recipe_for
from detectors.recipes.models import INFER_CHUNK, LocalModels, ModelClient, infer_in_chunks
from detectors.schema import AnalysisResult, MediaType, operating_points_info
from detectors.settings import Settings, get_settings

__all__ = ["INFER_CHUNK", "Analyzer", "detector_name", "detector_status", "infer_in_chunks", "operating_points_of"]


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


class Analyzer:
    """Holds one loaded detector per modality and analyses files end to end with their recipes.

    ``part``: what of each detector to load here ("all" in one process; the graph's ``Analysis``
    deployment loads "host" and passes remote ``models``). ``detectors``: ready detectors to use
    instead of creating them from the settings (``Detector.analyze`` passes itself).
    """

    def __init__(self, settings: Settings | None = None, part: Part = "all", models: ModelClient | None = None,
                 detectors: dict[MediaType, Detector] | None = None) -> None:
        self.settings = settings or get_settings()
        self.part = part
        self._detectors: dict[MediaType, Detector] = {}
        for module in self.settings.detector_plugins:
            importlib.import_module(module)
        self.local_models = LocalModels(self.detector, device=self.settings.device)
        self.models: ModelClient = models or self.local_models
        for modality, det in (detectors or {}).items():
            if not det.loaded:
                det.load_part(self.part, self.models)
            self._detectors[modality] = det

    def detector(self, modality: MediaType) -> Detector:
        if modality not in self._detectors:
            det = base.create(detector_name(self.settings, modality), settings=self.settings)
            det.load_part(self.part, self.models)
            self._detectors[modality] = det
        return self._detectors[modality]

    def loaded(self) -> dict[MediaType, Detector]:
        """The detectors loaded so far, by modality."""
        return dict(self._detectors)

    def load_all(self) -> None:
        modalities: tuple[MediaType, ...] = ("image", "audio", "video")
        for modality in modalities:
            self.detector(modality)

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
        result = recipe_for(ref.media_type, self.detector).run(ref, self.models, progress)
        result.processing_time = round(time.perf_counter() - start, 3)
        result.source = ref.source
        return result
