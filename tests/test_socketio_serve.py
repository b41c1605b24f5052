"""Integration: Socket.IO progress through a real ``serve.run`` of the whole graph with TWO ingress
replicas and the ``ProgressBus`` deployment, stand-in detectors, websocket transport.

The python-socketio client and Node's socket.io-client: progress in order before the result for
an image, a video and an audio file; clients on different replicas with interleaved jobs see only
their own events; a REST job streams to sockets on both replicas; a socket that disconnects
mid-job resumes on the other replica.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.media_factory import write_audio, write_image, write_video
from tests.serve_cluster import serve_graph
from tests.test_socketio import (
    KEY,
    SERVER_EVENTS,
    STANDIN_ENV,
    Recorder,
    assert_stream,
    job_of,
    model_partials,
    node_client,
    npm_install,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sio-serve-media")
    return {
        "image": write_image(d / "face.jpg", size=(320, 240)),
        "audio": write_audio(d / "voice.wav", seconds=20.0),  # 20 one-second windows: 2 model batches
        "video": write_video(d / "clip.mp4", seconds=2.0, size=(320, 240)),
    }


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    env = {**STANDIN_ENV, "UPLOAD_FOLDER": str(tmp_path_factory.mktemp("sio-serve-scratch")),
           "LOG_DIR": str(tmp_path_factory.mktemp("sio-serve-logs"))}
    with serve_graph(env, overrides={"Ingress": {"num_replicas": 2}}) as url:
        yield url


def clients_on_both_replicas(base: str, tries: int = 20) -> tuple[Recorder, Recorder]:
    """Two sockets held by different ingress replicas (the proxy picks; retry until it differs)."""
    first = Recorder(base)
    server = _server_of(first)
    for _ in range(tries):
        other = Recorder(base)
        if _server_of(other) != server:
            return first, other
        other.close()
    first.close()
    raise AssertionError("every socket landed on the same ingress replica: is num_replicas 2?")


def _server_of(rec: Recorder) -> str:
    events = rec.wait_for(lambda ev: any(e == "connection_status" for e, _, _ in ev), timeout=30)
    return next(d["server"] for e, d, _ in events if e == "connection_status")


@pytest.fixture()
def pair(base):
    a, b = clients_on_both_replicas(base)
    yield a, b
    a.close()
    b.close()


@pytest.mark.parametrize("kind", ["image", "audio", "video"])
def test_progress_in_order_before_result_on_each_replica(pair, media, kind):
    for rec in pair:
        job = rec.start(media_url=str(media[kind]), media_type=kind)["job_id"]
        rec.wait_done(job, timeout=120)
        progress = assert_stream(rec.job_events(job), job)
        assert model_partials(progress)
        assert rec.job_events(job)[-1][1]["mediaType"] == kind


def test_interleaved_jobs_on_two_replicas_see_only_their_own(pair, media):
    a, b = pair
    a_jobs, b_jobs = [], []
    for kind in ("video", "audio", "image"):
        a_jobs.append(a.start(media_url=str(media[kind]))["job_id"])
        b_jobs.append(b.start(media_url=str(media[kind]))["job_id"])
    a.wait_done(*a_jobs, timeout=180)
    b.wait_done(*b_jobs, timeout=180)
    assert a.job_ids() == set(a_jobs) and b.job_ids() == set(b_jobs)
    for rec, jobs in ((a, a_jobs), (b, b_jobs)):
        for job in jobs:
            assert_stream(rec.job_events(job), job)


def test_rest_job_streams_to_sockets_on_both_replicas(base, pair, media):
    a, b = pair
    job = "serve-rest-job-0001"
    assert a.subscribe(job)["state"] == "pending" and b.subscribe(job)["state"] == "pending"
    r = httpx.post(f"{base}/api/analyze", json={"media_url": str(media["video"]), "job_id": job},
                   headers={"X-API-Key": KEY}, timeout=180)
    assert r.status_code == 200, r.text
    for rec in (a, b):  # one of them is on the other replica: its events came through the bus
        rec.wait_done(job, timeout=30)
        events = rec.job_events(job)
        assert_stream(events, job)
        assert events[-1][1] == r.json()


def test_disconnect_mid_job_resume_on_the_other_replica(base, pair, media):
    a, b = pair
    job = a.start(media_url=str(media["audio"]))["job_id"]
    a.wait_for(lambda ev: any(e == "progress_update" and d["job_id"] == job and d["stage"] == "fetched"
                              for e, d, _ in ev), timeout=60)
    a.close()
    last = max(d["seq"] for e, d in a.job_events(job) if e == "progress_update")
    time.sleep(0.5)  # the bus has carried what the job's replica published so far
    ack = b.subscribe(job, after_seq=last)
    assert ack["state"] in ("running", "complete")
    b.wait_done(job, timeout=120)
    progress = assert_stream(b.job_events(job), job, from_start=False)
    assert progress[0]["seq"] == last + 1
    assert httpx.get(f"{base}/api/health", timeout=10).status_code == 200


@pytest.mark.node
def test_node_client_on_the_other_replica(base, media):
    """A python client on one replica and a Node client on the other, interleaved jobs of each
    kind; the Node client also follows a REST job by id."""
    npm_install()
    a = Recorder(base)
    try:
        server_a = _server_of(a)
        rest_job = "serve-node-rest-0001"
        plan = {"key": KEY, "timeoutMs": 150000, "avoidServer": server_a, "subscribe": [rest_job],
                "jobs": [{"media_url": str(media[k]), "media_type": k} for k in ("audio", "image", "video")]}
        result: dict[str, list] = {}
        thread = threading.Thread(target=lambda: result.__setitem__("lines", node_client(base, plan, 180)))
        thread.start()
        a_jobs = [a.start(media_url=str(media[k]))["job_id"] for k in ("video", "image", "audio")]
        r = httpx.post(f"{base}/api/analyze", json={"media_url": str(media["image"]), "job_id": rest_job},
                       headers={"X-API-Key": KEY}, timeout=180)
        assert r.status_code == 200, r.text
        a.wait_done(*a_jobs, timeout=180)
        thread.join(timeout=200)
        assert a.job_ids() == set(a_jobs)
        for job in a_jobs:
            assert_stream(a.job_events(job), job)
        lines = result["lines"]
        assert next(d["server"] for e, d in lines if e == "connection_status") != server_a
        own = {d["job_id"] for e, d in lines if e == "ack" and "state" not in d} | {rest_job}
        assert len(own) == 4
        assert {job_of(e, d) for e, d in lines if e in SERVER_EVENTS[1:]} == own
        for job in own:
            events = [(e, d) for e, d in lines if e in SERVER_EVENTS[1:] and job_of(e, d) == job]
            assert_stream(events, job)
        assert [d for e, d in lines if e == "analysis_complete" and d["jobId"] == rest_job][0] == r.json()
    finally:
        a.close()
