"""Asynchronous jobs over REST: submit → 202 + id → status/progress → results; progress events
on the hub (what the Socket.IO server forwards); results and unfinished jobs survive a restart of
the ingress; an interrupted job is resumed without running a finished item again."""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi.testclient import TestClient

from deployments.api_jobs import JobConfig, JobRunner, owner_of
from deployments.jobs import JobStore
from tests.media_factory import write_audio, write_image

STANDIN_ENV = {
    "DETECTOR_PLUGINS": '["tests.standin_detectors"]',
    "IMAGE_DETECTOR": "image-standin",
    "AUDIO_DETECTOR": "audio-standin",
    "VIDEO_DETECTOR": "video-standin",
    "ALLOW_LOCAL_PATHS": "true",
}


class RecordingHub:
    """Keeps every published event (the Socket.IO hub forwards the same calls to the job's room)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict]] = []

    async def publish(self, job_id: str, event: str, data: dict) -> None:
        self.events.append((job_id, event, data))


@pytest.fixture()
def env(tmp_path, monkeypatch):
    from detectors.settings import get_settings

    for k, v in STANDIN_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("UPLOAD_FOLDER", str(tmp_path / "scratch"))
    monkeypatch.setenv("JOB_DB_PATH", str(tmp_path / "db" / "jobs.db"))
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture()
def media(tmp_path):
    d = tmp_path / "media"
    d.mkdir()
    images = [write_image(d / f"img{i}.png", size=(48, 48), seed=i) for i in range(5)]
    corrupt = d / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    return {"images": images, "audio": write_audio(d / "a.wav", seconds=1.0), "corrupt": corrupt}


def make_app(config: JobConfig | None = None, hub=None):
    """A fresh ingress app (new Service, new runner) over the same job database: a 'restart'."""
    from deployments.api import Service, create_api
    from detectors.settings import get_settings
    from tests.local_graph import local_handles

    service = Service(get_settings(), local_handles(), hub=hub or RecordingHub())
    app = create_api(service)
    if config is not None:
        app.state.job_runner = JobRunner(service, JobStore(service.settings.job_db_path), config)
    return app, service


def wait_status(client: TestClient, job_id: str, want: str = "completed", timeout: float = 20.0,
                headers: dict | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/jobs/{job_id}", headers=headers or {}).json()
        if body.get("status") == want or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_job_lifecycle_progress_and_results(env, media):
    hub = RecordingHub()
    app, _ = make_app(hub=hub)
    items = [{"media_url": str(p)} for p in media["images"][:3]] + [{"media_url": str(media["corrupt"])},
                                                                    {"media_url": "ftp://x/y.png"}]
    with TestClient(app) as client:
        r = client.post("/api/jobs", json={"media_list": items})
        assert r.status_code == 202
        job_id = r.json()["job_id"]
        assert r.headers["location"] == f"/api/jobs/{job_id}" and r.json()["total"] == 5
        status = wait_status(client, job_id)
        assert status["status"] == "completed" and status["progress"] == 100.0
        assert (status["succeeded"], status["failed"], status["pending"]) == (3, 2, 0)

        page = client.get(f"/api/jobs/{job_id}/results", params={"limit": 2}).json()
        assert [it["index"] for it in page["results"]] == [0, 1] and page["next_offset"] == 2
        everything = client.get(f"/api/jobs/{job_id}/results").json()["results"]
        assert [it["ok"] for it in everything] == [True, True, True, False, False]
        assert everything[0]["result"]["mediaType"] == "image"
        assert everything[3]["error"] == "corrupt_media"
        errors = client.get(f"/api/jobs/{job_id}/results", params={"status": "error"}).json()["results"]
        assert [it["index"] for it in errors] == [3, 4]
        assert client.get("/api/jobs").json()["jobs"][0]["job_id"] == job_id

    mine = [(e, d) for j, e, d in hub.events if j == job_id]
    updates = [d for e, d in mine if e == "progress_update"]
    assert [d["progress"] for d in updates] == sorted(d["progress"] for d in updates)
    assert updates[-1]["progress"] == 100.0 and updates[-1]["stage"] == "completed"
    assert sum(1 for d in updates if d["stage"] == "item_done") == 5
    assert mine[-1][0] == "analysis_complete"  # the terminal event carries the job's final status
    assert mine[-1][1]["status"] == "completed" and mine[-1][1]["succeeded"] == 3
    assert mine[-1][1]["results_url"] == f"/api/jobs/{job_id}/results"


def test_job_limits_and_validation(env, media):
    env.setenv("MAX_BATCH_ITEMS", "2")
    app, _ = make_app(JobConfig(max_items=3))
    with TestClient(app) as client:
        body = {"media_list": [{"media_url": str(media["images"][0])}] * 3}
        assert client.post("/api/batch-analyze", json=body).status_code == 400  # over the batch limit
        assert client.post("/api/jobs", json=body).status_code == 202  # within the job limit
        r = client.post("/api/jobs", json={"media_list": [{"media_url": "https://e.org/a.png"}] * 4})
        assert r.status_code == 400 and "limit of 3" in r.json()["message"]
        assert client.post("/api/jobs", json={"media_list": []}).status_code == 400
        assert client.get("/api/jobs/nope").status_code == 404
        assert client.get("/api/jobs/" + "a" * 32).status_code == 404
        r = client.post("/api/jobs", json={"media_list": body["media_list"], "job_id": "my-job-0001"})
        assert r.status_code == 202 and r.json()["job_id"] == "my-job-0001"
        r = client.post("/api/jobs", json={"media_list": body["media_list"], "job_id": "my-job-0001"})
        assert r.status_code == 400 and "already in use" in r.json()["message"]


def test_jobs_belong_to_their_api_key(env, media):
    env.setenv("PYTHON_SERVICE_API_KEY", "key-one-1234")
    app, _ = make_app()
    with TestClient(app) as client:
        body = {"media_list": [{"media_url": str(media["images"][0])}]}
        assert client.post("/api/jobs", json=body).status_code == 401
        job_id = client.post("/api/jobs", json=body, headers={"X-API-Key": "key-one-1234"}).json()["job_id"]
        assert client.get(f"/api/jobs/{job_id}").status_code == 401
        assert client.get(f"/api/jobs/{job_id}", headers={"X-API-Key": "key-one-1234"}).status_code == 200
    store = JobStore(app.state.service.settings.job_db_path)
    assert store.get(job_id).owner == owner_of("key-one-1234") != "key-one-1234"  # the key is not stored


def test_multipart_job_uploads_are_kept_until_done(env, media):
    app, service = make_app()
    files = [("file", (p.name, p.read_bytes(), "image/png")) for p in media["images"][:2]]
    files.append(("file", ("a.wav", media["audio"].read_bytes(), "audio/wav")))
    with TestClient(app) as client:
        r = client.post("/api/jobs", files=files)
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        assert wait_status(client, job_id)["succeeded"] == 3
        results = client.get(f"/api/jobs/{job_id}/results").json()["results"]
        assert [it["source"] for it in results] == ["img0.png", "img1.png", "a.wav"]
    root = service.settings.job_db_path.parent / "job-files"
    assert not any(root.glob("*/*"))  # uploads removed once the job finished


def test_cancel_and_delete(env, media):
    gate = asyncio.Event()
    app, service = make_app(JobConfig(concurrency=1))
    original = service.run

    async def held(job_id, ref_factory, emit=None, **kw):
        await gate.wait()
        return await original(job_id, ref_factory)

    service.run = held  # type: ignore[method-assign]
    with TestClient(app) as client:
        job_id = client.post("/api/jobs", json={"media_list": [{"media_url": str(p)} for p in media["images"]]}
                             ).json()["job_id"]
        r = client.post(f"/api/jobs/{job_id}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        client.portal.call(gate.set)
        time.sleep(0.3)
        status = client.get(f"/api/jobs/{job_id}").json()
        assert status["status"] == "cancelled" and status["done"] <= 1  # at most the item in flight
        assert client.delete(f"/api/jobs/{job_id}").json()["deleted"] is True
        assert client.get(f"/api/jobs/{job_id}").status_code == 404


def test_results_survive_an_ingress_restart(env, media):
    app, _ = make_app()
    with TestClient(app) as client:
        job_id = client.post("/api/jobs", json={"media_list": [{"media_url": str(p)} for p in media["images"]]}
                             ).json()["job_id"]
        before = wait_status(client, job_id)
        results_before = client.get(f"/api/jobs/{job_id}/results").json()["results"]
    assert before["status"] == "completed"

    app2, _ = make_app()  # a new process would see the same: only the database is shared
    with TestClient(app2) as client:
        assert client.get(f"/api/jobs/{job_id}").json() == before
        assert client.get(f"/api/jobs/{job_id}/results").json()["results"] == results_before


def test_an_interrupted_job_resumes_after_restart_without_repeats(env, media):
    """Ingress A dies after 3 of 6 items (one more in flight); B takes over once A's lease runs out,
    runs only the items without a result, and every item ends with exactly one result."""
    sources = [str(p) for p in media["images"]] + [str(media["audio"])]
    config = JobConfig(concurrency=1, lease_s=0.6)
    app_a, service_a = make_app(config)
    ran_a: list[str] = []
    original_a = service_a.run

    async def dies_after_three(job_id, ref_factory, emit=None, **kw):
        if len(ran_a) >= 3:
            await asyncio.Event().wait()  # hangs mid-analysis until the 'crash'
        ran_a.append(job_id)
        return await original_a(job_id, ref_factory, **kw)

    service_a.run = dies_after_three  # type: ignore[method-assign]
    with TestClient(app_a) as client:
        job_id = client.post("/api/jobs", json={"media_list": [{"media_url": s} for s in sources]}).json()["job_id"]
        deadline = time.monotonic() + 10
        while client.get(f"/api/jobs/{job_id}").json()["done"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        mid = client.get(f"/api/jobs/{job_id}").json()
        assert (mid["status"], mid["done"]) == ("running", 3)
        client.portal.call(app_a.state.job_runner.stop, False)  # a crash: the lease is not handed back
    done_by_a = {it.index for it in JobStore(service_a.settings.job_db_path).items(job_id, status="ok")}
    assert done_by_a == {0, 1, 2}

    app_b, service_b = make_app(config)
    ran_b: list[int] = []
    original_b = service_b.run

    async def counting(job_id, ref_factory, emit=None, **kw):
        ran_b.append(1)
        return await original_b(job_id, ref_factory, **kw)

    service_b.run = counting  # type: ignore[method-assign]
    with TestClient(app_b) as client:  # B starts its runner at boot; it adopts the job after the lease
        final = wait_status(client, job_id, timeout=15)
        results = client.get(f"/api/jobs/{job_id}/results").json()["results"]
    assert final["status"] == "completed" and final["succeeded"] == len(sources)
    assert len(ran_b) == len(sources) - 3  # nothing A finished ran again
    assert [it["index"] for it in results] == list(range(len(sources)))
    assert [it["source"] for it in results] == sources
    store = JobStore(service_b.settings.job_db_path)
    assert store.get(job_id).attempts == 2 and store.items(job_id)[3].attempts == 2  # item 3 was in flight
