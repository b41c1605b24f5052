"""Bytes that cross a process boundary, measured the way Ray serialises them (pickle protocol 5,
numpy buffers out of band), without copying the buffers; and where a request's time goes."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any


def wire_bytes(*values: Any) -> int:
    """Serialised size of ``values``: the pickle stream plus its out-of-band buffers."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        head = pickle.dumps(values, protocol=5, buffer_callback=buffers.append)
    except (pickle.PicklingError, TypeError, AttributeError):
        return 0
    return len(head) + sum(memoryview(b).nbytes for b in buffers)


class HopCounter:
    """Bytes per hop ("analysis>image_model" ...) and seconds per step ("models" ...) of the request
    running in this thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def request(self) -> Iterator[dict[str, int]]:
        """Count the calls this thread makes until the block ends; yields the running byte totals
        (the seconds are in ``timings()`` until the block ends)."""
        counts: dict[str, int] = {}
        self._local.counts = counts
        self._local.times = {}
        try:
            yield counts
        finally:
            self._local.counts = None

    def add(self, hop: str, n: int) -> None:
        counts = getattr(self._local, "counts", None)
        if counts is not None:
            counts[hop] = counts.get(hop, 0) + n

    def add_time(self, step: str, seconds: float) -> None:
        """Add ``seconds`` to ``step`` of this thread's request (no-op outside ``request()``)."""
        if getattr(self._local, "counts", None) is not None:
            times = self._local.times
            times[step] = times.get(step, 0.0) + seconds

    def timings(self) -> dict[str, float]:
        """Seconds per step of this thread's current (or last) request."""
        return dict(getattr(self._local, "times", None) or {})


def server_timing(timings: Mapping[str, float]) -> str:
    """An HTTP ``Server-Timing`` header value (W3C): ``name;dur=milliseconds`` per step, in order."""
    return ", ".join(f"{name};dur={seconds * 1000:.1f}" for name, seconds in timings.items())
