"""Integration: the whole graph through a real ``serve.run`` with the real detectors, over real HTTP.

Each modality, a batch with one bad item, and bad input (401, 415, 413, 422, refused URL), each a
JSON error body, and the service healthy afterwards with its scratch folder empty.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from detectors.settings import Settings
from tests.media_factory import write_audio, write_image, write_video
from tests.serve_cluster import serve_graph

pytestmark = pytest.mark.slow
KEY = "graph-test-key-42"


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("graph-media")
    return {
        "image": write_image(d / "face.jpg", size=(320, 240)),
        "audio": write_audio(d / "voice.flac", seconds=4.0),
        "video": write_video(d / "clip.mp4", seconds=3.0, size=(320, 240)),
        "big": write_audio(d / "big.wav", seconds=40.0),  # 1.28 MB > the 1 MB limit below
    }


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("graph-scratch")


@pytest.fixture(scope="module")
def base(scratch, tmp_path_factory):
    env = {"PYTHON_SERVICE_API_KEY": KEY, "UPLOAD_FOLDER": str(scratch), "MAX_UPLOAD_BYTES": "1000000",
           "ALLOW_LOCAL_PATHS": "true", "LOG_DIR": str(tmp_path_factory.mktemp("graph-logs")),
           "RATE_LIMIT_PER_MINUTE": "0"}
    with serve_graph(env) as url:
        yield url


def upload(base: str, path: Path, key: str | None = KEY, **form) -> httpx.Response:
    with open(path, "rb") as fh:
        return httpx.post(f"{base}/api/analyze", files={"file": (path.name, fh)}, data=form,
                          headers={"X-API-Key": key} if key else {}, timeout=300)


def test_status_reports_the_real_detectors(base):
    body = httpx.get(f"{base}/api/status", timeout=30).json()
    assert body["models_ready"]
    names = {body["deployments"]["image_model"]["image"]["name"], body["deployments"]["audio_model"]["audio"]["name"]}
    defaults = Settings(environment="test")
    assert names == {defaults.image_detector, defaults.audio_detector}


@pytest.mark.parametrize("kind", ["image", "audio", "video"])
def test_each_modality_end_to_end(base, media, kind):
    r = upload(base, media[kind], media_type=kind)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mediaType"] == kind and body["verdict"] in ("fake", "real", "inconclusive")
    assert body["modelUsed"] and isinstance(body["anomalies"], list)
    if body["verdict"] != "inconclusive":
        assert 0.0 <= body["fakeProbability"] <= 1.0


def test_batch_with_one_bad_item(base, media, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("definitely not media")
    items = [{"media_url": str(media["image"]), "media_type": "image"}, {"media_url": str(bad)},
             {"media_url": str(media["audio"])}]
    r = httpx.post(f"{base}/api/batch-analyze", json={"media_list": items}, headers={"X-API-Key": KEY}, timeout=300)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["succeeded"], body["failed"]) == (2, 1)
    assert body["results"][1]["status"] == 415


def test_bad_inputs_get_json_errors(base, media, tmp_path):
    assert upload(base, media["image"], key=None).status_code == 401
    assert upload(base, media["image"], key="nope").json()["error"] == "unauthorized"
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF-1.5\n" + bytes(300))
    assert upload(base, pdf).status_code == 415
    r = upload(base, media["big"])
    assert r.status_code == 413 and r.json()["error"] == "media_too_large"
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(media["image"].read_bytes()[:300])
    r = upload(base, broken)
    assert r.status_code == 422 and r.json()["error"] == "corrupt_media"
    r = httpx.post(f"{base}/api/analyze", json={"media_url": "http://10.1.2.3/a.jpg"}, headers={"X-API-Key": KEY})
    assert r.status_code == 400 and r.json()["error"] == "forbidden_url"
    r = httpx.post(f"{base}/api/analyze", json={"media_url": "https://unreachable.invalid/a.jpg"},
                   headers={"X-API-Key": KEY}, timeout=60)
    assert r.status_code == 422 and r.json()["error"] == "fetch_failed"


def test_healthy_and_clean_afterwards(base, scratch):
    assert httpx.get(f"{base}/api/health").status_code == 200
    assert httpx.get(f"{base}/api/status", timeout=30).json()["models_ready"]
    assert [p for p in scratch.rglob("*") if p.is_file()] == []
