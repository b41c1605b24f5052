"""Helpers for the hardening tests: scripted local HTTP servers and the API over stand-in detectors.

Loopback only. ``http_server`` serves handler functions on 127.0.0.x and records every request,
so a test can prove that a forbidden address was never contacted. ``standin_api`` runs the real
``create_api`` + ``Service`` + worker classes in-process (``tests.local_graph``) under uvicorn,
with settings taken from the environment it is given.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

KEY = "hardening-key-6f1e9a2c4b7d"
STANDIN_ENV = {
    "DETECTOR_PLUGINS": '["tests.standin_detectors"]',
    "IMAGE_DETECTOR": "image-standin",
    "AUDIO_DETECTOR": "audio-standin",
    "VIDEO_DETECTOR": "video-standin",
    "PYTHON_SERVICE_API_KEY": KEY,
    "RATE_LIMIT_PER_MINUTE": "0",
    "ENVIRONMENT": "test",
}

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Recorded:
    """Requests a scripted server received: (path, headers) in arrival order."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]


def raw_response(req: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes = b"") -> None:
    """Write a response byte for byte (no header is added or fixed up), then close the connection."""
    req.close_connection = True
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    req.wfile.write(head.encode("latin-1") + body)
    req.wfile.flush()


def ok(body: bytes, content_type: str = "application/octet-stream") -> Handler:
    def handler(req: BaseHTTPRequestHandler) -> None:
        raw_response(req, 200, {"Content-Type": content_type, "Content-Length": str(len(body))}, body)

    return handler


def redirect(location: str | Callable[[], str], status: int = 302) -> Handler:
    def handler(req: BaseHTTPRequestHandler) -> None:
        loc = location() if callable(location) else location
        raw_response(req, status, {"Location": loc, "Content-Length": "0"})

    return handler


@contextmanager
def http_server(routes: dict[str, Handler], host: str = "127.0.0.1", ssl_context=None) -> Iterator[tuple[str, Recorded]]:
    """Serve ``routes`` (exact path → handler; anything else 404) on ``host``; yield (base URL, record)."""
    record = Recorded()

    class _Req(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            record.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            handler = routes.get(self.path.split("?")[0])
            if handler is None:
                raw_response(self, 404, {"Content-Length": "0"})
            else:
                try:
                    handler(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first: that is what several tests provoke

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer((host, 0), _Req)
    server.daemon_threads = True
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    scheme = "https" if ssl_context is not None else "http"
    try:
        yield f"{scheme}://{host}:{server.server_address[1]}", record
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def scoped_env(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (and re-read settings) for the duration of the block."""
    from detectors.settings import get_settings

    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


@dataclass
class ApiUnderTest:
    """A running API: its base URL, scratch folder, ``Service`` and FastAPI app."""

    url: str
    scratch: Path
    service: object
    app: object


@contextmanager
def standin_api(tmp: Path, **overrides: str) -> Iterator[ApiUnderTest]:
    """The REST API over the in-process graph with stand-in detectors (uvicorn on loopback).

    ``overrides`` are extra settings as environment values (``MAX_UPLOAD_BYTES="1000"`` ...).
    """
    from deployments.api import Service, create_api
    from detectors.settings import get_settings
    from tests.asgi_server import running
    from tests.local_graph import local_handles

    scratch = tmp / "scratch"
    env = {**STANDIN_ENV, "UPLOAD_FOLDER": str(scratch), "LOG_DIR": str(tmp / "logs"),
           **{k.upper(): str(v) for k, v in overrides.items()}}
    with scoped_env(env):
        service = Service(get_settings(), local_handles())
        app = create_api(service)
        with running(app) as base:
            yield ApiUnderTest(base, scratch, service, app)


def scratch_files(scratch: Path) -> list[Path]:
    """Everything left under the scratch folder (files and job folders)."""
    return sorted(scratch.rglob("*")) if scratch.exists() else []


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
