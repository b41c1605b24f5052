"""Bytes that cross a process boundary, measured the way Ray serialises them (pickle protocol 5,
numpy buffers out of band), without copying the buffers."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
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
    """Bytes per hop ("analysis>image_model" ...) of the request running in this thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def request(self) -> Iterator[dict[str, int]]:
        """Count the calls this thread makes until the block ends; yields the running totals."""
        counts: dict[str, int] = {}
        self._local.counts = counts
        try:
            yield counts
        finally:
            self._local.counts = None

    def add(self, hop: str, n: int) -> None:
        counts = getattr(self._local, "counts", None)
        if counts is not None:
            counts[hop] = counts.get(hop, 0) + n
