"""A REST job followed over Socket.IO: a client subscribes to the job id and receives each item's
``progress_update`` and the job's terminal ``analysis_complete`` (real sockets, uvicorn, stand-ins)."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.media_factory import write_image
from tests.test_socketio import KEY, STANDIN_ENV, Recorder, ingress_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jobs-sio")
    env = {**STANDIN_ENV, "UPLOAD_FOLDER": str(tmp / "scratch"), "LOG_DIR": str(tmp / "logs"),
           "JOB_DB_PATH": str(tmp / "jobs.db")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from detectors.settings import get_settings

    get_settings.cache_clear()
    with ingress_server() as (base, _):
        yield base, tmp
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


def test_subscriber_sees_job_progress_and_completion(server):
    base, tmp = server
    images = [str(write_image(tmp / f"i{i}.png", size=(40, 40), seed=i)) for i in range(3)]
    client = Recorder(base)
    try:
        job_id = "sio-job-0001"
        assert client.subscribe(job_id)["ok"]  # subscribe first, then submit with that id: nothing missed
        r = httpx.post(f"{base}/api/jobs", headers={"X-API-Key": KEY}, timeout=30,
                       json={"job_id": job_id, "media_list": [{"media_url": p} for p in images]
                             + [{"media_url": str(tmp / "missing.png")}]})
        assert r.status_code == 202
        client.wait_done(job_id, timeout=60)
        events = client.job_events(job_id)
    finally:
        client.close()
    progress = [d for e, d in events if e == "progress_update"]
    assert [d["progress"] for d in progress] == sorted(d["progress"] for d in progress)
    assert [d["seq"] for d in progress] == sorted(d["seq"] for d in progress)
    items = [d["item"] for d in progress if d["stage"] == "item_done"]
    assert sorted(it["index"] for it in items) == [0, 1, 2, 3]
    assert [it["ok"] for it in sorted(items, key=lambda it: it["index"])] == [True, True, True, False]
    final_event, final = events[-1]
    assert final_event == "analysis_complete" and final["status"] == "completed"
    assert (final["succeeded"], final["failed"], final["progress"]) == (3, 1, 100.0)
    assert final["results_url"] == f"/api/jobs/{job_id}/results"
