"""No temp file is left after success, error, timeout or client disconnect (the scratch folder is counted).

Also checked: no open file descriptor of the server process points into scratch or at a deleted
temp file (Starlette spools big multipart parts to anonymous temp files) once requests are over.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.hardening_app import KEY, http_server, ok, scratch_files, standin_api, wait_until
from tests.media_factory import image_bytes, write_audio, write_video

HEADERS = {"X-API-Key": KEY}
SLOW_S = 1.2


def open_temp_fds(scratch: Path) -> list[str]:
    """This process's descriptors on files in scratch or on deleted files in the temp dir."""
    out = []
    tmp = tempfile.gettempdir()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(scratch)) or (target.startswith(tmp) and target.endswith("(deleted)")):
            out.append(target)
    return out


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with standin_api(tmp_path_factory.mktemp("tempfiles"), MAX_UPLOAD_BYTES="8000000", ALLOW_PRIVATE_URLS="true",
                     FETCH_READ_TIMEOUT="0.5", REQUEST_TIMEOUT_S="30", MAX_BATCH_ITEMS="6") as a:
        a.baseline_fds = open_temp_fds(a.scratch)  # type: ignore[attr-defined]
        yield a


@pytest.fixture()
def slow_image_model(api, monkeypatch):
    """The image stand-in's preprocess takes SLOW_S seconds (a busy or slow replica)."""
    det = api.service.handles.analysis._obj.det("image")
    real = det.preprocess

    def slow(ref, progress=None):
        time.sleep(SLOW_S)
        return real(ref)

    monkeypatch.setattr(det, "preprocess", slow)


@pytest.fixture()
def media(tmp_path):
    return {
        "png": image_bytes("png", (64, 64)),
        "wav": write_audio(tmp_path / "a.wav", seconds=1.0).read_bytes(),
        "webm": write_video(tmp_path / "v.webm", seconds=0.6, size=(64, 48)).read_bytes(),
    }


def clean(api) -> bool:
    return scratch_files(api.scratch) == []


def upload(api, name: str, data: bytes, timeout: float = 30, **form) -> httpx.Response:
    return httpx.post(f"{api.url}/api/analyze", files={"file": (name, data)}, data=form, headers=HEADERS,
                      timeout=timeout)


# --- success and errors -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["png", "wav", "webm"])
def test_success_leaves_nothing(api, media, kind):
    r = upload(api, f"x.{kind}", media[kind])
    assert r.status_code == 200, r.text
    assert clean(api)


@pytest.mark.parametrize("name,data,form,status", [
    ("corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 300, {}, 422),
    ("doc.pdf", b"%PDF-1.4 " + b"x" * 300, {}, 415),
    ("big.wav", b"RIFF" + b"\0" * 8_100_000, {}, 413),
    ("mismatch.png", None, {"media_type": "audio"}, 415),
    ("badtype.png", None, {"media_type": "hologram"}, 400),
])
def test_errors_leave_nothing(api, media, name, data, form, status):
    r = upload(api, name, data if data is not None else media["png"], **form)
    assert r.status_code == status, r.text
    assert clean(api)


def test_url_errors_leave_nothing(api, media):
    routes = {"/ok.png": ok(media["png"]), "/corrupt.png": ok(b"\x89PNG\r\n\x1a\n" + b"\0" * 300),
              "/big.png": ok(b"\x89PNG\r\n\x1a\n" + b"\0" * 8_100_000),
              "/slow.png": lambda req: time.sleep(2)}
    with http_server(routes) as (base, _):
        for path, status in [("/ok.png", 200), ("/corrupt.png", 422), ("/big.png", 413), ("/missing.png", 422),
                             ("/slow.png", 422)]:
            r = httpx.post(f"{api.url}/api/analyze", json={"media_url": f"{base}{path}"}, headers=HEADERS, timeout=30)
            assert r.status_code == status, (path, r.text)
            assert clean(api), path


def test_batch_with_good_and_bad_uploads_leaves_nothing(api, media):
    files = [("file", ("a.png", media["png"])), ("file", ("b.wav", media["wav"])),
             ("file", ("c.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100)), ("file", ("d.pdf", b"%PDF-1.4 xx"))]
    r = httpx.post(f"{api.url}/api/batch-analyze", files=files, headers=HEADERS, timeout=60)
    assert r.status_code == 200, r.text
    assert (r.json()["succeeded"], r.json()["failed"]) == (2, 2)
    assert clean(api)


# --- timeouts -----------------------------------------------------------------------------------


def test_analysis_timeout_is_503_and_leaves_nothing(api, media, slow_image_model):
    api.service.settings.request_timeout_s = 0.4
    try:
        r = upload(api, "x.png", media["png"])
    finally:
        api.service.settings.request_timeout_s = 30.0
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"] == "overloaded" and "in time" in r.json()["message"]
    assert clean(api)
    time.sleep(SLOW_S)  # the abandoned work finishes in its thread and must not leave anything either
    assert clean(api)


# --- client disconnects -------------------------------------------------------------------------


def _raw_partial_upload(url: str, total: int, sent: int) -> None:
    """Start a multipart upload announcing ``total`` bytes, send ``sent`` of them, then vanish."""
    host, port = url.removeprefix("http://").split(":")
    head = (b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.wav\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n")
    with socket.create_connection((host, int(port))) as s:
        s.sendall((f"POST /api/analyze HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {KEY}\r\n"
                   f"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {total}\r\n\r\n").encode())
        s.sendall(head + b"R" * (sent - len(head)))
        time.sleep(0.2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_disconnect_mid_upload_leaves_nothing_and_is_no_server_error(api):
    records = _Records()
    logger = logging.getLogger("deepfake.errors")
    logger.addHandler(records)
    try:
        # 3 MB sent: past Starlette's 1 MB in-memory spool, so a real temp file is involved.
        _raw_partial_upload(api.url, total=6_000_000, sent=3_000_000)
        assert wait_until(lambda: clean(api), timeout=5)
        assert wait_until(lambda: any("disconnected" in r.getMessage() for r in records.records), timeout=5)
    finally:
        logger.removeHandler(records)
    assert not any(r.levelno >= logging.ERROR for r in records.records)  # not logged as an internal error
    assert httpx.get(f"{api.url}/api/health").status_code == 200


def test_disconnect_during_analysis_leaves_nothing(api, media, slow_image_model):
    with pytest.raises(httpx.ReadTimeout):
        upload(api, "x.png", media["png"], timeout=0.3)
    assert wait_until(lambda: clean(api), timeout=SLOW_S + 5)


def test_disconnect_during_url_fetch_leaves_nothing(api, media):
    def slow(req):
        time.sleep(0.3)
        ok(media["png"])(req)

    with http_server({"/slow.png": slow}) as (base, _):
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{api.url}/api/analyze", json={"media_url": f"{base}/slow.png"}, headers=HEADERS,
                       timeout=0.1)
        assert wait_until(lambda: clean(api), timeout=5)


def test_no_descriptor_left_on_temp_files(api):
    # Runs last: after every scenario above, nothing in this process still holds a temp file open.
    assert wait_until(lambda: open_temp_fds(api.scratch) == api.baseline_fds, timeout=5), open_temp_fds(api.scratch)
    assert clean(api)
