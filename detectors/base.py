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
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np

from detectors.media import AudioClip, MediaRef
from detectors.schema import AnalysisResult, MediaType
from detectors.settings import Settings, get_settings

if TYPE_CHECKING:
    from detectors.recipes.models import ModelClient

# progress(stage, fraction 0..1 within the stage, extra payload such as partial scores)
ProgressFn = Callable[[str, float, dict], None]


def no_progress(stage: str, fraction: float, extra: dict) -> None:
    """The default progress sink: ignore."""


P = TypeVar("P")
# Where a detector is loaded: "host" runs prepare and fuse (its model calls go to a ModelClient),
# "model" runs infer, "all" both (in-process use).
Part = Literal["host", "model", "all"]


def _no_payload() -> Any:
    """An empty payload (a detector that has nothing beyond its model inputs)."""
    return {}


@dataclass
class Prepared(Generic[P]):
    """What ``preprocess`` hands on: model inputs to score in batches, plus everything else the
    detector needs to finish the verdict in ``postprocess`` (features, faces, timings ...).

    ``payload`` is typed per detector (``Prepared[ImagePayload]``, ``Prepared[VideoPayload]`` ...:
    see ``detectors.recipes.payloads``)."""

    ref: MediaRef | None
    model_inputs: list[np.ndarray] = field(default_factory=list)
    payload: P = field(default_factory=lambda: _no_payload())
    audio: AudioClip | None = None  # the sound track of a medium the audio detector should hear
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
    def postprocess(self, prepared: Prepared, scores: list[float]) -> AnalysisResult:
        """Fuse scores and features into the calibrated result."""

    def load_part(self, part: Part, models: ModelClient | None = None) -> None:
        """Load what one place of the graph uses (see ``Part``): a host needs no inference weights
        when its model calls go elsewhere. Default: everything (``load``)."""
        self.load()

    def info(self) -> dict:
        """Name, modality, load state and the weights' version for ``/api/status``."""
        return {"name": self.name, "modality": self.modality, "loaded": self.loaded}

    def analyze(self, ref: MediaRef, progress: ProgressFn = no_progress) -> AnalysisResult:
        """This modality's recipe in one process (CLI, evaluation, notebooks): ``pipeline.Analyzer``
        with this detector (the other modalities' detectors a recipe needs come from the settings)."""
        from detectors.pipeline import Analyzer

        analyzer = getattr(self, "_own_analyzer", None)
        if analyzer is None:  # kept: a video's image and audio detectors load once, not per call
            analyzer = self._own_analyzer = Analyzer(self.settings, detectors={self.modality: self})
        return analyzer.analyze_ref(ref, progress)


@runtime_checkable
class ClipPreparer(Protocol):
    """An audio detector that can prepare an already decoded clip (a video's sound track)."""

    def preprocess_clip(self, clip: AudioClip, ref: MediaRef | None, progress: ProgressFn = no_progress) -> Prepared:
        ...


@runtime_checkable
class VideoFusion(Protocol):
    """What the video recipe needs of a video detector beyond the contract: temporal cues from the
    prepared payload, and a fusion that takes the sound track's verdict."""

    def temporal(self, prepared: Prepared) -> dict:
        ...

    def postprocess(self, prepared: Prepared, scores: list[float], audio_result: AnalysisResult | None = None
                    ) -> AnalysisResult:
        ...


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
