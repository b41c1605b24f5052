"""The graph's deployment classes run in this process behind handle-like objects (no Ray).

Lets API and orchestration tests use the real deployment code and real HTTP in seconds; the
integration tests in ``test_serve_graph.py`` run the same through a real ``serve.run``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from deployments.analysis import Analysis
from deployments.models import AudioModel, ImageModel
from deployments.orchestrator import GraphHandles


class LocalResponse:
    """What ``handle.method.remote(...)`` gives: awaitable (from the event loop) or ``.result()``
    (from a worker thread, as the Analysis deployment calls the model deployments)."""

    def __init__(self, fn: Any, args: tuple, kwargs: dict) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def __await__(self):
        if inspect.iscoroutinefunction(self.fn):
            return self.fn(*self.args, **self.kwargs).__await__()
        return asyncio.to_thread(self.fn, *self.args, **self.kwargs).__await__()

    def result(self, timeout_s: float | None = None) -> Any:
        if inspect.iscoroutinefunction(self.fn):
            return asyncio.run(self.fn(*self.args, **self.kwargs))
        return self.fn(*self.args, **self.kwargs)


class _Method:
    def __init__(self, obj: Any, name: str, stream: bool) -> None:
        self.fn = getattr(obj, name)
        self.stream = stream

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        if self.stream:
            return self.fn(*args, **kwargs)  # an async generator, as a streaming handle gives
        return LocalResponse(self.fn, args, kwargs)


class LocalHandle:
    """``handle.method.remote(...)`` and ``handle.options(stream=True)`` over a local instance."""

    def __init__(self, obj: Any, stream: bool = False) -> None:
        self._obj = obj
        self._stream = stream

    def options(self, stream: bool = False, **_: Any) -> LocalHandle:
        return LocalHandle(self._obj, stream)

    def __getattr__(self, name: str) -> _Method:
        return _Method(self._obj, name, self._stream)


def local_handles(wrap_models: Callable[[Any], Any] | None = None) -> GraphHandles:
    """One instance of each deployment class, loaded with the current settings; Analysis calls the
    model instances through local handles, as it calls the model deployments in the graph
    (``wrap_models`` wraps those two handles, e.g. to slow the model stage down)."""
    image_model = LocalHandle(ImageModel.func_or_class())
    audio_model = LocalHandle(AudioModel.func_or_class())
    wrap = wrap_models or (lambda h: h)
    analysis = LocalHandle(Analysis.func_or_class(wrap(image_model), wrap(audio_model), concurrency=1))
    return GraphHandles(analysis=analysis, image_model=image_model, audio_model=audio_model)
