"""The Analysis deployment: runs each modality's recipe (``detectors.recipes``) next to the media.

Prepare, temporal / sound-track sub-analyses and fusion run here, on the file the ingress adopted;
each named-model call goes straight to the model deployment holding it (handles bound at build
time: Serve model composition), so frames, face crops and audio cross exactly one process
boundary, to the model, and never pass through the ingress. This replica loads the detectors'
"host" parts only (faces, VAD, heads, fusions), no backbone.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from ray import serve

from deployments import metrics
from deployments.replica import release_freed_memory, replica_settings
from deployments.transfer import HopCounter, wire_bytes
from detectors.base import Detector
from detectors.logs import get_logger, log_model_loaded
from detectors.media import MediaRef
from detectors.pipeline import Analyzer, detector_status
from detectors.recipes.models import ModelName
from detectors.schema import AnalysisResult, MediaType

log = get_logger("deployments")
REPLICA_DEATH = ("ActorDiedError", "RayActorError", "ActorUnavailableError", "WorkerCrashedError")


def _replica_died(exc: BaseException) -> bool:
    return type(exc).__name__ in REPLICA_DEATH or type(getattr(exc, "cause", None)).__name__ in REPLICA_DEATH


class RemoteModels:
    """``ModelClient`` over the model deployments' handles, called from the recipe's thread.

    With the replica's event loop bound (``bind_loop``), each call is sent and awaited on that loop
    (``await handle.method.remote(...)``, Serve's model composition) while the recipe's thread
    waits for the answer; without one it falls back to a blocking ``.result()``. Each call's
    arguments and answer are counted (serialised bytes) per hop, and its seconds as "models", for
    the request running in the calling thread. A call whose model replica died under it is tried
    once more.
    """

    def __init__(self, image_model: Any, audio_model: Any, hops: HopCounter | None = None) -> None:
        self.handles = {"image": image_model, "audio": audio_model}
        self.hops = hops or HopCounter()
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send model calls from this event loop (the replica's), not from the recipe's thread."""
        self.loop = loop

    def _send(self, handle: Any, method: str, args: tuple) -> Any:
        loop = self.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return getattr(handle, method).remote(*args).result()
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:  # waiting here would block the very loop that must answer
            raise RuntimeError("a recipe's model call must come from a worker thread, not the event loop")

        async def call() -> Any:
            return await getattr(handle, method).remote(*args)

        return asyncio.run_coroutine_threadsafe(call(), loop).result()

    def _call(self, deployment: ModelName, method: str, *args: Any) -> Any:
        hop = f"analysis>{deployment}_model"
        self.hops.add(hop, wire_bytes(*args))
        t = time.perf_counter()
        handle = self.handles[deployment]
        try:
            out = self._send(handle, method, args)
        except Exception as exc:
            if not _replica_died(exc):
                raise
            time.sleep(0.5)
            out = self._send(handle, method, args)
        seconds = time.perf_counter() - t
        metrics.stage(deployment, f"call_{method}", seconds)
        self.hops.add_time("models", seconds)
        self.hops.add(f"{deployment}_model>analysis", wire_bytes(out))
        return out

    def scores(self, model: ModelName, inputs: list[np.ndarray]) -> list[float]:
        return list(self._call(model, "scores", list(inputs))) if inputs else []

    def embed(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        return self._call("image", "embed", list(images))

    def states(self, samples: np.ndarray, upto: int | None = None,
               keep: tuple[int, ...] | None = None) -> list[np.ndarray]:
        return self._call("audio", "states", samples, upto, keep)


async def run_with_progress(fn: Callable[[Callable[[str, float, dict], None]], Any]) -> AsyncIterator[tuple]:
    """Run ``fn(progress)`` in a thread; yield ("progress", stage, fraction, extra) as it reports,
    then ("done", result). Exceptions from ``fn`` propagate to the consumer."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple] = asyncio.Queue()
    done = threading.Event()

    def progress(stage: str, fraction: float, extra: dict) -> None:
        if not done.is_set():
            loop.call_soon_threadsafe(queue.put_nowait, ("progress", stage, float(fraction), dict(extra or {})))

    def work() -> None:
        try:
            result = fn(progress)
            loop.call_soon_threadsafe(queue.put_nowait, ("done", result))
        except BaseException as exc:  # handed to the consumer, re-raised there
            loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
        finally:
            done.set()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while True:
        item = await queue.get()
        if item[0] == "error":
            raise item[1]
        yield item
        if item[0] == "done":
            return


def _no_report(stage: str, fraction: float, extra: dict) -> None:
    """Progress nobody follows."""


class _StageClock:
    """Seconds spent between a recipe's progress stages, recorded as ``deepfake_stage_seconds``."""

    def __init__(self, modality: MediaType) -> None:
        self.modality = modality
        self.stage = "prepare"
        self.t = time.perf_counter()

    def mark(self, stage: str) -> None:
        if stage != self.stage:
            now = time.perf_counter()
            metrics.stage(self.modality, self.stage, now - self.t)
            self.stage, self.t = stage, now


@serve.deployment
class Analysis:
    """Every modality's recipe; model calls go to ``ImageModel`` / ``AudioModel``."""

    def __init__(self, image_model: Any, audio_model: Any, concurrency: int | None = None) -> None:
        """``concurrency``: recipes run at once (default ``ANALYSIS_CONCURRENCY``); each gets its own
        set of host detectors, which keep per-call state (OpenCV cascades, silero VAD)."""
        self.settings = replica_settings()
        self.hops = HopCounter()
        self.models = RemoteModels(image_model, audio_model, self.hops)
        n = concurrency or self.settings.analysis_concurrency
        self.analyzers = [Analyzer(self.settings, part="host", models=self.models) for _ in range(n)]
        self.free: queue.SimpleQueue[Analyzer] = queue.SimpleQueue()
        modalities: tuple[MediaType, ...] = ("image", "audio", "video")
        for analyzer in self.analyzers:
            for modality in modalities:
                analyzer.detector(modality)  # loads its host part now, not on the first request
            self.free.put(analyzer)
        for modality in modalities:
            det = self.analyzers[0].detector(modality)
            log_model_loaded(f"Analysis/{det.name} x{n}", str(det.info()))
        release_freed_memory()

    def det(self, modality: MediaType) -> Detector:
        """The first host set's detector (tests patch it; they run Analysis with concurrency 1)."""
        return self.analyzers[0].detector(modality)

    def _run(self, ref: MediaRef, progress: Callable[[str, float, dict], None]
             ) -> tuple[AnalysisResult, dict, dict]:
        """(result, bytes moved per hop by its model calls, seconds per step: queue, recipe, models)."""
        waited = time.perf_counter()
        analyzer = self.free.get()  # blocks while every host set is busy (at most max_ongoing_requests wait)
        queued = time.perf_counter() - waited
        metrics.stage(ref.media_type, "queue", queued)
        clock = _StageClock(ref.media_type)

        def report(stage: str, fraction: float, extra: dict) -> None:
            clock.mark(stage)
            progress(stage, fraction, extra)

        try:
            with self.hops.request() as hops:
                start = time.perf_counter()
                result = analyzer.analyze_ref(ref, report)
                clock.mark("done")
                recipe = time.perf_counter() - start
                metrics.stage(ref.media_type, "recipe", recipe)
                timings = {"queue": queued, "recipe": recipe, **self.hops.timings()}
                return result, dict(hops), timings
        finally:
            self.free.put(analyzer)

    async def analyze(self, ref: MediaRef) -> AsyncIterator[tuple]:
        """Stream ("progress", stage, fraction 0..1, extra) while the recipe runs, then
        ("done", result, bytes moved per hop by this request's model calls, seconds per step)."""
        self.models.bind_loop(asyncio.get_running_loop())
        async for item in run_with_progress(lambda progress: self._run(ref, progress)):
            if item[0] == "done":
                result, hops, timings = item[1]
                yield ("done", result, hops, timings)
            else:
                yield item

    async def analyze_once(self, ref: MediaRef) -> tuple[AnalysisResult, dict, dict]:
        """The same analysis without a progress stream (nobody follows it): (result, bytes per hop,
        seconds per step)."""
        self.models.bind_loop(asyncio.get_running_loop())
        return await asyncio.to_thread(self._run, ref, _no_report)

    def info(self) -> dict:
        """The detectors this replica hosts (their prepare / fuse parts) and their versions."""
        out: dict[str, Any] = {m: detector_status(d) for m, d in self.analyzers[0].loaded().items()}
        out["part"] = "host"
        out["concurrency"] = len(self.analyzers)
        out["pid"] = os.getpid()
        return out

    def check_health(self) -> None:
        for m, d in self.analyzers[0].loaded().items():
            if not d.loaded:
                raise RuntimeError(f"{m} detector is not loaded")

