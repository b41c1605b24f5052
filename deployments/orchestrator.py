"""Runs one analysis through the graph and reports real progress as the recipe's stages finish.

The ingress adopts the media (``Intake``, in its own process: uploads are already on its scratch),
hands the ``MediaRef`` to the Analysis deployment and relays its progress stream; the media itself
goes no further than Analysis, which calls the model deployments directly. Plain async code over
deployment handles, so it can be tested with stand-in handles.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployments.transfer import wire_bytes
from detectors import intake
from detectors.media import MediaRef
from detectors.schema import AnalysisResult, MediaType
from detectors.settings import Settings

# emit(stage, percent 0..100, message, partial results or None)
Emit = Callable[[str, float, str, dict | None], Awaitable[None]]


async def no_emit(stage: str, percent: float, message: str, partial: dict | None) -> None:
    """The default progress sink: ignore."""


class Intake:
    """URL / upload / allowed local path → a sniffed, size-checked ``MediaRef`` on scratch (in threads:
    downloads and sniffing block)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def fetch_url(self, url: str, media_type: MediaType | None, scratch: str) -> MediaRef:
        return await asyncio.to_thread(intake.fetch_url, url, media_type, self.settings, Path(scratch))

    async def adopt_upload(self, path: str, media_type: MediaType | None, source: str | None) -> MediaRef:
        return await asyncio.to_thread(intake.adopt_file, Path(path), media_type, self.settings, source)

    async def adopt_local(self, text: str, media_type: MediaType | None) -> MediaRef:
        return await asyncio.to_thread(intake.adopt_local_path, text, media_type, self.settings)


@dataclass
class GraphHandles:
    """The deployment handles the ingress holds (Ray ``DeploymentHandle``s or test stand-ins): the
    Analysis deployment, and the model deployments (for ``/api/status``; Analysis calls them)."""

    analysis: Any
    image_model: Any
    audio_model: Any
    extra: dict[str, Any] = field(default_factory=dict)


class Progress:
    """Maps stage fractions into one monotonic 0..100 percentage."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.percent = 0.0

    async def at(self, stage: str, percent: float, message: str, partial: dict | None = None) -> None:
        self.percent = max(self.percent, min(100.0, percent))
        await self.emit(stage, round(self.percent, 1), message, partial)


MESSAGES = {"aggregating": "fusing evidence", "video_temporal": "temporal analysis done",
            "video_audio": "sound track analysed"}


class Orchestrator:
    def __init__(self, handles: GraphHandles) -> None:
        self.h = handles

    async def analyze(self, ref: MediaRef, emit: Emit = no_emit, follow: bool = True,
                      timings: dict[str, float] | None = None) -> AnalysisResult:
        """Relay the Analysis deployment's progress (``follow``; else one plain call); the result
        carries the bytes moved per hop. ``timings``, when given, gets the seconds of the Analysis
        call ("analysis") and the steps Analysis reports ("queue", "recipe", "models")."""
        progress = Progress(emit)
        if follow:
            await progress.at("fetched", 10, f"{ref.media_type} ({ref.format}, {ref.size_bytes} bytes) received")
        hops = {"ingress>analysis": wire_bytes(ref)}
        start = time.perf_counter()
        if not follow:
            answer = await self.h.analysis.analyze_once.remote(ref)
            result, model_hops, steps = answer
            hops.update(model_hops)
            hops["analysis>ingress"] = wire_bytes(answer)
            result.set_transfer(hops)
            _add_timings(timings, time.perf_counter() - start, steps)
            return result
        result = None
        steps = {}
        streamed = 0
        async for item in self.h.analysis.options(stream=True).analyze.remote(ref):
            streamed += wire_bytes(item)
            if item[0] == "progress":
                _, stage, fraction, extra = item
                message = MESSAGES.get(stage) or stage.replace("_", " ")
                if "scores" in (extra or {}):
                    message = f"scored {len(extra['scores'])} input(s)"
                await progress.at(stage, 100.0 * fraction, message, extra or None)
            else:
                result, model_hops, steps = item[1], item[2], item[3]
                hops.update(model_hops)
        if not isinstance(result, AnalysisResult):
            raise RuntimeError("the analysis finished without a result")
        hops["analysis>ingress"] = streamed
        result.set_transfer(hops)
        _add_timings(timings, time.perf_counter() - start, steps)
        await progress.at("complete", 100, "analysis complete")
        return result


def _add_timings(timings: dict[str, float] | None, analysis_s: float, steps: dict[str, float]) -> None:
    if timings is not None:
        timings["analysis"] = analysis_s
        timings.update(steps)
