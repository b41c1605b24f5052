"""Package prepared media for the hops between deployments.

A ``Prepared`` is split into the model inputs (in chunks, so the ingress can score them batch by
batch and report progress), the sound track and the rest. The parts travel *by value*: Ray puts
large handle arguments into its object store itself (zero-copy for numpy on one node). Explicit
``ray.put`` refs nested in a streamed result were tried first and lost their reference counts
under load (``ReferenceCountingAssertionError``, Ray issue 58080, unfixed in 2.60): values are the
robust choice until that is fixed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import ray

from detectors.base import Prepared


@dataclass
class PreparedHandle:
    """A ``Prepared`` split for transport: the model inputs in chunks, the sound track, the rest."""

    media_type: str
    prepared: Any  # Prepared (model_inputs and audio removed)
    input_chunks: list[Any] = field(default_factory=list)  # list[np.ndarray] each
    n_inputs: int = 0
    audio: Any = None  # AudioClip | None
    summary: dict = field(default_factory=dict)


def offload(prepared: Prepared, media_type: str, chunk_size: int) -> PreparedHandle:
    """Split a ``Prepared`` into chunks of model inputs, the sound track and the rest."""
    inputs, audio = prepared.model_inputs, prepared.audio
    prepared.model_inputs, prepared.audio = [], None
    chunks = [inputs[i : i + chunk_size] for i in range(0, len(inputs), chunk_size)]
    summary = {"inputs": len(inputs), **dict(prepared.payload.get("summary", {}))}
    return PreparedHandle(
        media_type=media_type,
        prepared=prepared,
        input_chunks=chunks,
        n_inputs=len(inputs),
        audio=audio,
        summary=summary,
    )


async def resolve(value: Any) -> Any:
    """Await an ObjectRef (a caller may still pass one; nested refs are not resolved by Ray);
    pass values through."""
    if isinstance(value, ray.ObjectRef):
        return await value
    return value


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
