"""``POST /api/batch-analyze``: JSON and multipart, per-item results and errors, the item limit,
and that items run concurrently (fan out), through the real worker classes (stand-in detectors)."""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi.testclient import TestClient

from tests.media_factory import image_bytes, write_audio, write_image, write_video

STANDIN_ENV = {
    "DETECTOR_PLUGINS": '["tests.standin_detectors"]',
    "IMAGE_DETECTOR": "image-standin",
    "AUDIO_DETECTOR": "audio-standin",
    "VIDEO_DETECTOR": "video-standin",
    "ALLOW_LOCAL_PATHS": "true",
    "MAX_BATCH_ITEMS": "4",
}


@pytest.fixture()
def media(tmp_path):
    d = tmp_path / "media"
    d.mkdir()
    corrupt = d / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    return {
        "image": write_image(d / "a.png", size=(64, 64)),
        "audio": write_audio(d / "b.wav", seconds=1.0),
        "video": write_video(d / "c.mp4", seconds=1.0),
        "corrupt": corrupt,
    }


@pytest.fixture()
def make_client(tmp_path, monkeypatch):
    """Build the API over in-process worker classes; returns (client factory, settings)."""
    from detectors.settings import get_settings

    for k, v in STANDIN_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("UPLOAD_FOLDER", str(tmp_path / "scratch"))
    monkeypatch.setenv("JOB_DB_PATH", str(tmp_path / "jobs.db"))
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    get_settings.cache_clear()

    def make(wrap=None, **env):
        from deployments.api import Service, create_api
        from tests.local_graph import local_handles

        for k, v in env.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        handles = local_handles()
        if wrap is not None:
            handles = wrap(handles)
        return TestClient(create_api(Service(get_settings(), handles)))

    yield make
    get_settings.cache_clear()


def test_json_batch_mixed_results_and_errors(make_client, media):
    with make_client() as client:
        body = {"media_list": [{"media_url": str(media["image"])}, {"media_url": str(media["audio"])},
                               {"media_url": str(media["corrupt"])}, {"media_url": str(media["video"]),
                                                                      "media_type": "audio"}]}
        r = client.post("/api/batch-analyze", json=body)
    assert r.status_code == 200
    out = r.json()
    assert (out["total"], out["succeeded"], out["failed"]) == (4, 2, 2)
    by_index = {it["index"]: it for it in out["results"]}
    assert by_index[0]["ok"] and by_index[0]["result"]["mediaType"] == "image"
    assert by_index[1]["ok"] and by_index[1]["result"]["mediaType"] == "audio"
    assert by_index[2] == {"index": 2, "source": str(media["corrupt"]), "ok": False, "status": 422,
                           "error": "corrupt_media", "message": by_index[2]["message"]}
    assert by_index[3]["error"] == "media_type_mismatch" and by_index[3]["status"] == 415


def test_multipart_batch_uploads(make_client, media):
    files = [("file", ("a.png", media["image"].read_bytes(), "image/png")),
             ("file", ("b.wav", media["audio"].read_bytes(), "audio/wav")),
             ("file", ("junk.bin", b"not media at all", "application/octet-stream"))]
    with make_client() as client:
        r = client.post("/api/batch-analyze", files=files)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["source"], x["ok"]) for x in results] == [("a.png", True), ("b.wav", True), ("junk.bin", False)]
    assert results[2]["error"] == "unsupported_media_type"
    assert results[0]["result"]["source"] == "a.png"


def test_batch_limit_is_a_clear_400(make_client, media):
    with make_client() as client:
        r = client.post("/api/batch-analyze", json={"media_list": [{"media_url": str(media["image"])}] * 5})
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_request" and "limit of 4" in r.json()["message"]
        files = [("file", (f"{i}.png", image_bytes(), "image/png")) for i in range(5)]
        r = client.post("/api/batch-analyze", files=files)
        assert r.status_code == 400 and "limit of 4" in r.json()["message"]


@pytest.mark.parametrize("body,problem", [
    ({"media_list": []}, "the request body is not valid"),
    ({"items": [1]}, "the request body is not valid"),
])
def test_bad_bodies(make_client, body, problem):
    with make_client() as client:
        r = client.post("/api/batch-analyze", json=body)
        assert r.status_code == 400 and r.json()["message"] == problem
        r = client.post("/api/batch-analyze", content=b"x", headers={"content-type": "text/plain"})
        assert r.status_code == 400


def test_batch_needs_the_api_key(make_client, media):
    with make_client(PYTHON_SERVICE_API_KEY="s3cret-key") as client:
        body = {"media_list": [{"media_url": str(media["image"])}]}
        assert client.post("/api/batch-analyze", json=body).status_code == 401
        r = client.post("/api/batch-analyze", json=body, headers={"X-API-Key": "s3cret-key"})
        assert r.status_code == 200 and r.json()["succeeded"] == 1


class _SlowAnalysis:
    """Wraps the Analysis handle: each analysis (batch items are one plain call each: nobody follows
    their progress) waits 0.3 s first, and the peak in flight is kept."""

    def __init__(self, inner) -> None:
        self.inner, self.now, self.peak = inner, 0, 0

    @property
    def analyze_once(self):
        outer, inner = self, self.inner

        class _Once:
            @staticmethod
            async def remote(*a, **k):
                outer.now += 1
                outer.peak = max(outer.peak, outer.now)
                try:
                    await asyncio.sleep(0.3)
                    return await inner.analyze_once.remote(*a, **k)
                finally:
                    outer.now -= 1

        return _Once()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_items_fan_out_concurrently(make_client, media):
    slow: list[_SlowAnalysis] = []

    def wrap(handles):
        slow.append(_SlowAnalysis(handles.analysis))
        handles.analysis = slow[0]
        return handles

    with make_client(wrap=wrap) as client:
        t0 = time.perf_counter()
        r = client.post("/api/batch-analyze", json={"media_list": [{"media_url": str(media["image"])}] * 4})
        elapsed = time.perf_counter() - t0
    assert r.json()["succeeded"] == 4
    assert slow[0].peak == 4  # all four were in analysis together, not one after another
    assert elapsed < 4 * 0.3
