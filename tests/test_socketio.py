"""Socket.IO live progress over real sockets: the python-socketio client and Node's socket.io-client
against the ingress ASGI app (FastAPI + Socket.IO on one port) served by uvicorn, with the graph's
worker classes in-process and stand-in detectors. Two "replicas" (two servers) share a progress
bus running on its own event loop, as the Serve ``ProgressBus`` deployment would.

The same scenarios run through a real ``serve.run`` with two ingress replicas in
test_socketio_serve.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.asgi_server import running
from tests.media_factory import write_audio, write_image, write_video

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
DOCS = ROOT / "docs" / "socketio.md"
KEY = "socket-test-key-5b1f0c"
STANDIN_ENV = {
    "DETECTOR_PLUGINS": '["tests.standin_detectors"]',
    "IMAGE_DETECTOR": "image-standin",
    "AUDIO_DETECTOR": "audio-standin",
    "VIDEO_DETECTOR": "video-standin",
    "PYTHON_SERVICE_API_KEY": KEY,
    "ALLOW_LOCAL_PATHS": "true",
    "RATE_LIMIT_PER_MINUTE": "0",
    "ENVIRONMENT": "test",
}
SERVER_EVENTS = ("connection_status", "progress_update", "analysis_complete", "analysis_error")


# -- helpers (also used by test_socketio_serve.py) ------------------------------------------------


def job_of(event: str, data: dict) -> str | None:
    return data.get("jobId") if event == "analysis_complete" else data.get("job_id")


_LOOP: asyncio.AbstractEventLoop | None = None


def client_loop() -> asyncio.AbstractEventLoop:
    """One event loop thread for the tests' clients (python-socketio's AsyncClient handles a
    socket's events in arrival order; the threaded ``socketio.Client`` may not)."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        threading.Thread(target=_LOOP.run_forever, daemon=True, name="socketio-clients").start()
    return _LOOP


class Recorder:
    """A python-socketio client that records every server event in arrival order."""

    def __init__(self, url: str, key: str | None = KEY, transports: tuple[str, ...] = ("websocket",),
                 headers: dict | None = None, auth: Any = "default") -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, dict, float]] = []
        self.refusal: Any = None
        self.cond = threading.Condition()
        for name in SERVER_EVENTS:
            self.sio.on(name, partial(self._record, name))
        self.sio.on("connect_error", self._refused)
        auth = {"api_key": key} if auth == "default" and key else (None if auth == "default" else auth)
        self._run(self.sio.connect(url, auth=auth, headers=headers or {}, transports=list(transports),
                                   wait_timeout=10))

    @staticmethod
    def _run(coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, client_loop()).result(timeout)

    def _record(self, name: str, data: dict) -> None:
        with self.cond:
            self.events.append((name, data, time.time()))
            self.cond.notify_all()

    def _refused(self, data: Any) -> None:
        self.refusal = data

    def start(self, **payload: Any) -> dict:
        return self._run(self.sio.call("start_analysis", payload, timeout=15))

    def subscribe(self, job_id: str, after_seq: int = 0) -> dict:
        return self._run(self.sio.call("subscribe", {"job_id": job_id, "after_seq": after_seq}, timeout=15))

    def wait_for(self, predicate, timeout: float = 60.0) -> list[tuple[str, dict, float]]:
        deadline = time.time() + timeout
        with self.cond:
            while not predicate(self.events):
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"timed out; events so far: {[(e, d) for e, d, _ in self.events]}")
                self.cond.wait(left)
            return list(self.events)

    def wait_done(self, *job_ids: str, timeout: float = 60.0) -> list[tuple[str, dict, float]]:
        def done(events: list) -> bool:
            ended = {job_of(e, d) for e, d, _ in events if e in ("analysis_complete", "analysis_error")}
            return set(job_ids) <= ended

        return self.wait_for(done, timeout)

    def job_events(self, job_id: str) -> list[tuple[str, dict]]:
        with self.cond:
            return [(e, d) for e, d, _ in self.events if job_of(e, d) == job_id]

    def job_ids(self) -> set[str]:
        with self.cond:
            return {job_of(e, d) for e, d, _ in self.events if e != "connection_status"}

    def close(self) -> None:
        if self.sio.connected:
            self._run(self.sio.disconnect())


def assert_stream(events: list[tuple[str, dict]], job_id: str, outcome: str = "analysis_complete",
                  from_start: bool = True) -> list[dict]:
    """One job's events: ``progress_update`` with rising seq, non-decreasing progress ending at
    100, all before exactly one terminal event. Returns the progress events."""
    names = [e for e, _ in events]
    assert names.count(outcome) == 1 and names[-1] == outcome, names
    assert set(names) <= {"progress_update", outcome}, names
    progress = [d for e, d in events if e == "progress_update"]
    assert progress, names
    assert all(d["job_id"] == job_id for d in progress)
    seqs = [d["seq"] for d in progress]
    assert seqs == sorted(set(seqs)), seqs
    values = [d["progress"] for d in progress]
    assert values == sorted(values) and all(0 <= v <= 100 for v in values), values
    if from_start:
        assert progress[0]["stage"] == "started" and values[0] == 0 and seqs[0] == 1
    if outcome == "analysis_complete":
        assert values[-1] == 100 and progress[-1]["stage"] == "complete"
        assert events[-1][1]["jobId"] == job_id
    for d in progress:
        assert {"job_id", "stage", "progress", "message", "seq", "sent_at"} <= d.keys()
    return progress


def model_partials(progress: list[dict]) -> list[dict]:
    """Per-batch scores reported while the model stage runs."""
    return [d["partial"] for d in progress if isinstance(d.get("partial"), dict) and "scores" in d["partial"]]


class ErrorLog(logging.Handler):
    """Collects ERROR records of the service's, asyncio's and Socket.IO's loggers."""

    NAMES = ("deepfake", "asyncio", "socketio", "engineio", "uvicorn.error")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @contextmanager
    def watching(self) -> Iterator[ErrorLog]:
        loggers = [logging.getLogger(n) for n in self.NAMES]
        for lg in loggers:
            lg.addHandler(self)
        try:
            yield self
        finally:
            for lg in loggers:
                lg.removeHandler(self)

    def messages(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records]


class _Delayed:
    """A stand-in model handle whose ``scores`` waits first: keeps jobs running long enough to disconnect."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner, self.delay = inner, delay

    def options(self, **kw: Any) -> _Delayed:
        return _Delayed(self.inner.options(**kw), self.delay)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name != "scores":
            return method
        delay = self.delay

        class _Response:
            def __init__(self, args: tuple, kwargs: dict) -> None:
                self.args, self.kwargs = args, kwargs

            def result(self, timeout_s: float | None = None) -> Any:  # a blocking call from a thread
                time.sleep(delay)
                return method.remote(*self.args, **self.kwargs).result()

            def __await__(self):  # the Analysis deployment awaits model calls on its event loop
                async def delayed() -> Any:
                    await asyncio.sleep(delay)
                    return await method.remote(*self.args, **self.kwargs)

                return delayed().__await__()

        class _M:
            @staticmethod
            def remote(*args: Any, **kwargs: Any) -> Any:
                return _Response(args, kwargs)

        return _M()


class ThreadBus:
    """The ``ProgressBus`` deployment's class on its own event loop and thread, behind a handle-like
    object: what two ingress replicas see of the Serve deployment, without Ray."""

    def __init__(self) -> None:
        from deployments.progress import ProgressBus

        self.bus = ProgressBus.func_or_class()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.bus, name)
        loop = self.loop

        class _M:
            @staticmethod
            def remote(*args: Any, **kwargs: Any) -> Any:
                return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), loop))

        return _M()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class TcpCutter:
    """A loopback TCP forwarder whose open connections can be cut at once, as Serve's proxy does
    to a websocket when ``http_options.request_timeout_s`` runs out."""

    def __init__(self, upstream: str) -> None:
        import socket

        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.conns: list = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass  # the other direction was cut: this one ends too
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> int:
        import socket

        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(conns)

    def close(self) -> None:
        self.listener.close()
        self.cut()


@contextmanager
def ingress_server(delay: float = 0.0, bus: Any = None, **options: Any) -> Iterator[tuple[str, Any]]:
    """The ingress ASGI app (REST + Socket.IO) under uvicorn; yields (base URL, RealtimeServer)."""
    from deployments.api import Service
    from deployments.progress import BusClient, JobEventHub
    from deployments.socketio_server import create_realtime_app
    from detectors.settings import get_settings
    from tests.local_graph import local_handles

    handles = local_handles(wrap_models=(lambda h: _Delayed(h, delay)) if delay else None)
    hub = JobEventHub(BusClient(bus, poll_timeout_s=2.0) if bus is not None else None)
    app, realtime = create_realtime_app(Service(get_settings(), handles, hub), hub, **options)
    with running(app) as base:
        yield base, realtime


def post_json(base: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{base}/api/analyze", json=body, headers={"X-API-Key": KEY}, timeout=60)


def npm_install(node_dir: Path = NODE_DIR) -> None:
    """``npm install`` into tests/node when node_modules is missing; skip only if the registry is
    unreachable (offline machine). Node and npm themselves are required."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: the Socket.IO tests need Node.js >= 18 and npm")
    if (node_dir / "node_modules" / "socket.io-client").is_dir():
        return
    proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=node_dir,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        text = proc.stdout + proc.stderr
        if re.search(r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|network", text):
            pytest.skip(f"npm cannot reach the registry, socket.io-client not installed: {text.strip()[-300:]}")
        pytest.fail(f"npm install failed in {node_dir}:\n{text}")


def node_client(url: str, plan: dict, timeout: float = 90.0, tries: int = 20) -> list[tuple[str, Any]]:
    """Run tests/node/client.js with a plan; returns its (event, data) lines in arrival order.
    With ``avoidServer`` in the plan, reconnects until another ingress replica holds the socket."""
    for _ in range(tries):
        proc = subprocess.run(["node", str(NODE_DIR / "client.js"), url, json.dumps(plan)], capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 3:
            break
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, f"node client failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}"
    return [(x["event"], x["data"]) for x in lines]


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("scratch")
    saved = {k: os.environ.get(k) for k in [*STANDIN_ENV, "UPLOAD_FOLDER", "LOG_DIR"]}
    os.environ.update(STANDIN_ENV, UPLOAD_FOLDER=str(scratch), LOG_DIR=str(tmp_path_factory.mktemp("logs")))
    from detectors.settings import get_settings

    get_settings.cache_clear()
    yield scratch
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    bad = d / "doc.pdf"
    bad.write_bytes(b"%PDF-1.4\n" + b"x" * 500)
    return {
        "image": write_image(d / "face.png"),
        "audio": write_audio(d / "voice.mp3", seconds=3.0),
        "video": write_video(d / "clip.webm", seconds=1.0),
        "pdf": bad,
    }


@pytest.fixture(scope="module")
def server(env):
    with ingress_server() as (base, realtime):
        yield base, realtime


@pytest.fixture(scope="module")
def url(server) -> str:
    return server[0]


@pytest.fixture(scope="module")
def slow_server(env):
    with ingress_server(delay=1.0) as (base, realtime):
        yield base, realtime


@pytest.fixture(scope="module")
def two_replicas(env):
    bus = ThreadBus()
    try:
        with ingress_server(delay=0.5, bus=bus) as one, ingress_server(delay=0.5, bus=bus) as two:
            yield one, two
    finally:
        bus.close()


@pytest.fixture()
def client(url):
    clients: list[Recorder] = []

    def make(**kw: Any) -> Recorder:
        c = Recorder(kw.pop("base", url), **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


# -- connection and authentication ---------------------------------------------------------------


def test_connection_status_reports_models_ready(client):
    c = client()
    events = c.wait_for(lambda ev: any(e == "connection_status" for e, _, _ in ev), timeout=30)
    status = next(d for e, d, _ in events if e == "connection_status")
    assert status["models_ready"] is True and status["status"] == "connected"
    assert status["sid"] == c.sio.get_sid()


def test_api_key_in_header_is_accepted(client):
    c = client(auth=None, headers={"X-API-Key": KEY})
    assert c.sio.connected


@pytest.mark.parametrize("key,reason", [(None, "missing API key"), ("wrong-key", "invalid API key")])
def test_connection_without_valid_key_is_refused_with_reason(url, key, reason):
    sio = socketio.Client(reconnection=False)
    refusals: list = []
    sio.on("connect_error", refusals.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(url, auth={"api_key": key} if key else None, transports=["websocket"], wait_timeout=10)
    assert refusals and reason in refusals[0]["message"]
    assert refusals[0]["data"] == {"error": "unauthorized", "status": 401}
    assert KEY not in json.dumps(refusals)


def test_socket_capacity_leaves_request_slots_for_rest():
    from deployments.socketio_server import socket_capacity

    assert [socket_capacity(n) for n in (500, 100, 20, 5)] == [450, 90, 12, 1]


def test_sockets_over_the_replica_limit_are_refused_and_rest_still_answers(env):
    with ingress_server(max_connections=2) as (base, realtime):
        held = [Recorder(base), Recorder(base)]
        sio = socketio.Client(reconnection=False)
        refusals: list = []
        sio.on("connect_error", refusals.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            sio.connect(base, auth={"api_key": KEY}, transports=["websocket"], wait_timeout=10)
        assert refusals[0]["data"]["error"] == "overloaded" and "maximum of 2 sockets" in refusals[0]["message"]
        assert httpx.get(f"{base}/api/health", timeout=10).status_code == 200
        held.pop().close()
        time.sleep(0.2)
        held.append(Recorder(base))  # a freed slot is reusable
        assert len(realtime.jobs_by_sid) == 2
        for c in held:
            c.close()


def test_long_polling_with_upgrade_works_on_one_replica(client, media):
    c = client(transports=("polling", "websocket"))
    job = c.start(media_url=str(media["image"]))["job_id"]
    c.wait_done(job)
    assert_stream(c.job_events(job), job)


# -- analyses ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["image", "audio", "video"])
def test_progress_arrives_in_order_before_the_result(client, url, media, kind):
    c = client()
    ack = c.start(media_url=str(media[kind]), media_type=kind)
    assert ack["ok"] is True
    job = ack["job_id"]
    c.wait_done(job)
    events = c.job_events(job)
    progress = assert_stream(events, job)
    stages = [d["stage"] for d in progress]
    assert "fetched" in stages and "aggregating" in stages
    partials = model_partials(progress)
    assert partials and all(isinstance(s, float) for p in partials for s in p["scores"])
    if kind == "video":
        assert "video_frames" in stages and "video_audio" in stages
    result = events[-1][1]
    rest = post_json(url, media_url=str(media[kind]), media_type=kind).json()
    assert result.keys() == rest.keys()
    assert (result["mediaType"], result["verdict"], result.get("fakeProbability")) == (
        rest["mediaType"], rest["verdict"], rest.get("fakeProbability"))


def test_several_analyses_at_once_from_one_client(client, media):
    c = client()
    acks = [c.start(media_url=str(media[k]), media_type=k) for k in ("video", "image", "audio", "image")]
    jobs = [a["job_id"] for a in acks]
    assert all(a["ok"] for a in acks) and len(set(jobs)) == 4
    c.wait_done(*jobs)
    for job in jobs:
        assert_stream(c.job_events(job), job)
    assert c.job_ids() == set(jobs)


def test_two_clients_with_interleaved_jobs_see_only_their_own(client, media):
    a, b = client(), client()
    a_jobs, b_jobs = [], []
    for kind in ("video", "audio", "image"):
        a_jobs.append(a.start(media_url=str(media[kind]))["job_id"])
        b_jobs.append(b.start(media_url=str(media[kind]))["job_id"])
    a.wait_done(*a_jobs)
    b.wait_done(*b_jobs)
    assert a.job_ids() == set(a_jobs) and b.job_ids() == set(b_jobs)
    for rec, jobs in ((a, a_jobs), (b, b_jobs)):
        for job in jobs:
            assert_stream(rec.job_events(job), job)


def test_client_chosen_job_id(client, media):
    c = client()
    ack = c.start(media_url=str(media["image"]), job_id="my-own-job-0001")
    assert ack == {"ok": True, "job_id": "my-own-job-0001"}
    c.wait_done("my-own-job-0001")
    assert_stream(c.job_events("my-own-job-0001"), "my-own-job-0001")
    again = c.start(media_url=str(media["image"]), job_id="my-own-job-0001")
    assert again["ok"] is False and "already in use" in again["message"]


@pytest.mark.parametrize("form", ["json", "multipart"])
def test_rest_job_streams_to_a_socket_subscribed_before_it_starts(client, url, media, form):
    c = client()
    job = f"rest-{form}-job-42"
    assert c.subscribe(job) == {"ok": True, "job_id": job, "state": "pending"}
    if form == "json":
        r = post_json(url, media_url=str(media["audio"]), job_id=job)
    else:
        with open(media["audio"], "rb") as fh:
            r = httpx.post(f"{url}/api/analyze", files={"file": ("voice.mp3", fh)}, data={"job_id": job},
                           headers={"X-API-Key": KEY}, timeout=60)
    assert r.status_code == 200, r.text
    c.wait_done(job, timeout=10)
    events = c.job_events(job)
    assert_stream(events, job)
    assert events[-1][1] == r.json()  # analysis_complete is exactly the REST JSON


def test_subscribing_to_a_finished_job_replays_it(client, media):
    a = client()
    job = a.start(media_url=str(media["image"]))["job_id"]
    a.wait_done(job)
    b = client()
    assert b.subscribe(job)["state"] == "complete"
    b.wait_done(job, timeout=10)
    assert b.job_events(job) == a.job_events(job)


@pytest.mark.parametrize(
    "payload,code,status",
    [
        ({"media_type": "image"}, "invalid_request", 400),
        ({"media_url": "/x.png", "job_id": "no spaces allowed"}, "invalid_request", 400),
        ({"media_url": "/x.png", "media_type": "hologram"}, "invalid_request", 400),
    ],
)
def test_bad_requests_are_refused_with_a_code(client, payload, code, status):
    c = client()
    ack = c.start(**payload)
    assert ack["ok"] is False and ack["error"] == code and ack["status"] == status and ack["message"]
    events = c.wait_for(lambda ev: any(e == "analysis_error" for e, _, _ in ev), timeout=10)
    assert [d for e, d, _ in events if e == "analysis_error"][0] == {k: v for k, v in ack.items() if k != "ok"}


def test_failing_analysis_emits_analysis_error(client, media):
    c = client()
    job = c.start(media_url=str(media["pdf"]))["job_id"]
    c.wait_done(job)
    events = c.job_events(job)
    assert_stream(events, job, outcome="analysis_error")
    err = events[-1][1]
    assert (err["error"], err["status"]) == ("unsupported_media_type", 415) and err["message"]


def test_missing_file_is_not_found(client, media, tmp_path):
    c = client()
    job = c.start(media_url=str(tmp_path / "missing.png"))["job_id"]
    c.wait_done(job)
    assert c.job_events(job)[-1][1]["error"] == "not_found"


# -- disconnects, resubscribing, limits (slowed-down model stage) --------------------------------


def test_disconnect_mid_job_is_harmless_and_a_new_socket_resumes(slow_server, media, env):
    base, realtime = slow_server
    with ErrorLog().watching() as errors:
        a = Recorder(base)
        old_sid = a.sio.get_sid()
        job = a.start(media_url=str(media["audio"]))["job_id"]
        a.wait_for(lambda ev: any(e == "progress_update" and d["stage"] == "fetched" for e, d, _ in ev))
        seen = [d["seq"] for e, d in a.job_events(job) if e == "progress_update"]
        a.close()
        time.sleep(0.2)
        assert old_sid not in realtime.jobs_by_sid
        b = Recorder(base)
        ack = b.subscribe(job, after_seq=seen[-1])
        assert ack["state"] == "running"
        b.wait_done(job, timeout=20)
        resumed = b.job_events(job)
        progress = assert_stream(resumed, job, from_start=False)
        assert progress[0]["seq"] == seen[-1] + 1  # nothing missed, nothing repeated
        b.close()
        deadline = time.time() + 15  # generous: the server handles the disconnect asynchronously
        while (realtime.tasks or realtime.jobs_by_sid) and time.time() < deadline:
            time.sleep(0.05)
    assert errors.messages() == []
    assert not realtime.tasks and realtime.jobs_by_sid == {}
    rooms = realtime.sio.manager.rooms.get("/", {})
    assert all(old_sid not in members for members in rooms.values())
    assert [p for p in Path(env).rglob("*") if p.is_file()] == []


def test_disconnect_with_jobs_running_then_nobody_listens(slow_server, media):
    base, realtime = slow_server
    with ErrorLog().watching() as errors:
        a = Recorder(base)
        jobs = [a.start(media_url=str(media[k]))["job_id"] for k in ("image", "audio", "video")]
        a.close()
        deadline = time.time() + 20
        while realtime.tasks and time.time() < deadline:
            time.sleep(0.05)
    assert not realtime.tasks
    assert errors.messages() == []
    assert all(realtime.hub.state(j) == "complete" for j in jobs)


def test_too_many_analyses_on_one_connection_are_refused(slow_server, media):
    base, realtime = slow_server
    c = Recorder(base)
    try:
        acks = [c.start(media_url=str(media["image"])) for _ in range(realtime.max_jobs + 1)]
        assert all(a["ok"] for a in acks[:-1])
        assert acks[-1]["ok"] is False and acks[-1]["error"] == "rate_limited" and acks[-1]["status"] == 429
        c.wait_done(*[a["job_id"] for a in acks[:-1]], timeout=30)
    finally:
        c.close()


# -- two ingress replicas sharing the progress bus -------------------------------------------------


def test_two_replicas_rest_job_on_one_streams_to_socket_on_other(two_replicas, media):
    (base1, _), (base2, _) = two_replicas
    c = Recorder(base1)
    try:
        job = "cross-replica-rest-1"
        c.subscribe(job)
        r = post_json(base2, media_url=str(media["video"]), job_id=job)
        assert r.status_code == 200
        c.wait_done(job, timeout=10)
        events = c.job_events(job)
        assert_stream(events, job)
        assert events[-1][1] == r.json()
    finally:
        c.close()


def test_two_replicas_interleaved_clients_see_only_their_own(two_replicas, media):
    (base1, _), (base2, _) = two_replicas
    a, b = Recorder(base1), Recorder(base2)
    try:
        a_jobs, b_jobs = [], []
        for kind in ("image", "video", "audio"):
            a_jobs.append(a.start(media_url=str(media[kind]))["job_id"])
            b_jobs.append(b.start(media_url=str(media[kind]))["job_id"])
        a.wait_done(*a_jobs)
        b.wait_done(*b_jobs)
        assert a.job_ids() == set(a_jobs) and b.job_ids() == set(b_jobs)
        for rec, jobs in ((a, a_jobs), (b, b_jobs)):
            for job in jobs:
                assert_stream(rec.job_events(job), job)
    finally:
        a.close()
        b.close()


def test_two_replicas_resubscribe_on_the_other_replica(two_replicas, media):
    (base1, _), (base2, _) = two_replicas
    a = Recorder(base1)
    job = a.start(media_url=str(media["audio"]))["job_id"]
    a.wait_for(lambda ev: any(e == "progress_update" and d["stage"] == "fetched" for e, d, _ in ev))
    last = max(d["seq"] for e, d in a.job_events(job) if e == "progress_update")
    a.close()
    b = Recorder(base2)
    try:
        time.sleep(0.1)  # the bus has delivered what replica 1 published so far
        b.subscribe(job, after_seq=last)
        b.wait_done(job, timeout=20)
        progress = assert_stream(b.job_events(job), job, from_start=False)
        assert progress[0]["seq"] == last + 1
    finally:
        b.close()


# -- Node's socket.io-client ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def node(env) -> None:
    npm_install()


@pytest.mark.node
def test_node_client_image_audio_video(node, url, media):
    jobs = [{"media_url": str(media[k]), "media_type": k} for k in ("image", "audio", "video")]
    lines = node_client(url, {"key": KEY, "jobs": jobs})
    acks = [d for e, d in lines if e == "ack"]
    assert len(acks) == 3 and all(a["ok"] for a in acks)
    assert lines[0][0] == "connection_status" and lines[0][1]["models_ready"] is True
    for ack in acks:
        events = [(e, d) for e, d in lines if e in SERVER_EVENTS[1:] and job_of(e, d) == ack["job_id"]]
        assert_stream(events, ack["job_id"])


@pytest.mark.node
def test_node_client_polling_then_upgrade(node, url, media):
    lines = node_client(url, {"key": KEY, "transports": ["polling", "websocket"],
                              "jobs": [{"media_url": str(media["image"])}]})
    job = next(d for e, d in lines if e == "ack")["job_id"]
    assert_stream([(e, d) for e, d in lines if e in SERVER_EVENTS[1:]], job)


@pytest.mark.node
def test_node_client_without_key_is_refused(node, url):
    lines = node_client(url, {"jobs": []})
    assert lines[0][0] == "connect_error"
    assert "missing API key" in lines[0][1]["message"] and lines[0][1]["data"]["status"] == 401


@pytest.mark.node
def test_node_clients_interleaved_on_two_replicas(node, two_replicas, media):
    (base1, _), (base2, _) = two_replicas
    job = "node-cross-replica-1"
    results: dict[str, list] = {}

    def run(name: str, base: str, plan: dict) -> None:
        results[name] = node_client(base, plan)

    jobs = [{"media_url": str(media[k])} for k in ("video", "image")]
    threads = [threading.Thread(target=run, args=("a", base1, {"key": KEY, "jobs": jobs})),
               threading.Thread(target=run, args=("b", base2, {"key": KEY, "jobs": jobs, "subscribe": [job]}))]
    for t in threads:
        t.start()
    time.sleep(1.0)  # b has subscribed by now
    r = post_json(base1, media_url=str(media["audio"]), job_id=job)
    for t in threads:
        t.join(timeout=90)
    for name in ("a", "b"):
        lines = results[name]
        own = {d["job_id"] for e, d in lines if e == "ack" and "state" not in d}
        if name == "b":
            own.add(job)
        seen = {job_of(e, d) for e, d in lines if e in SERVER_EVENTS[1:]}
        assert seen == own, (name, seen, own)
        for j in own:
            assert_stream([(e, d) for e, d in lines if e in SERVER_EVENTS[1:] and job_of(e, d) == j], j)
    assert [d for e, d in results["b"] if e == "analysis_complete" and d["jobId"] == job][0] == r.json()


# -- the docs' examples run as written -----------------------------------------------------------


def doc_example(language: str) -> str:
    """The first ``language`` code block of docs/socketio.md that connects a client."""
    blocks = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), flags=re.S)
    marker = "socketio.AsyncClient" if language == "python" else "socket.io-client"
    return next(b for b in blocks if marker in b)


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_docs_examples_run_as_written(request, url, media, tmp_path, language):
    if language == "javascript":
        request.getfixturevalue("node")
    script = tmp_path / ("example.py" if language == "python" else "example.js")
    script.write_text(doc_example(language))
    env = {**os.environ, "DEEPFAKE_URL": url, "PYTHON_SERVICE_API_KEY": KEY, "MEDIA_URL": str(media["video"]),
           "NODE_PATH": str(NODE_DIR / "node_modules")}
    cmd = [sys.executable, str(script)] if language == "python" else ["node", str(script)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "100" in proc.stdout and "verdict" in proc.stdout.lower(), proc.stdout


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_docs_examples_resume_after_the_connection_drops(request, slow_server, media, tmp_path, language):
    """The examples reconnect and resubscribe with after_seq: the job is followed to its end
    once, with no progress missed or repeated (the socket is cut mid-job, as Serve's proxy does)."""
    if language == "javascript":
        request.getfixturevalue("node")
    base, realtime = slow_server
    cutter = TcpCutter(base)
    script = tmp_path / ("example.py" if language == "python" else "example.js")
    script.write_text(doc_example(language))
    env = {**os.environ, "DEEPFAKE_URL": cutter.url, "PYTHON_SERVICE_API_KEY": KEY,
           "MEDIA_URL": str(media["audio"]), "NODE_PATH": str(NODE_DIR / "node_modules")}
    before = set(realtime.hub.log.jobs)
    cmd = [sys.executable, str(script)] if language == "python" else ["node", str(script)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            new = [j for j in realtime.hub.log.jobs if j not in before]
            if new and any(d.get("stage") == "fetched" for _, _, d in realtime.hub.log.jobs[new[0]].events):
                break
            time.sleep(0.02)
        assert new, "the example did not start an analysis"
        assert realtime.hub.state(new[0]) == "running"
        assert cutter.cut() > 0
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        cutter.close()
    assert proc.returncode == 0, out + err
    percents = [float(m) for m in re.findall(r"^\s*([\d.]+)%", out, flags=re.M)]
    expected = [d["progress"] for _, e, d in realtime.hub.log.jobs[new[0]].events if e == "progress_update"]
    assert percents == expected, out
    assert out.count("Verdict:") == 1 and out.count("job ") == 1, out


def test_readme_examples_are_the_tested_ones():
    """The README shows the very examples that the tests above run."""
    readme = (ROOT / "README.md").read_text()
    for language in ("python", "javascript"):
        assert doc_example(language) in re.findall(rf"```{language}\n(.*?)```", readme, flags=re.S)
