"""The model deployments: each holds named models and nothing else the graph needs.

``ImageModel``: 'image' (the image detector's ``infer``) and 'clip' (the CLIP backbone video-v2
reads; shared with image-clip when that is the image detector). ``AudioModel``: 'audio' and
'whisper' (shared with audio-whisper). Score requests from many analyses are batched by number of
inputs (``@serve.batch`` with ``batch_size_fn``); the Analysis deployment calls them directly.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import ClassVar

import numpy as np
from ray import serve
from ray.serve.exceptions import RayServeException

from deployments import metrics
from deployments.replica import release_freed_memory, replica_settings
from detectors.base import Detector
from detectors.logs import get_logger, log_model_loaded
from detectors.pipeline import Analyzer, detector_status
from detectors.recipes.device import select_device
from detectors.schema import MediaType

log = get_logger("deployments")


def count_inputs(requests: list[list[np.ndarray]]) -> int:
    """A batch's size for ``@serve.batch``: the number of model inputs, not of requests."""
    return sum(len(r) for r in requests)


def score_requests(detector: Detector, requests: list[list[np.ndarray]]) -> list[list[float]]:
    """One ``infer`` over the inputs of several requests, split back per request."""
    flat = [x for r in requests for x in r]
    scores = detector.infer(flat) if flat else []
    out, pos = [], 0
    for r in requests:
        out.append([float(s) for s in scores[pos : pos + len(r)]])
        pos += len(r)
    return out


def _in_replica() -> bool:
    try:
        serve.get_replica_context()
    except RayServeException:
        return False
    return True


class ModelHost:
    """One modality's model part (``load_part("model")``) plus the backbone of the same family."""

    modality: ClassVar[MediaType]
    backbone: ClassVar[str]

    def __init__(self) -> None:
        self.settings = replica_settings()
        self.device = select_device(self.settings.device)
        self.max_batch = self.device.max_batch
        self.analyzer = Analyzer(self.settings, part="model")
        self.det = self.analyzer.detector(self.modality)
        if self.settings.video_detector == "video-v2":  # its backbone calls come here: load it now, not on a request
            getattr(self.analyzer.local_models, self.backbone)()
        release_freed_memory()
        metrics.model_info(self.modality, self.det.name, str(self.det.info().get("version") or ""))
        log_model_loaded(f"{type(self).__name__}/{self.det.name}", str(self.det.info()))

    def reconfigure(self, config: dict) -> None:
        self.max_batch = int(config.get("max_batch_size", self.max_batch))
        self._batched.set_max_batch_size(self.max_batch)
        self._batched.set_batch_wait_timeout_s(float(config.get("batch_wait_timeout_s", 0.0)))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.0, max_concurrent_batches=2, batch_size_fn=count_inputs)
    async def _batched(self, requests: list[list[np.ndarray]]) -> list[list[float]]:
        t = time.perf_counter()
        out = await asyncio.to_thread(score_requests, self.det, requests)
        metrics.model_batch(self.modality, count_inputs(requests), len(requests), time.perf_counter() - t)
        return out

    async def scores(self, inputs: list[np.ndarray]) -> list[float]:
        """Raw scores of one request's inputs; in a replica they are batched with other requests'
        (pieces of at most ``max_batch`` inputs, the batcher's limit)."""
        if not inputs:
            return []
        if not _in_replica():  # in-process use (tests): no cross-request batching
            return (await asyncio.to_thread(score_requests, self.det, [list(inputs)]))[0]
        pieces = [list(inputs[i : i + self.max_batch]) for i in range(0, len(inputs), self.max_batch)]
        parts = await asyncio.gather(*(self._batched(p) for p in pieces))
        return [s for part in parts for s in part]

    def info(self) -> dict:
        """What this replica holds: the detector (name, weights version, operating points) and backbones."""
        return {self.modality: detector_status(self.det), "backbones": self.analyzer.local_models.held(),
                "device": self.device.name, "max_batch": self.max_batch, "pid": os.getpid()}

    def check_health(self) -> None:
        if not self.det.loaded:
            raise RuntimeError(f"{self.modality} model is not loaded")


@serve.deployment
class ImageModel(ModelHost):
    modality = "image"
    backbone = "clip"

    async def embed(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        """CLIP representations of 224 px views (video-v2's frames and face crops)."""
        return await asyncio.to_thread(self.analyzer.local_models.embed, images)


@serve.deployment
class AudioModel(ModelHost):
    modality = "audio"
    backbone = "whisper"

    async def states(self, samples: np.ndarray, upto: int | None = None,
                     keep: tuple[int, ...] | None = None) -> list[np.ndarray]:
        """Whisper base hidden states of one window (video-v2's sound track); ``keep``: only those layers."""
        return await asyncio.to_thread(self.analyzer.local_models.states, samples, upto, keep)

