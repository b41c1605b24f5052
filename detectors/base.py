"""The detector contract and the registry that picks detectors by name.

Every detector follows ``load() -> preprocess() -> infer() -> postprocess()`` (as TorchServe
handlers and transformers pipelines do). Only ``infer`` touches the model, and it takes a *list*
of model inputs so that a serving layer can batch inputs from many requests into one call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from detectors.media import MediaRef
from detectors.schema import AnalysisResult, MediaType
from detectors.settings import Settings, get_settings

# progress(stage, fraction 0..1 within the stage, extra payload such as partial scores)
ProgressFn = Callable[[str, float, dict], None]


def no_progress(stage: str, fraction: float, extra: dict) -> None:
    """The default progress sink: ignore."""


@dataclass
class Prepared:
    """What ``preprocess`` hands on: model inputs to score in batches, plus everything else the
    detector needs to finish the verdict in ``postprocess`` (features, faces, timings ...)."""

    ref: MediaRef | None
    model_inputs: list[np.ndarray] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    audio: Any = None  # an AudioClip for media that carry sound the audio detector should hear
    timings: dict[str, float] = field(default_factory=dict)


class Detector(ABC):
    """Base class for one modality's detector."""

    name: ClassVar[str]
    modality: ClassVar[MediaType]

    def __init__(self, settings: Settings | None = None, model_dir: Path | str | None = None) -> None:
        self.settings = settings or get_settings()
        self.model_dir = Path(model_dir) if model_dir else Path(self.settings.model_path) / self.modality
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    @abstractmethod
    def load(self) -> None:
        """Load weights and calibration (never at import, never per request)."""

    @abstractmethod
    def preprocess(self, ref: MediaRef, progress: ProgressFn = no_progress) -> Prepared:
        """Decode and extract features and model inputs. No model calls."""

    @abstractmethod
    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        """Score a batch of model inputs; one raw score per input."""

    @abstractmethod
    def postprocess(self, prepared: Prepared, scores: list[float], **extra: Any) -> AnalysisResult:
        """Fuse scores and features into the calibrated result."""

    def info(self) -> dict:
        """Name, modality, load state and the weights' version for ``/api/status``."""
        return {"name": self.name, "modality": self.modality, "loaded": self.loaded}

    def analyze(self, ref: MediaRef, progress: ProgressFn = no_progress) -> AnalysisResult:
        """preprocess → infer → postprocess in one process (CLI, evaluation, notebooks)."""
        prepared = self.preprocess(ref, progress)
        scores = self.infer(prepared.model_inputs) if prepared.model_inputs else []
        return self.postprocess(prepared, scores)


_REGISTRY: dict[str, type[Detector]] = {}


def register(name: str) -> Callable[[type[Detector]], type[Detector]]:
    """Class decorator: make a detector available by ``name`` to config and ``create``."""

    def wrap(cls: type[Detector]) -> type[Detector]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"detector name '{name}' registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _import_builtin_detectors() -> None:
    import importlib

    for module in ("detectors.image", "detectors.audio", "detectors.video"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def available() -> list[str]:
    _import_builtin_detectors()
    return sorted(_REGISTRY)


def create(name: str, **kwargs: Any) -> Detector:
    """Instantiate a registered detector (not yet loaded)."""
    _import_builtin_detectors()
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown detector '{name}'; available: {sorted(_REGISTRY)}") from None
    return cls(**kwargs)
