"""Protection at the door: a token bucket per API key (429) and an admission gate that sheds load (503).

Both answer at once with ``Retry-After`` instead of letting requests pile up:

- ``TokenBucketLimiter``: ``RATE_LIMIT_PER_MINUTE`` requests per key per minute, with bursts up to
  the same number; a request over it gets ``RateLimitedError`` (429) saying when a token is back.
  Keys are kept only as hashes, and the table is bounded (least recently seen keys are dropped).
  Without an API key configured, callers are told apart by their address.
- ``AdmissionGate``: at most ``max_inflight`` analyses run in one ingress replica; up to
  ``max_waiting`` more wait at most ``max_wait_s`` for a slot; anything beyond gets 503 with
  ``Retry-After`` at once, before its upload is read. Health and status are never gated.

Limits are per ingress replica (each replica has its own buckets and slots): with N replicas the
service as a whole admits N times as much.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

from deployments import metrics
from deployments.errors import error_payload
from detectors.errors import OverloadedError, RateLimitedError

GATED_PATHS = ("/api/analyze", "/api/batch-analyze")
DEFAULT_MAX_INFLIGHT = 32
DEFAULT_MAX_WAITING = 64
DEFAULT_MAX_WAIT_S = 10.0


class TokenBucketLimiter:
    """Per-identity token buckets: capacity ``burst`` tokens, refilled at ``per_minute`` per minute."""

    def __init__(self, per_minute: int, burst: int | None = None, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, per_minute))
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # hash -> (tokens, last time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    @staticmethod
    def _slot(identity: str) -> str:
        # Only a hash of the key is kept in memory (and could ever reach a debug dump).
        return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def check(self, identity: str) -> None:
        """Take one token for ``identity`` or raise ``RateLimitedError`` with the wait until the next one."""
        if not self.enabled:
            return
        slot = self._slot(identity)
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.pop(slot, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[slot] = (tokens - 1.0, now)
                self._evict()
                return
            self._buckets[slot] = (tokens, now)
            self._evict()
            wait = (1.0 - tokens) / self.rate
        raise RateLimitedError(
            f"rate limit of {self.per_minute} requests per minute exceeded; retry in {wait:.1f} s",
            retry_after=wait,
            limit_per_minute=self.per_minute,
        )

    def _evict(self) -> None:
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


def limiter_for(service: Any) -> TokenBucketLimiter:
    """The service's limiter (shared by REST and Socket.IO), made on first use from
    ``service.settings.rate_limit_per_minute``."""
    limiter = getattr(service, "rate_limiter", None)
    if limiter is None:
        limiter = TokenBucketLimiter(int(service.settings.rate_limit_per_minute))
        service.rate_limiter = limiter
    return limiter


def identity_of(api_key: str | None, client_host: str | None) -> str:
    """Whom a bucket belongs to: the API key, or the client's address when no key is in use."""
    return f"key:{api_key}" if api_key else f"addr:{client_host or 'unknown'}"


def check_rate(request: Any, api_key: str | None) -> None:
    """Rate-limit one HTTP request (``require_key`` calls this after the key is accepted)."""
    client = getattr(request, "client", None)
    limiter_for(request.app.state.service).check(identity_of(api_key, client.host if client else None))


class AdmissionGate:
    """Bounded concurrency with a bounded, time-limited wait; sheds the rest with ``OverloadedError``."""

    def __init__(self, max_inflight: int = DEFAULT_MAX_INFLIGHT, max_waiting: int = DEFAULT_MAX_WAITING,
                 max_wait_s: float = DEFAULT_MAX_WAIT_S) -> None:
        if max_inflight < 1 or max_waiting < 0 or max_wait_s < 0:
            raise ValueError("max_inflight >= 1, max_waiting >= 0 and max_wait_s >= 0 are required")
        self.max_inflight = max_inflight
        self.max_waiting = max_waiting
        self.max_wait_s = max_wait_s
        self.inflight = 0
        self.waiting = 0
        self.shed = 0
        self.admitted = 0
        self._avg_s = 1.0  # moving average of time in the gate, for Retry-After
        self._cond: asyncio.Condition | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> AdmissionGate:
        """Sizes from settings when they define them (``max_concurrent_analyses``, ``max_queued_analyses``,
        ``queue_timeout_s``), else the defaults above."""
        return cls(
            int(getattr(settings, "max_concurrent_analyses", DEFAULT_MAX_INFLIGHT)),
            int(getattr(settings, "max_queued_analyses", DEFAULT_MAX_WAITING)),
            float(getattr(settings, "queue_timeout_s", DEFAULT_MAX_WAIT_S)),
        )

    def retry_after(self) -> float:
        """A hint: how long until a slot is likely free (at least 1 s, at most 60 s)."""
        return min(60.0, max(1.0, self._avg_s * (1 + self.waiting) / self.max_inflight))

    def _overloaded(self, why: str) -> OverloadedError:
        self.shed += 1
        return OverloadedError(f"the service is at capacity ({why}); retry shortly",
                               retry_after=self.retry_after(), inflight=self.inflight, waiting=self.waiting)

    async def acquire(self) -> None:
        if self._cond is None:
            self._cond = asyncio.Condition()
        async with self._cond:
            if self.inflight < self.max_inflight and self.waiting == 0:
                self.inflight += 1
                self.admitted += 1
                metrics.admission(self.inflight, self.waiting)
                return
            if self.waiting >= self.max_waiting or self.max_wait_s == 0:
                raise self._overloaded(f"{self.inflight} analyses running, {self.waiting} waiting")
            self.waiting += 1
            metrics.admission(self.inflight, self.waiting)
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: self.inflight < self.max_inflight),
                                       self.max_wait_s)
            except TimeoutError:
                raise self._overloaded(f"no free slot within {self.max_wait_s:.0f} s") from None
            finally:
                self.waiting -= 1
            self.inflight += 1
            self.admitted += 1

    async def release(self, elapsed_s: float) -> None:
        assert self._cond is not None
        async with self._cond:
            self.inflight -= 1
            metrics.admission(self.inflight, self.waiting)
            self._avg_s = 0.9 * self._avg_s + 0.1 * max(0.0, elapsed_s)
            self._cond.notify_all()  # waiters re-check; a cancelled waiter cannot swallow the wake-up

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block (raises ``OverloadedError`` when none can be had in time)."""
        await self.acquire()
        start = time.monotonic()
        try:
            yield
        finally:
            await self.release(time.monotonic() - start)

    def stats(self) -> dict:
        return {"inflight": self.inflight, "waiting": self.waiting, "admitted": self.admitted, "shed": self.shed,
                "max_inflight": self.max_inflight, "max_waiting": self.max_waiting}


class AdmissionMiddleware:
    """ASGI middleware: the gate around the analysis routes (held until the response is fully sent)."""

    def __init__(self, app: Any, gate: AdmissionGate, paths: tuple[str, ...] = GATED_PATHS) -> None:
        self.app = app
        self.gate = gate
        self.paths = paths

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        try:
            await self.gate.acquire()
        except OverloadedError as exc:
            await _send_error(send, exc)  # before the body is read: an upload costs nothing when shed
            return
        start = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            await self.gate.release(time.monotonic() - start)


async def _send_error(send: Callable, exc: BaseException) -> None:
    import json

    status, body, headers = error_payload(exc)
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def install_admission_gate(app: Any, settings: Any) -> AdmissionGate:
    """Put the admission gate in front of the analysis routes; returns it (``app.state.admission``)."""
    gate = AdmissionGate.from_settings(settings)
    app.add_middleware(AdmissionMiddleware, gate=gate)
    app.state.admission = gate
    service = getattr(app.state, "service", None)
    if service is not None:
        service.admission = gate  # other entry points (Socket.IO start_analysis) can hold a slot too
    return gate
