"""The three recipes: each modality's analysis written once, as typed steps.

    image  prepare → 'image' model → fuse
    audio  prepare → 'audio' model → fuse                (``run_clip``: a video's sound track)
    video  prepare (v2: 'clip' / 'whisper' inside) → temporal → 'image' model on face crops
           → the audio recipe on the sound track → fuse

``progress(stage, fraction, extra)`` gets the fraction of the *whole* analysis (0..1), so a caller
can show one monotonic percentage; the detectors' own progress is mapped into their step's span.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar
from weakref import WeakKeyDictionary

import numpy as np

from detectors.base import ClipPreparer, Detector, Prepared, ProgressFn, VideoFusion, no_progress
from detectors.media import AudioClip, MediaRef
from detectors.recipes.models import ModelClient, ModelName
from detectors.schema import AnalysisResult, MediaType

DetectorSource = Callable[[MediaType], Detector]  # modality -> a loaded detector
_PREPARE_LOCKS: WeakKeyDictionary[Detector, threading.Lock] = WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def prepare_lock(detector: Detector) -> threading.Lock:
    """One lock per detector instance around its prepare step: the detectors keep state that two
    threads must not share (OpenCV cascades, silero VAD), and a serving replica runs several
    recipes at once. Model calls and fusion run outside it."""
    with _LOCKS_LOCK:
        lock = _PREPARE_LOCKS.get(detector)
        if lock is None:
            lock = _PREPARE_LOCKS[detector] = threading.Lock()
        return lock


def span(progress: ProgressFn, lo: float, hi: float) -> ProgressFn:
    """A step's own 0..1 progress mapped into [lo, hi] of the whole analysis."""

    def report(stage: str, fraction: float, extra: dict) -> None:
        progress(stage, lo + (hi - lo) * min(1.0, max(0.0, float(fraction))), extra)

    return report


def model_step(models: ModelClient, model: ModelName, inputs: list[np.ndarray], progress: ProgressFn,
               stage: str, done_at: float) -> list[float]:
    """One named-model call over all of a request's inputs; reports the scores when they are in."""
    if not inputs:
        return []
    scores = [float(s) for s in models.scores(model, inputs)]
    progress(stage, done_at, {"batch": 0, "offset": 0, "inputs": len(inputs), "scores": scores})
    return scores


class Recipe(ABC):
    """One modality's analysis over detectors (from ``detectors``) and named models (``models``)."""

    modality: ClassVar[MediaType]

    def __init__(self, detectors: DetectorSource) -> None:
        self.detectors = detectors

    @abstractmethod
    def run(self, ref: MediaRef, models: ModelClient, progress: ProgressFn = no_progress) -> AnalysisResult:
        """The whole analysis of one file."""


class _OneModelRecipe(Recipe):
    """prepare → the modality's own model → fuse (images and audio files)."""

    model: ClassVar[ModelName]

    def run(self, ref: MediaRef, models: ModelClient, progress: ProgressFn = no_progress) -> AnalysisResult:
        det = self.detectors(self.modality)
        with prepare_lock(det):
            prepared = det.preprocess(ref, span(progress, 0.10, 0.45))
        scores = model_step(models, self.model, prepared.model_inputs, progress, f"{self.model}_model", 0.90)
        progress("aggregating", 0.92, {})
        return det.postprocess(prepared, scores)


class ImageRecipe(_OneModelRecipe):
    modality = "image"
    model = "image"


class AudioRecipe(_OneModelRecipe):
    modality = "audio"
    model = "audio"

    def run_clip(self, clip: AudioClip, ref: MediaRef | None, models: ModelClient,
                 progress: ProgressFn = no_progress) -> AnalysisResult:
        """The same steps on an already decoded clip (a video's sound track)."""
        det = self.detectors("audio")
        if not isinstance(det, ClipPreparer):
            raise TypeError(f"audio detector {det.name} cannot analyse a decoded sound track (no preprocess_clip)")
        with prepare_lock(self.detectors("audio")):
            prepared = det.preprocess_clip(clip, ref, span(progress, 0.0, 0.5))
        scores = model_step(models, "audio", prepared.model_inputs, progress, "audio_model", 0.9)
        return det.postprocess(prepared, scores)


class VideoRecipe(Recipe):
    modality = "video"

    def run(self, ref: MediaRef, models: ModelClient, progress: ProgressFn = no_progress) -> AnalysisResult:
        det = self.video()
        prepared, scores = self.faces(ref, models, progress)
        audio_result = self.sound_track(prepared, ref, models, progress)
        progress("aggregating", 0.95, {})
        return det.postprocess(prepared, scores, audio_result=audio_result)

    def video(self) -> VideoFusion:
        det = self.detectors("video")
        if not isinstance(det, VideoFusion):
            raise TypeError(f"video detector {det.name} lacks temporal() / postprocess(audio_result=...)")
        return det

    def faces(self, ref: MediaRef, models: ModelClient, progress: ProgressFn = no_progress
              ) -> tuple[Prepared, list[float]]:
        """Prepare (sampling, faces, tracks; video-v2 also its backbones), the temporal step, and
        the 'image' model on the face crops."""
        det = self.detectors("video")
        video = self.video()
        with prepare_lock(det):
            prepared = det.preprocess(ref, span(progress, 0.10, 0.40))
        prepared.payload["temporal"] = video.temporal(prepared)
        progress("video_temporal", 0.40, {})
        scores = model_step(models, "image", prepared.model_inputs, progress, "video_faces_scored", 0.85)
        return prepared, scores

    def sound_track(self, prepared: Prepared, ref: MediaRef | None, models: ModelClient,
                    progress: ProgressFn = no_progress) -> AnalysisResult | None:
        """The audio recipe on the clip's sound track (None without one)."""
        if prepared.audio is None:
            return None
        audio_result = AudioRecipe(self.detectors).run_clip(prepared.audio, ref, models)
        progress("video_audio", 0.90, {"audioFakeProbability": audio_result.fake_probability})
        return audio_result


RECIPES: dict[MediaType, type[Recipe]] = {"image": ImageRecipe, "audio": AudioRecipe, "video": VideoRecipe}


def recipe_for(modality: MediaType, detectors: DetectorSource) -> Recipe:
    """The recipe of one modality over these detectors."""
    return RECIPES[modality](detectors)
