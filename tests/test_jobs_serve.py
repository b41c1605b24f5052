"""Jobs through a real ``serve.run`` graph: the Ingress replica is killed in the middle of a job;
Serve starts a new one, which still serves the finished results from the job database and, once
the dead replica's lease has run out, finishes the job without running a finished item again.
Slow (Serve start-up plus one 30 s lease); stand-in detectors."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.media_factory import write_image
from tests.serve_cluster import serve_graph

pytestmark = pytest.mark.slow
KEY = "jobs-serve-key-0042"
H = {"X-API-Key": KEY}
STANDIN_ENV = {
    "DETECTOR_PLUGINS": '["tests.standin_detectors"]',
    "IMAGE_DETECTOR": "image-standin",
    "AUDIO_DETECTOR": "audio-standin",
    "VIDEO_DETECTOR": "video-standin",
}


def _ingress_replicas() -> list:
    import ray

    names = [a for a in ray.util.list_named_actors(all_namespaces=True) if "Ingress" in a["name"]]
    return [ray.get_actor(a["name"], namespace=a["namespace"]) for a in names]


def _get(url: str, deadline: float) -> httpx.Response:
    """GET that waits through the window in which no ingress replica answers."""
    while True:
        try:
            r = httpx.get(url, headers=H, timeout=30)
            if r.status_code < 500:
                return r
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer in time"
        time.sleep(0.5)


def test_jobs_survive_an_ingress_replica_restart(tmp_path):
    import ray

    media = tmp_path / "media"
    media.mkdir()
    files = [str(write_image(media / f"i{i:02d}.png", size=(64, 64), seed=i)) for i in range(16)]
    env = {**STANDIN_ENV, "PYTHON_SERVICE_API_KEY": KEY, "ALLOW_LOCAL_PATHS": "true", "RATE_LIMIT_PER_MINUTE": "0",
           "UPLOAD_FOLDER": str(tmp_path / "scratch"), "LOG_DIR": str(tmp_path / "logs"),
           "JOB_DB_PATH": str(tmp_path / "db" / "jobs.sqlite3")}
    with serve_graph(env) as base:
        small = httpx.post(f"{base}/api/jobs", headers=H, timeout=60,
                           json={"media_list": [{"media_url": f} for f in files[:3]]}).json()["job_id"]
        deadline = time.monotonic() + 120
        while _get(f"{base}/api/jobs/{small}", deadline).json()["status"] != "completed":
            time.sleep(0.3)
        finished = _get(f"{base}/api/jobs/{small}/results", deadline).json()

        big = httpx.post(f"{base}/api/jobs", headers=H, timeout=60,
                         json={"media_list": [{"media_url": f} for f in files]}).json()["job_id"]
        while _get(f"{base}/api/jobs/{big}", deadline).json()["done"] < 3:
            time.sleep(0.1)
        replicas = _ingress_replicas()
        assert replicas
        for actor in replicas:
            ray.kill(actor, no_restart=True)  # the replica dies; the Serve controller starts another

        deadline = time.monotonic() + 240
        assert _get(f"{base}/api/jobs/{small}/results", deadline).json() == finished  # served by the new replica
        mid = _get(f"{base}/api/jobs/{big}", deadline).json()
        assert mid["status"] == "running" and 0 < mid["done"] < 16
        done_before = {it["index"]: it["result"]["timestamp"] for it in
                       _get(f"{base}/api/jobs/{big}/results", deadline).json()["results"] if it["status"] == "ok"}
        while (status := _get(f"{base}/api/jobs/{big}", deadline).json())["status"] != "completed":
            time.sleep(0.5)
        results = _get(f"{base}/api/jobs/{big}/results", deadline).json()["results"]
    assert status["done"] == 16 and [it["index"] for it in results] == list(range(16))
    for index, stamp in done_before.items():  # finished before the restart: not analysed again
        assert results[index]["result"]["timestamp"] == stamp
    assert Path(tmp_path / "db" / "jobs.sqlite3").exists()
