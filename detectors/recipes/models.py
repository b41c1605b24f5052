"""Named models a recipe calls, and the in-process implementation of those calls.

Four names: ``image`` and ``audio`` are the configured detectors' ``infer`` (one raw score per
input); ``clip`` and ``whisper`` are the frozen backbones ``video-v2`` reads (CLIP B/16 embeddings
of 224 px views, Whisper base hidden states of a window). A recipe only sees ``ModelClient``: in
one process that is ``LocalModels``; in the Serve graph each call goes to the deployment that holds
the model (``deployments/models.py``), so only that deployment loads its weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

import numpy as np

from detectors.base import Detector
from detectors.recipes.device import DeviceChoice, select_device
from detectors.schema import MediaType

ModelName = Literal["image", "audio"]
BackboneName = Literal["clip", "whisper"]
INFER_CHUNK = 16  # inputs per infer call in one process (bounded memory for long videos)


class ModelClient(Protocol):
    """What a recipe may ask of the models; the same calls in one process and in the graph."""

    def scores(self, model: ModelName, inputs: list[np.ndarray]) -> list[float]:
        """Raw scores, one per input, from the named detector's ``infer``."""
        ...

    def embed(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        """CLIP B/16 representations (``proj``, ``pen``, ``mid``) of 224 px RGB views."""
        ...

    def states(self, samples: np.ndarray, upto: int | None = None,
               keep: tuple[int, ...] | None = None) -> list[np.ndarray]:
        """Whisper base hidden states (T, d) of layers 0..``upto`` for one 16 kHz window; with
        ``keep``, the other layers come back empty (less to compute and to move)."""
        ...


def infer_in_chunks(detector: Detector, inputs: list[np.ndarray], chunk: int = INFER_CHUNK) -> list[float]:
    """Score many inputs in bounded batches."""
    scores: list[float] = []
    for i in range(0, len(inputs), chunk):
        scores.extend(detector.infer(inputs[i : i + chunk]))
    return scores


def only_layers(states: list[np.ndarray], keep: tuple[int, ...] | None) -> list[np.ndarray]:
    """``states`` with the layers not in ``keep`` replaced by empty arrays (indices unchanged)."""
    if keep is None:
        return states
    return [s if i in keep else np.zeros((0,) + s.shape[1:], s.dtype) for i, s in enumerate(states)]


class WhisperLayersOf:
    """A ``states(samples)`` backbone over a ``ModelClient`` that computes and returns only the
    layers ``keep`` (what video-v2's analyser reads)."""

    def __init__(self, models: ModelClient, keep: tuple[int, ...]) -> None:
        self.models, self.keep = models, tuple(keep)

    def states(self, samples: np.ndarray, upto: int | None = None) -> list[np.ndarray]:
        return self.models.states(samples, max(self.keep) if upto is None else upto, self.keep)


class LocalModels:
    """The named models in this process. The backbones are shared with the image / audio detector
    when that one already holds them (``image-clip``'s CLIP stream, ``audio-whisper``'s encoder);
    otherwise each is loaded on first use."""

    def __init__(self, detector: Callable[[MediaType], Detector], chunk: int = INFER_CHUNK,
                 device: DeviceChoice = "cpu") -> None:
        self._detector = detector
        self.chunk = chunk
        self.device_choice = device  # where our own backbones run (``select_device``, resolved on first load)
        self._clip: Any = None
        self._whisper: Any = None

    def scores(self, model: ModelName, inputs: list[np.ndarray]) -> list[float]:
        if not inputs:
            return []
        return infer_in_chunks(self._detector(model), list(inputs), self.chunk)

    def embed(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        return self.clip().embed(images)

    def states(self, samples: np.ndarray, upto: int | None = None,
               keep: tuple[int, ...] | None = None) -> list[np.ndarray]:
        return only_layers(self.whisper().states(samples, upto), keep)

    def clip(self) -> Any:
        """The CLIP stream: the image detector's when it has one loaded, else our own."""
        if self._clip is None:
            stream = getattr(self._detector("image"), "streams", {}).get("clip")
            if stream is not None and getattr(stream, "session", None) is not None:
                self._clip = stream
            else:
                from detectors.image.clip_stream import ClipStream

                own = ClipStream(crops=(), faces=False)
                own.device = select_device(self.device_choice).name
                own.load()
                self._clip = own
        return self._clip

    def whisper(self) -> Any:
        """The Whisper layers: the audio detector's encoder when it holds one, else our own."""
        if self._whisper is None:
            from detectors.audio.v2_streams import WhisperLayers

            stream = getattr(self._detector("audio"), "stream", None)
            if isinstance(stream, WhisperLayers) and stream.encoder is not None:
                self._whisper = stream
            else:
                own = WhisperLayers(device=select_device(self.device_choice).name)
                own.load()
                self._whisper = own
        return self._whisper

    def held(self) -> list[str]:
        """The backbones loaded so far (for ``/api/status``)."""
        return [name for name, obj in (("clip", self._clip), ("whisper", self._whisper)) if obj is not None]
