"""The REST API over real HTTP, with the graph's worker classes in-process and stand-in detectors.

The same scenarios run through a real ``serve.run`` with the real detectors in test_serve_graph.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.asgi_server import running
from tests.media_factory import write_audio, write_image, write_video

KEY = "test-key-0123456789"
STANDIN_ENV = {
    "DETECTOR_PLUGINS": '["tests.standin_detectors"]',
    "IMAGE_DETECTOR": "image-standin",
    "AUDIO_DETECTOR": "audio-standin",
    "VIDEO_DETECTOR": "video-standin",
    "PYTHON_SERVICE_API_KEY": KEY,
    "ALLOW_LOCAL_PATHS": "true",
    "MAX_UPLOAD_BYTES": "400000",
    "MAX_BATCH_ITEMS": "4",
    "RATE_LIMIT_PER_MINUTE": "0",
}


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
def url(env):
    from deployments.api import Service, create_api
    from detectors.settings import get_settings
    from tests.local_graph import local_handles

    with running(create_api(Service(get_settings(), local_handles()))) as base:
        yield base


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    return {
        "image": write_image(d / "face.png"),
        "audio": write_audio(d / "voice.mp3", seconds=2.0),
        "video": write_video(d / "clip.webm", seconds=1.0),
    }


def post_file(url: str, path: Path, key: str | None = KEY, **form) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    with open(path, "rb") as fh:
        return httpx.post(f"{url}/api/analyze", files={"file": (path.name, fh)}, data=form, headers=headers,
                          timeout=60)


def test_health_needs_no_key(url):
    r = httpx.get(f"{url}/api/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_status_lists_loaded_detectors(url):
    body = httpx.get(f"{url}/api/status", timeout=30).json()
    assert body["models_ready"] is True
    assert body["deployments"]["image_model"]["image"]["name"] == "image-standin"


@pytest.mark.parametrize("kind", ["image", "audio", "video"])
def test_upload_each_modality(url, media, kind):
    r = post_file(url, media[kind], media_type=kind)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mediaType"] == kind
    assert body["verdict"] in ("fake", "real", "inconclusive")
    assert 0 <= body["confidence"] <= 100 and body["processingTime"] > 0 and body["jobId"]
    if kind == "video":
        assert {"frameAnalysis", "totalFrames", "analyzedFrames", "fps", "deepfakeFrameRatio"} <= body.keys()
        assert body["audioTrack"]["mediaType"] == "audio"
    if kind == "audio":
        assert {"duration", "sampleRate", "inconsistencyCount", "artifactCount"} <= body.keys()


def test_json_with_local_path_and_inferred_type(url, media):
    r = httpx.post(f"{url}/api/analyze", json={"media_url": str(media["image"])}, headers={"X-API-Key": KEY})
    assert r.status_code == 200, r.text
    assert r.json()["mediaType"] == "image" and r.json()["source"] == str(media["image"])


@pytest.mark.parametrize("key,status", [(None, 401), ("wrong-key", 401)])
def test_missing_or_wrong_key(url, media, key, status):
    r = post_file(url, media["image"], key=key)
    assert r.status_code == status and r.json()["error"] == "unauthorized"
    assert KEY not in r.text


def test_unsupported_type_is_415(url, tmp_path):
    path = tmp_path / "doc.pdf"
    path.write_bytes(b"%PDF-1.4\n" + b"x" * 500)
    r = post_file(url, path)
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"


def test_declared_type_mismatch_is_415(url, media):
    r = post_file(url, media["image"], media_type="audio")
    assert r.status_code == 415 and r.json()["error"] == "media_type_mismatch"


def test_too_large_is_413(url, tmp_path):
    path = tmp_path / "big.wav"
    write_audio(path, seconds=20.0)  # 640 kB > 400 kB limit
    r = post_file(url, path)
    assert r.status_code == 413 and r.json()["error"] == "media_too_large"


def test_corrupt_file_is_422(url, media, tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(media["image"].read_bytes()[:200])
    r = post_file(url, path)
    assert r.status_code == 422 and r.json()["error"] == "corrupt_media"


def test_private_url_is_refused_with_reason(url):
    r = httpx.post(f"{url}/api/analyze", json={"media_url": "http://127.0.0.1:9/x.png"}, headers={"X-API-Key": KEY})
    assert r.status_code == 400 and r.json()["error"] == "forbidden_url"


def test_unresolvable_url_is_422(url):
    r = httpx.post(f"{url}/api/analyze", json={"media_url": "http://no-such-host.invalid/x.png"},
                   headers={"X-API-Key": KEY}, timeout=30)
    assert r.status_code == 422 and r.json()["error"] == "fetch_failed"


def test_bad_json_and_bad_media_type_are_400(url):
    r = httpx.post(f"{url}/api/analyze", content=b"{not json", headers={"X-API-Key": KEY,
                                                                       "content-type": "application/json"})
    assert r.status_code == 400
    r = httpx.post(f"{url}/api/analyze", json={"media_url": "/x", "media_type": "hologram"},
                   headers={"X-API-Key": KEY})
    assert r.status_code == 400 and "media_type" in r.json()["message"]


def test_batch_reports_each_item_and_its_error(url, media, tmp_path):
    items = [{"media_url": str(media["image"])}, {"media_url": str(media["audio"]), "media_type": "audio"},
             {"media_url": str(tmp_path / "missing.png")}]
    r = httpx.post(f"{url}/api/batch-analyze", json={"media_list": items}, headers={"X-API-Key": KEY}, timeout=60)
    assert r.status_code == 200
    body = r.json()
    assert (body["total"], body["succeeded"], body["failed"]) == (3, 2, 1)
    assert [it["index"] for it in body["results"]] == [0, 1, 2]
    assert body["results"][2]["error"] == "not_found" and body["results"][2]["status"] == 404


def test_batch_over_limit_is_400(url, media):
    items = [{"media_url": str(media["image"])}] * 5
    r = httpx.post(f"{url}/api/batch-analyze", json={"media_list": items}, headers={"X-API-Key": KEY})
    assert r.status_code == 400 and "limit" in r.json()["message"]


def test_openapi_docs_are_served(url):
    assert httpx.get(f"{url}/docs").status_code == 200
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert {"/api/analyze", "/api/batch-analyze", "/api/health", "/api/status"} <= set(paths)


def test_scratch_is_empty_after_all_requests(url, env):
    # Runs last in this module: every request above, good or bad, must have cleaned up.
    leftovers = [p for p in Path(env).rglob("*") if p.is_file()]
    assert leftovers == []
