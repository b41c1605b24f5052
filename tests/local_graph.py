"""The graph's deployment classes run in this process behind handle-like objects (no Ray).

Lets API and orchestration tests use the real worker code and real HTTP in seconds; the
integration tests in ``test_serve_graph.py`` run the same through a real ``serve.run``.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from deployments import workers
from deployments.orchestrator import GraphHandles


class _Method:
    def __init__(self, obj: Any, name: str, stream: bool) -> None:
        self.fn = getattr(obj, name)
        self.stream = stream

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        if self.stream:
            return self.fn(*args, **kwargs)  # an async generator, as a streaming handle gives
        if inspect.iscoroutinefunction(self.fn):
            return self.fn(*args, **kwargs)
        return asyncio.to_thread(self.fn, *args, **kwargs)


class LocalHandle:
    """``handle.method.remote(...)`` and ``handle.options(stream=True)`` over a local instance."""

    def __init__(self, obj: Any, stream: bool = False) -> None:
        self._obj = obj
        self._stream = stream

    def options(self, stream: bool = False, **_: Any) -> LocalHandle:
        return LocalHandle(self._obj, stream)

    def __getattr__(self, name: str) -> _Method:
        return _Method(self._obj, name, self._stream)


def local_handles() -> GraphHandles:
    """One instance of each worker deployment class, loaded with the current settings."""

    def make(dep: Any) -> LocalHandle:
        return LocalHandle(dep.func_or_class())

    return GraphHandles(
        fetcher=make(workers.MediaFetcher),
        frames=make(workers.FrameExtractor),
        audio=make(workers.AudioExtractor),
        temporal=make(workers.VideoTemporal),
        image_model=make(workers.ImageModel),
        audio_model=make(workers.AudioModel),
        aggregator=make(workers.Aggregator),
    )
