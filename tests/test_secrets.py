"""The API key never appears in logs or error bodies, whatever the request and whatever goes wrong."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.hardening_app import KEY, standin_api, wait_until
from tests.media_factory import image_bytes

SECRET_KEY = "signing-secret-5b8e0c7d2a41"
FRAGMENTS = [KEY, KEY[:10], KEY[-10:], SECRET_KEY]


class Collect(logging.Handler):
    """Formats every record it gets (tracebacks included), as a log file or console would."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def leaked(text: str) -> list[str]:
    return [f for f in FRAGMENTS if f in text]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A fresh ``deepfake`` logging setup for this module (it is configured once per process), so its
    handlers carry this module's secrets and write this module's log file."""
    root = logging.getLogger("deepfake")
    saved = list(root.handlers)
    for h in saved:
        root.removeHandler(h)
    third_party = Collect()
    tmp = tmp_path_factory.mktemp("secrets")
    try:
        with standin_api(tmp, SECRET_KEY=SECRET_KEY, ALLOW_LOCAL_PATHS="true", LOG_LEVEL="DEBUG") as api:
            for name in ("uvicorn.error", "uvicorn.access"):  # after uvicorn configured its loggers
                logging.getLogger(name).addHandler(third_party)
            api.third_party = third_party  # type: ignore[attr-defined]
            api.log_file = tmp / "logs" / "deepfake_detection.log"  # type: ignore[attr-defined]
            yield api
    finally:
        for name in ("uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).removeHandler(third_party)
        for h in list(root.handlers):
            if getattr(h, "_deepfake", False):
                root.removeHandler(h)
                h.close()
        for h in saved:
            root.addHandler(h)


def post(api, key: str | None, **json) -> httpx.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return httpx.post(f"{api.url}/api/analyze", json=json, headers=headers, timeout=30)


@pytest.mark.parametrize("sent", [None, "", "wrong", KEY[:-1], KEY + "x", KEY.upper(), KEY[:10], KEY + KEY])
def test_refused_keys_are_not_echoed(env, sent):
    r = post(env, sent, media_url="/x.png")
    assert r.status_code == 401
    assert leaked(r.text) == [] and leaked(str(r.headers)) == []


def test_success_and_status_bodies_hold_no_secret(env):
    r = httpx.post(f"{env.url}/api/analyze", files={"file": ("a.png", image_bytes("png", (32, 32)))},
                   headers={"X-API-Key": KEY}, timeout=30)
    assert r.status_code == 200
    assert leaked(r.text) == []
    assert leaked(httpx.get(f"{env.url}/api/status", timeout=30).text) == []
    assert leaked(httpx.get(f"{env.url}/openapi.json").text) == []


@pytest.mark.parametrize("media_url", [
    f"http://{KEY}.invalid/a.png",  # the key pasted into the URL by mistake: "cannot resolve host ..."
    f"/data/{KEY}/a.png",  # ... or into a path: "no such file ..."
    f"ftp://example.com/{KEY}",
    f"http://127.0.0.1/{KEY}",
])
def test_error_bodies_never_repeat_the_key(env, media_url):
    r = post(env, KEY, media_url=media_url)
    assert 400 <= r.status_code < 500
    assert leaked(r.text) == [], r.text


def test_internal_errors_hide_the_key_in_the_body_and_in_every_log(env, monkeypatch):
    """A bug whose exception message carries the key (the worst case): a generic 500 body, and the
    traceback in the service log and the server's own log is redacted."""
    det = env.service.handles.analysis._obj.det("image")

    def broken(ref, progress=None):
        raise RuntimeError(f"bug while holding X-API-Key={KEY} and secret {SECRET_KEY}")

    monkeypatch.setattr(det, "preprocess", broken)
    r = httpx.post(f"{env.url}/api/analyze", files={"file": ("a.png", image_bytes("png", (32, 32)))},
                   headers={"X-API-Key": KEY}, timeout=30)
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    assert leaked(r.text) == []
    for handler in logging.getLogger("deepfake").handlers:
        handler.flush()
    log_text = env.log_file.read_text()
    assert "RuntimeError" in log_text and "[REDACTED]" in log_text  # the traceback is there, redacted
    assert leaked(log_text) == []
    # The server logs the traceback too, just after the 500 is sent ...
    assert wait_until(lambda: "RuntimeError" in "\n".join(env.third_party.lines), timeout=5)
    third = "\n".join(env.third_party.lines)
    assert leaked(third) == [], third[-2000:]  # ... redacted


def test_log_file_never_holds_a_secret(env):
    # Runs last in the module: everything logged above, at DEBUG level.
    assert env.log_file.exists() and env.log_file.stat().st_size > 0
    assert leaked(env.log_file.read_text()) == []


def test_settings_repr_masks_the_secrets():
    from detectors.settings import Settings

    s = Settings(environment="test", python_service_api_key=KEY, secret_key=SECRET_KEY)
    assert leaked(repr(s)) == [] and leaked(str(s.model_dump())) == []
