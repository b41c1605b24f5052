"""Runs one analysis through the graph's deployments and reports real progress as stages finish.

Plain async code over deployment handles, so it can be tested with stand-in handles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from deployments.offload import PreparedHandle
from detectors.media import MediaRef
from detectors.schema import AnalysisResult

# emit(stage, percent 0..100, message, partial results or None)
Emit = Callable[[str, float, str, dict | None], Awaitable[None]]


async def no_emit(stage: str, percent: float, message: str, partial: dict | None) -> None:
    """The default progress sink: ignore."""


@dataclass
class GraphHandles:
    """The deployment handles the ingress composes (Ray ``DeploymentHandle``s or test stand-ins)."""

    fetcher: Any
    frames: Any
    audio: Any
    temporal: Any
    image_model: Any
    audio_model: Any
    aggregator: Any


REPLICA_DEATH = ("ActorDiedError", "RayActorError", "ActorUnavailableError", "WorkerCrashedError")


async def score_with_retry(model: Any, chunk: Any) -> list[float]:
    """Scoring is repeatable: when the model replica died under the call, try once more (another
    replica or its replacement answers) before the error reaches the client."""
    try:
        return await model.score.remote(chunk)
    except Exception as exc:
        if type(exc).__name__ not in REPLICA_DEATH and type(getattr(exc, "cause", None)).__name__ not in REPLICA_DEATH:
            raise
        await asyncio.sleep(0.5)
        return await model.score.remote(chunk)


class Progress:
    """Maps stage fractions into one monotonic 0..100 percentage."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.percent = 0.0

    async def at(self, stage: str, percent: float, message: str, partial: dict | None = None) -> None:
        self.percent = max(self.percent, min(100.0, percent))
        await self.emit(stage, round(self.percent, 1), message, partial)


class Orchestrator:
    def __init__(self, handles: GraphHandles) -> None:
        self.h = handles

    async def _extract(self, handle: Any, args: tuple, progress: Progress, lo: float, hi: float) -> PreparedHandle:
        """Consume an extractor's progress stream; return its ``PreparedHandle``."""
        result = None
        async for item in handle.options(stream=True).extract.remote(*args):
            if item[0] == "progress":
                _, stage, fraction, extra = item
                await progress.at(stage, lo + (hi - lo) * fraction, stage.replace("_", " "), extra or None)
            else:
                result = item[1]
        if result is None:
            raise RuntimeError("extractor finished without a result")
        return result

    async def _score(self, model: Any, prepared: PreparedHandle, progress: Progress, lo: float, hi: float,
                     stage: str) -> list[float]:
        """Score all input chunks concurrently (they batch in the model replicas); report each chunk."""
        if not prepared.input_chunks:
            return []
        done = 0
        total = len(prepared.input_chunks)
        results: list[list[float] | None] = [None] * total

        offsets = [0]
        for chunk in prepared.input_chunks[:-1]:
            offsets.append(offsets[-1] + (len(chunk) if isinstance(chunk, list) else 0))

        async def one(i: int, chunk: Any) -> None:
            nonlocal done
            results[i] = await score_with_retry(model, chunk)
            done += 1
            await progress.at(stage, lo + (hi - lo) * done / total, f"scored {done}/{total} batches",
                              {"batch": i, "offset": offsets[i], "scores": results[i]})

        await asyncio.gather(*(one(i, ref) for i, ref in enumerate(prepared.input_chunks)))
        return [s for chunk in results for s in (chunk or [])]

    async def analyze(self, ref: MediaRef, emit: Emit = no_emit) -> AnalysisResult:
        progress = Progress(emit)
        await progress.at("fetched", 10, f"{ref.media_type} ({ref.format}, {ref.size_bytes} bytes) received")
        if ref.media_type == "image":
            prepared = await self._extract(self.h.frames, (ref,), progress, 10, 45)
            scores = await self._score(self.h.image_model, prepared, progress, 45, 90, "image_model")
            await progress.at("aggregating", 92, "fusing evidence")
            result = await self.h.aggregator.finish.remote(prepared, scores)
        elif ref.media_type == "audio":
            prepared = await self._extract(self.h.audio, (ref,), progress, 10, 45)
            scores = await self._score(self.h.audio_model, prepared, progress, 45, 90, "audio_model")
            await progress.at("aggregating", 92, "fusing evidence")
            result = await self.h.aggregator.finish.remote(prepared, scores)
        else:
            result = await self._analyze_video(ref, progress)
        await progress.at("complete", 100, "analysis complete")
        return result

    async def _analyze_video(self, ref: MediaRef, progress: Progress) -> AnalysisResult:
        prepared = await self._extract(self.h.frames, (ref,), progress, 10, 40)
        temporal_task = asyncio.ensure_future(self._temporal(prepared, progress))
        audio_task = asyncio.ensure_future(self._audio_track(ref, prepared, progress))
        try:
            scores = await self._score(self.h.image_model, prepared, progress, 40, 85, "video_faces_scored")
            temporal, audio_result = await asyncio.gather(temporal_task, audio_task)
        except BaseException:
            temporal_task.cancel()
            audio_task.cancel()
            raise
        await progress.at("aggregating", 95, "fusing face, temporal and audio evidence")
        return await self.h.aggregator.finish.remote(prepared, scores, temporal, audio_result)

    async def _temporal(self, prepared: PreparedHandle, progress: Progress) -> dict:
        temporal = await self.h.temporal.temporal.remote(prepared.prepared)
        await progress.at("video_temporal", progress.percent, "temporal analysis done")
        return temporal

    async def _audio_track(self, ref: MediaRef, prepared: PreparedHandle, progress: Progress) -> AnalysisResult | None:
        if prepared.audio is None:
            return None
        silent = Progress(no_emit)  # the audio track's own stages are folded into one event
        audio_prepared = await self._extract(self.h.audio, (ref, prepared.audio), silent, 0, 100)
        scores = await self._score(self.h.audio_model, audio_prepared, silent, 0, 100, "audio_model")
        result = await self.h.aggregator.finish.remote(audio_prepared, scores)
        await progress.at("video_audio", progress.percent, "sound track analysed",
                          {"audioFakeProbability": result.fake_probability})
        return result
