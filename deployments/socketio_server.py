"""Socket.IO on the REST API's port: live progress of analyses.

Events (client → server): ``start_analysis`` {media_url, media_type?, job_id?} → ack {ok, job_id};
``subscribe`` {job_id, after_seq?} → ack {ok, job_id, state}; ``unsubscribe`` {job_id}.
Events (server → client): ``connection_status`` {status, models_ready, sid, server, version};
``progress_update`` {job_id, stage, progress, message, partial?, seq, sent_at};
``analysis_complete`` (the REST result JSON); ``analysis_error`` {job_id, status, error, message, seq?}.

Each job's events go to the room ``job:<id>``: the socket that started it joins it, any other
socket with the key may join by ``subscribe`` (e.g. to follow a job started over REST with a
``job_id``, or after reconnecting). The API key goes in the connect ``auth`` payload
(``{"api_key": ...}``) or the ``X-API-Key`` header; without it the connection is refused.

Build the server inside the Serve replica (``Ingress.__serve_build_asgi_app__``): a module-level
``AsyncServer`` would be pickled into the replica and its emits silently lost.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import socketio
from pydantic import ValidationError

from deployments import ratelimit
from deployments.api import AnalyzeRequest, Service, _check_key
from deployments.errors import error_payload
from deployments.progress import JobEventHub, job_room
from detectors import __version__, intake
from detectors.errors import AuthenticationError, DetectionError, InvalidRequestError, RateLimitedError
from detectors.logs import get_logger

log = get_logger("socketio")

MAX_JOBS_PER_CONNECTION = 8
READINESS_TTL_S = 10.0


def socket_capacity(max_ongoing_requests: int) -> int:
    """Sockets one ingress replica accepts: each holds one of its ``max_ongoing_requests`` for
    its whole life, so a tenth of them (at least 8) stays free for REST requests."""
    return max(1, max_ongoing_requests - max(8, max_ongoing_requests // 10))


def api_key_from(auth: Any, environ: dict) -> str | None:
    """The key from the connect ``auth`` payload (``api_key``) or the ``X-API-Key`` header."""
    if isinstance(auth, dict):
        key = auth.get("api_key") or auth.get("apiKey")
        if isinstance(key, str) and key:
            return key
    header = environ.get("HTTP_X_API_KEY")
    if not header and "asgi.scope" in environ:  # python-engineio's ASGI environ
        for name, value in environ["asgi.scope"].get("headers", []):
            if name.lower() == b"x-api-key":
                header = value.decode("latin-1")
    return header or None


class RealtimeServer:
    """The ``socketio.AsyncServer`` of one ingress replica, wired to its ``Service`` and hub."""

    def __init__(self, service: Service, hub: JobEventHub, max_jobs_per_connection: int = MAX_JOBS_PER_CONNECTION,
                 max_connections: int | None = None, cors_allowed_origins: str | list[str] | None = None) -> None:
        self.service = service
        self.hub = hub
        self.max_jobs = max_jobs_per_connection
        self.max_connections = max_connections
        # Ping every 25 s: a dead peer is noticed and its slot freed within about 45 s.
        self.sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=cors_allowed_origins,
                                        ping_interval=25, ping_timeout=20, logger=False, engineio_logger=False)
        self.jobs_by_sid: dict[str, set[str]] = {}
        self.identity_by_sid: dict[str, str] = {}  # rate-limit identity of each socket
        self.tasks: set[asyncio.Task] = set()
        self._ready: tuple[float, bool] | None = None
        self._ready_lock = asyncio.Lock()
        hub.attach(self._emit_to_room)
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("start_analysis", self.on_start_analysis)
        self.sio.on("subscribe", self.on_subscribe)
        self.sio.on("unsubscribe", self.on_unsubscribe)

    def asgi_app(self, other_asgi_app: Any) -> socketio.ASGIApp:
        """Socket.IO at ``/socket.io/``, everything else to ``other_asgi_app`` (the FastAPI app)."""
        return socketio.ASGIApp(self.sio, other_asgi_app=other_asgi_app, socketio_path="socket.io")

    async def _emit_to_room(self, event: str, data: dict, room: str) -> None:
        await self.sio.emit(event, data, room=room)

    # -- connection ---------------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        settings = self.service.settings
        if settings.auth_enabled:
            key = api_key_from(auth, environ)
            if not key:
                raise socketio.exceptions.ConnectionRefusedError(
                    "missing API key: connect with auth={'api_key': '<key>'} or an X-API-Key header",
                    {"error": "unauthorized", "status": 401})
            try:
                _check_key(settings, key)
            except AuthenticationError as exc:
                raise socketio.exceptions.ConnectionRefusedError(
                    exc.message, {"error": exc.code, "status": exc.http_status}) from None
        if self.max_connections is not None and len(self.jobs_by_sid) >= self.max_connections:
            # Refused rather than queued: past this, open sockets would starve REST of request slots.
            raise socketio.exceptions.ConnectionRefusedError(
                f"this ingress replica holds its maximum of {self.max_connections} sockets; retry shortly",
                {"error": "overloaded", "status": 503, "retry_after": 5})
        self.jobs_by_sid[sid] = set()
        self.identity_by_sid[sid] = ratelimit.identity_of(
            api_key_from(auth, environ) if settings.auth_enabled else None, environ.get("REMOTE_ADDR"))
        self.hub.start()
        # Sent after this handler returns, i.e. after the client has its CONNECT packet.
        self.sio.start_background_task(self._send_status, sid)

    async def _send_status(self, sid: str) -> None:
        ready = await self.models_ready()
        await self.sio.emit("connection_status", {"status": "connected", "models_ready": ready, "sid": sid,
                                                  "server": self.hub.origin[:12], "version": __version__}, to=sid)

    async def models_ready(self) -> bool:
        """Whether every model deployment answers (cached briefly: connections must stay cheap)."""
        async with self._ready_lock:
            now = time.monotonic()
            if self._ready is None or now - self._ready[0] > READINESS_TTL_S:
                status = await self.service.status()
                self._ready = (now, bool(status["models_ready"]))
            return self._ready[1]

    async def on_disconnect(self, sid: str, *reason: Any) -> None:
        # Rooms are left by python-socketio; running jobs go on (a client may resubscribe).
        self.jobs_by_sid.pop(sid, None)
        self.identity_by_sid.pop(sid, None)

    # -- analyses -----------------------------------------------------------------------------

    async def _refuse(self, sid: str, job_id: str | None, exc: BaseException) -> dict:
        status, body, _ = error_payload(exc)
        payload = {"job_id": job_id, "status": status, **body}
        await self.sio.emit("analysis_error", payload, to=sid)
        return {"ok": False, **payload}

    async def on_start_analysis(self, sid: str, data: Any = None) -> dict:
        """Validate, join the job's room, run the analysis in the background; ack with the job id."""
        requested = data.get("job_id") if isinstance(data, dict) else None
        try:
            if not isinstance(data, dict):
                raise InvalidRequestError("start_analysis needs an object: {media_url, media_type?, job_id?}")
            try:
                req = AnalyzeRequest.model_validate(data)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise InvalidRequestError(f"invalid start_analysis payload: {problems}") from None
            intake.parse_media_type(req.media_type)  # refuse a bad media_type before starting
            running = self.jobs_by_sid.get(sid)
            if running is None:
                raise InvalidRequestError("this connection is closing")
            if len(running) >= self.max_jobs:
                raise RateLimitedError(f"{len(running)} analyses are already running on this connection "
                                       f"(limit {self.max_jobs}); wait for one to finish", retry_after=1.0)
            # The same per-key rate limit as REST (429 with Retry-After).
            ratelimit.limiter_for(self.service).check(self.identity_by_sid.get(sid, "addr:unknown"))
            job_id = self.service.new_job_id(req.job_id)
            if self.hub.state(job_id) != "pending":  # a job's events must tell one story
                raise InvalidRequestError(f"job_id {job_id} is already in use")
        except DetectionError as exc:
            return await self._refuse(sid, requested if isinstance(requested, str) else None, exc)
        await self.sio.enter_room(sid, job_room(job_id))
        running.add(job_id)
        task = asyncio.create_task(self._run(sid, req, job_id), name=f"analysis-{job_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return {"ok": True, "job_id": job_id}

    async def _run(self, sid: str, req: AnalyzeRequest, job_id: str) -> None:
        gate = getattr(self.service, "admission", None)
        try:
            if gate is None:
                await self.service.analyze_url(req, job_id)
            else:
                try:  # the same admission gate as REST: 503 with Retry-After when saturated
                    await gate.acquire()
                except DetectionError as exc:
                    status, body, _ = error_payload(exc)
                    await self.service.hub.publish(job_id, "analysis_error", {"job_id": job_id, "status": status,
                                                                              **body})
                    raise
                start = time.monotonic()
                try:
                    await self.service.analyze_url(req, job_id)
                finally:
                    await gate.release(time.monotonic() - start)
        except DetectionError as exc:  # already published to the room as analysis_error
            log.info("job %s: %s: %s", job_id, exc.code, exc.message)
        except Exception as exc:  # published as analysis_error (and logged) by Service.run
            log.info("job %s failed: %s", job_id, type(exc).__name__)
        finally:
            running = self.jobs_by_sid.get(sid)
            if running is not None:
                running.discard(job_id)

    async def on_subscribe(self, sid: str, data: Any = None) -> dict:
        """Join a job's room (e.g. a REST job with a ``job_id``, or after reconnecting) and get
        what was missed: the logged events with ``seq`` above ``after_seq``."""
        requested = data.get("job_id") if isinstance(data, dict) else None
        try:
            if not isinstance(requested, str):
                raise InvalidRequestError("subscribe needs {job_id, after_seq?}")
            job_id = self.service.new_job_id(requested)
            after = data.get("after_seq", 0) or 0
            if not isinstance(after, int) or isinstance(after, bool) or after < 0:
                raise InvalidRequestError("after_seq must be a non-negative integer")
        except DetectionError as exc:
            return await self._refuse(sid, requested if isinstance(requested, str) else None, exc)
        self.hub.start()

        async def join() -> None:
            await self.sio.enter_room(sid, job_room(job_id))

        async def replay(event: str, payload: dict) -> None:
            await self.sio.emit(event, payload, to=sid)

        state = await self.hub.subscribe(job_id, join, replay, after)
        return {"ok": True, "job_id": job_id, "state": state}

    async def on_unsubscribe(self, sid: str, data: Any = None) -> dict:
        job_id = data.get("job_id") if isinstance(data, dict) else None
        if not isinstance(job_id, str):
            return await self._refuse(sid, None, InvalidRequestError("unsubscribe needs {job_id}"))
        await self.sio.leave_room(sid, job_room(job_id))
        return {"ok": True, "job_id": job_id}


def create_realtime_app(service: Service, hub: JobEventHub, **options: Any) -> tuple[Any, RealtimeServer]:
    """The ingress ASGI app: Socket.IO plus the FastAPI app, on one port. Call it inside the
    process that serves (the Serve replica, or a test's uvicorn thread)."""
    from deployments.api import create_api

    realtime = RealtimeServer(service, hub, **options)
    return realtime.asgi_app(create_api(service)), realtime
