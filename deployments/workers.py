"""The graph's worker deployments: thin Ray Serve wrappers over the ``detectors`` library.

MediaFetcher (intake) → FrameExtractor / AudioExtractor (``preprocess``) → ImageModel / AudioModel
(``infer``, batched across requests) and VideoTemporal (``temporal``) → Aggregator (``postprocess``).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import numpy as np
from ray import serve
from ray.serve.exceptions import RayServeException

from deployments.offload import PreparedHandle, offload, resolve, run_with_progress
from detectors import intake
from detectors.base import Detector
from detectors.logs import get_logger, log_model_loaded, setup_logging
from detectors.media import MediaRef
from detectors.pipeline import Analyzer, detector_status
from detectors.schema import AnalysisResult, MediaType
from detectors.settings import Settings, get_settings

log = get_logger("deployments")
CHUNK = 16


def _settings() -> Settings:
    settings = get_settings()
    secrets = [settings.python_service_api_key.get_secret_value(), settings.secret_key.get_secret_value()]
    setup_logging(settings.log_level, settings.log_dir, secrets)
    import torch

    torch.set_num_threads(settings.torch_threads)  # Ray sets OMP_NUM_THREADS=1 in replicas
    return settings


class _DetectorHost:
    """Loads the detectors a deployment needs once, in the constructor (never per request)."""

    modalities: tuple[MediaType, ...] = ()

    def __init__(self) -> None:
        self.settings = _settings()
        self.analyzer = Analyzer(self.settings)
        for modality in self.modalities:
            det = self.analyzer.detector(modality)
            log_model_loaded(f"{type(self).__name__}/{det.name}", str(det.info()))

    def det(self, modality: MediaType) -> Detector:
        return self.analyzer.detector(modality)

    def info(self) -> dict:
        return {m: detector_status(self.det(m)) for m in self.modalities} | {"pid": os.getpid()}

    def check_health(self) -> None:
        for m in self.modalities:
            if not self.det(m).loaded:
                raise RuntimeError(f"{m} detector is not loaded")


@serve.deployment
class MediaFetcher:
    """URL / upload / allowed local path → a sniffed, size-checked ``MediaRef`` on scratch."""

    def __init__(self) -> None:
        self.settings = _settings()

    def fetch_url(self, url: str, media_type: MediaType | None, scratch: str) -> MediaRef:
        return intake.fetch_url(url, media_type, self.settings, Path(scratch))

    def adopt_upload(self, path: str, media_type: MediaType | None, source: str | None) -> MediaRef:
        return intake.adopt_file(Path(path), media_type, self.settings, source)

    def adopt_local(self, text: str, media_type: MediaType | None) -> MediaRef:
        return intake.adopt_local_path(text, media_type, self.settings)


@serve.deployment
class FrameExtractor(_DetectorHost):
    """Decodes images and samples video frames; faces, crops and forensic features (``preprocess``)."""

    modalities = ("image", "video")

    async def extract(self, ref: MediaRef):
        """Stream ("progress", ...) tuples, then ("done", PreparedHandle)."""
        modality: MediaType = "video" if ref.media_type == "video" else "image"
        det = self.det(modality)
        async for item in run_with_progress(lambda progress: det.preprocess(ref, progress)):
            if item[0] == "done":
                yield ("done", offload(item[1], modality, CHUNK))
            else:
                yield item


@serve.deployment
class AudioExtractor(_DetectorHost):
    """Decodes audio (a file or a video's sound track), voice activity, segments, features."""

    modalities = ("audio",)

    async def extract(self, ref: MediaRef, clip: Any = None):
        """Stream progress, then ("done", PreparedHandle). ``clip`` is a video's AudioClip (by ref)."""
        det = self.det("audio")
        clip = await resolve(clip)
        if clip is None:
            work = lambda progress: det.preprocess(ref, progress)  # noqa: E731
        else:
            work = lambda progress: det.preprocess_clip(clip, ref, progress)  # type: ignore[attr-defined]  # noqa: E731
        async for item in run_with_progress(work):
            yield ("done", offload(item[1], "audio", CHUNK)) if item[0] == "done" else item


@serve.deployment
class VideoTemporal(_DetectorHost):
    """Temporal analysis of a prepared video: flow, landmark jitter, boundary flicker, lip sync."""

    modalities = ("video",)

    async def temporal(self, prepared: Any) -> dict:
        prepared = await resolve(prepared)
        return await asyncio.to_thread(self.det("video").temporal, prepared)  # type: ignore[attr-defined]


def score_chunks(detector: Detector, chunks: list[list[np.ndarray]], max_batch: int) -> list[list[float]]:
    """Flatten the chunks of several requests, run ``infer`` in batches of ``max_batch``, split back."""
    flat = [x for chunk in chunks for x in chunk]
    scores: list[float] = []
    for i in range(0, len(flat), max_batch):
        scores.extend(detector.infer(flat[i : i + max_batch]))
    out, pos = [], 0
    for chunk in chunks:
        out.append(scores[pos : pos + len(chunk)])
        pos += len(chunk)
    return out


def _in_replica() -> bool:
    try:
        serve.get_replica_context()
    except RayServeException:
        return False
    return True


class _BatchedModel(_DetectorHost):
    """A model replica: requests' inputs are batched together by ``@serve.batch``."""

    max_batch = 16

    def reconfigure(self, config: dict) -> None:
        self.max_batch = int(config.get("max_batch_size", self.max_batch))
        self._batched.set_max_batch_size(self.max_batch)
        self._batched.set_batch_wait_timeout_s(float(config.get("batch_wait_timeout_s", 0.01)))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def _batched(self, chunks: list[list[np.ndarray]]) -> list[list[float]]:
        det = self.det(self.modalities[0])
        return await asyncio.to_thread(score_chunks, det, chunks, self.max_batch)

    async def score(self, chunk: Any) -> list[float]:
        """Raw model scores for one chunk of inputs (an ObjectRef or a list of arrays)."""
        chunk = await resolve(chunk)
        if not chunk:
            return []
        if not _in_replica():  # in-process use (tests, notebooks): no cross-request batching
            det = self.det(self.modalities[0])
            return (await asyncio.to_thread(score_chunks, det, [list(chunk)], self.max_batch))[0]
        return await self._batched(list(chunk))


@serve.deployment
class ImageModel(_BatchedModel):
    modalities = ("image",)


@serve.deployment
class AudioModel(_BatchedModel):
    modalities = ("audio",)


@serve.deployment
class Aggregator(_DetectorHost):
    """Calibrated fusion (``postprocess``) into the final result."""

    modalities = ("image", "audio", "video")

    async def finish(
        self, handle: PreparedHandle, scores: list[float], temporal: dict | None = None,
        audio_result: AnalysisResult | None = None,
    ) -> AnalysisResult:
        prepared = await resolve(handle.prepared)
        det = self.det(handle.media_type)  # type: ignore[arg-type]
        if handle.media_type == "video":
            prepared.payload["temporal"] = temporal or {}
            return await asyncio.to_thread(det.postprocess, prepared, scores, audio_result=audio_result)
        return await asyncio.to_thread(det.postprocess, prepared, scores)
