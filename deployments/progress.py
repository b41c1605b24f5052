"""Where job progress goes.

- ``MemoryHub``: keeps the latest event per job (status polling); forwards nothing.
- ``JobEventHub``: numbers each job's events, keeps a bounded per-job log (so a socket that
  subscribes late or reconnects can be replayed what it missed), and delivers every event to the
  job's Socket.IO room on this ingress replica.
- ``ProgressBus``: a one-replica Serve deployment that carries job events between ingress
  replicas (a sequence-numbered ring buffer read by long polls). With a bus, a job started over
  REST on one replica streams to a socket held by another.

Design: job *events* (not Socket.IO packets) cross replicas. Every replica's hub hears every
event, so each keeps the history it needs to replay a job to a subscriber, and the Socket.IO
client manager stays the default in-memory one. Events of one job always come from the one
replica that runs it, so their order is the order that replica published them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ray import serve

from detectors.logs import get_logger

log = get_logger("progress")

TERMINAL_EVENTS = ("analysis_complete", "analysis_error")
SEQUENCED_EVENTS = ("progress_update", "analysis_error")  # analysis_complete stays the REST JSON as is
JOB_ROOM_PREFIX = "job:"


def job_room(job_id: str) -> str:
    """The Socket.IO room that receives one job's events."""
    return JOB_ROOM_PREFIX + job_id


class ProgressHub(Protocol):
    async def publish(self, job_id: str, event: str, data: dict) -> None: ...


class MemoryHub:
    """Keeps the last event of each job (for status polling); forwards nothing."""

    def __init__(self, max_jobs: int = 1000) -> None:
        self.last: dict[str, tuple[str, dict]] = {}
        self.max_jobs = max_jobs

    async def publish(self, job_id: str, event: str, data: dict) -> None:
        if len(self.last) >= self.max_jobs and job_id not in self.last:
            self.last.pop(next(iter(self.last)))
        self.last[job_id] = (event, data)


@dataclass
class JobRecord:
    """One job's recent events on this replica: (seq, event, data), oldest first."""

    events: deque = field(default_factory=lambda: deque(maxlen=256))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_seq: int = 1
    updated: float = field(default_factory=time.monotonic)

    @property
    def state(self) -> str:
        if not self.events:
            return "pending"
        last = self.events[-1][1]
        return {"analysis_complete": "complete", "analysis_error": "error"}.get(last, "running")

    def after(self, seq: int) -> list[tuple[int, str, dict]]:
        return [e for e in self.events if e[0] > seq]


class JobLog:
    """Bounded per-job event history: at most ``max_jobs`` jobs (least recently updated go first)
    and ``max_events`` events per job (the oldest go first)."""

    def __init__(self, max_jobs: int = 2000, max_events: int = 256) -> None:
        self.jobs: OrderedDict[str, JobRecord] = OrderedDict()
        self.max_jobs = max_jobs
        self.max_events = max_events

    def get(self, job_id: str) -> JobRecord:
        rec = self.jobs.get(job_id)
        if rec is None:
            rec = self.jobs[job_id] = JobRecord(events=deque(maxlen=self.max_events))
            while len(self.jobs) > self.max_jobs:
                self.jobs.popitem(last=False)
        return rec

    def peek(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    def add(self, rec: JobRecord, job_id: str, seq: int, event: str, data: dict) -> None:
        rec.events.append((seq, event, data))
        rec.next_seq = max(rec.next_seq, seq + 1)
        rec.updated = time.monotonic()
        self.jobs.move_to_end(job_id)


# emit_to_room(event, data, room): the Socket.IO server's ``emit(event, data, room=room)``
RoomEmit = Callable[[str, dict, str], Awaitable[None]]


async def _no_room(event: str, data: dict, room: str) -> None:
    """Before a Socket.IO server is attached, events are only logged."""


class JobEventHub:
    """The ingress replica's hub: sequence, log, deliver to the job's room, share through the bus."""

    def __init__(self, bus: BusClient | None = None, log_jobs: int = 2000, log_events: int = 256) -> None:
        self.log = JobLog(log_jobs, log_events)
        self.bus = bus
        self.origin = uuid.uuid4().hex
        self.emit_to_room: RoomEmit = _no_room
        if bus is not None:
            bus.on_message = self._from_bus
            bus.origin = self.origin

    def attach(self, emit_to_room: RoomEmit) -> None:
        """Deliver events through a Socket.IO server (``sio.emit``-like callable)."""
        self.emit_to_room = emit_to_room

    def start(self) -> None:
        """Start listening to other replicas' events (idempotent; needs a running event loop)."""
        if self.bus is not None:
            self.bus.start()

    async def publish(self, job_id: str, event: str, data: dict) -> None:
        """A job running on this replica reports an event: number it, deliver here, share."""
        rec = self.log.get(job_id)
        async with rec.lock:
            seq = rec.next_seq
            if event in SEQUENCED_EVENTS:
                data = {**data, "seq": seq, "sent_at": time.time()}
            await self._deliver(rec, job_id, seq, event, data)
        if self.bus is not None:
            self.bus.send({"origin": self.origin, "job_id": job_id, "seq": seq, "event": event, "data": data})

    async def _from_bus(self, msg: dict) -> None:
        """An event published by another replica (or replayed by the bus after a restart)."""
        if msg.get("origin") == self.origin:
            return
        job_id, seq = msg["job_id"], int(msg["seq"])
        rec = self.log.get(job_id)
        async with rec.lock:
            if rec.events and seq <= rec.events[-1][0]:
                return  # already seen (a replay after this replica re-attached to the bus)
            await self._deliver(rec, job_id, seq, msg["event"], msg["data"])

    async def _deliver(self, rec: JobRecord, job_id: str, seq: int, event: str, data: dict) -> None:
        # Called with rec.lock held, so a subscriber's replay and live events never interleave.
        self.log.add(rec, job_id, seq, event, data)
        try:
            await self.emit_to_room(event, data, job_room(job_id))
        except Exception:  # a broken socket must not fail the analysis that reports progress
            log.exception("could not deliver %s of job %s", event, job_id)

    async def subscribe(self, job_id: str, join: Callable[[], Awaitable[None]],
                        replay: Callable[[str, dict], Awaitable[None]], after_seq: int = 0) -> str:
        """Join the job's room and replay the logged events after ``after_seq``, atomically with
        respect to live events. Returns the job state: pending | running | complete | error."""
        rec = self.log.get(job_id)
        async with rec.lock:
            await join()
            for _, event, data in rec.after(after_seq):
                await replay(event, data)
            return rec.state

    def state(self, job_id: str) -> str:
        rec = self.log.peek(job_id)
        return rec.state if rec is not None else "pending"


class BusClient:
    """An ingress replica's side of the ``ProgressBus``: sends in order from one background task,
    and listens with long polls from another. Both survive a bus restart (retry with backoff)."""

    def __init__(self, handle: Any, poll_timeout_s: float = 15.0, max_pending: int = 10_000) -> None:
        self.handle = handle
        self.poll_timeout_s = poll_timeout_s
        self.origin = ""
        self.on_message: Callable[[dict], Awaitable[None]] | None = None
        self.pending: deque[dict] = deque(maxlen=max_pending)
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self.epoch: str | None = None
        self.cursor = 0

    def start(self) -> None:
        if self._tasks:
            return
        self._wake = asyncio.Event()
        self._tasks = [asyncio.create_task(self._send_loop(), name="progress-bus-send"),
                       asyncio.create_task(self._listen_loop(), name="progress-bus-listen")]

    def send(self, msg: dict) -> None:
        """Queue one event for the bus (never blocks the analysis)."""
        self.start()
        self.pending.append(msg)
        assert self._wake is not None
        self._wake.set()

    async def _send_loop(self) -> None:
        assert self._wake is not None
        backoff = 0.2
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending:
                batch = list(self.pending)
                self.pending.clear()
                try:
                    await self.handle.publish.remote(batch)
                except Exception as exc:  # bus restarting: put the events back, retry
                    self.pending.extendleft(reversed(batch))
                    log.warning("progress bus publish failed (%s); retrying in %.1f s", type(exc).__name__, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(5.0, backoff * 2)
                    continue
                backoff = 0.2

    async def _listen_loop(self) -> None:
        backoff = 0.2
        while True:
            try:
                reply = await self.handle.poll.remote(self.epoch, self.cursor, self.poll_timeout_s)
            except Exception as exc:
                log.warning("progress bus poll failed (%s); retrying in %.1f s", type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
                continue
            backoff = 0.2
            self.epoch, self.cursor = reply["epoch"], reply["last"]
            for msg in reply["messages"]:
                if self.on_message is None:
                    continue
                try:
                    await self.on_message(msg)
                except Exception:  # one bad message must not stop the listener
                    log.exception("could not handle a progress bus message")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []


class EventRing:
    """The bus's state: a bounded, sequence-numbered ring of messages with long-poll reads."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.epoch = uuid.uuid4().hex  # changes when the bus restarts: readers start over
        self.seq = 0
        self.ring: deque[tuple[int, dict]] = deque(maxlen=capacity)
        self._changed: asyncio.Condition | None = None

    def _cond(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def publish(self, messages: list[dict]) -> int:
        cond = self._cond()
        async with cond:
            for msg in messages:
                self.seq += 1
                self.ring.append((self.seq, msg))
            cond.notify_all()
        return self.seq

    def _after(self, cursor: int) -> list[dict]:
        if not self.ring or self.ring[-1][0] <= cursor:
            return []
        return [m for s, m in self.ring if s > cursor]

    async def poll(self, epoch: str | None, cursor: int, timeout_s: float) -> dict:
        """Messages after ``cursor`` (all kept ones if ``epoch`` is not this bus's), waiting up to
        ``timeout_s`` for the first one."""
        if epoch != self.epoch:
            cursor = 0
        cond = self._cond()
        async with cond:
            if not self._after(cursor):
                try:
                    await asyncio.wait_for(cond.wait_for(lambda: bool(self._after(cursor))), timeout_s)
                except TimeoutError:
                    pass
            return {"epoch": self.epoch, "last": self.seq, "messages": self._after(cursor)}


@serve.deployment(num_replicas=1, max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0.05})
class ProgressBus:
    """Carries job events between ingress replicas. One replica: it is the shared state. Each
    ingress replica holds one long poll here, so ``max_ongoing_requests`` must exceed the number
    of ingress replicas plus their concurrent publishes."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.ring = EventRing(capacity)

    async def publish(self, messages: list[dict]) -> int:
        return await self.ring.publish(messages)

    async def poll(self, epoch: str | None, cursor: int, timeout_s: float = 15.0) -> dict:
        return await self.ring.poll(epoch, cursor, min(float(timeout_s), 60.0))
