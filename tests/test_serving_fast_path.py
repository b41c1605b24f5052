"""The serving fast path: a job's scratch folder only when a download or upload needs one, no hub
events for a job nobody can follow, model calls awaited on the Analysis replica's event loop, and
the per-step ``Server-Timing`` header (what ``benchmarks/bench_latency.py`` prints)."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import httpx
import pytest

from deployments import api as api_module
from deployments.analysis import RemoteModels
from deployments.transfer import HopCounter, server_timing
from detectors.intake import Scratch
from tests.hardening_app import KEY, scratch_files, standin_api
from tests.media_factory import image_bytes, write_audio, write_image

ROOT = Path(__file__).resolve().parent.parent
HEADERS = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    media = tmp_path_factory.mktemp("media")
    with standin_api(tmp_path_factory.mktemp("fastpath"), ALLOW_LOCAL_PATHS="true",
                     LOCAL_PATH_ROOTS=f'["{media}"]') as a:
        a.media = {"image": write_image(media / "a.png", size=(64, 64)),  # type: ignore[attr-defined]
                   "audio": write_audio(media / "b.wav", seconds=1.0)}
        yield a


@pytest.fixture()
def made(monkeypatch):
    """Every scratch folder the API makes (``intake.new_scratch_dir`` calls)."""
    calls: list[Path] = []
    real = api_module.intake.new_scratch_dir

    def counting(settings, prefix="job-"):
        calls.append(real(settings, prefix))
        return calls[-1]

    monkeypatch.setattr(api_module.intake, "new_scratch_dir", counting)
    return calls


class RecordingHub:
    """A progress hub that keeps every event: (job id, event)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def publish(self, job_id: str, event: str, data: dict) -> None:
        self.events.append((job_id, event))


def analyze_path(api, path: Path, **extra) -> httpx.Response:
    return httpx.post(f"{api.url}/api/analyze", json={"media_url": str(path), **extra}, headers=HEADERS, timeout=60)


# --- scratch ----------------------------------------------------------------------------------


def test_scratch_is_made_on_first_use_and_removed(tmp_path):
    from detectors.settings import Settings

    scratch = Scratch(Settings(upload_folder=tmp_path / "up"))
    assert not scratch.made and not (tmp_path / "up").exists()
    target = scratch / "file.bin"
    assert scratch.made and target.parent.is_dir() and target.parent.parent == tmp_path / "up"
    assert str(scratch) == str(target.parent)
    target.write_bytes(b"x")
    scratch.remove()
    assert not target.parent.exists() and not scratch.made
    scratch.remove()  # twice is harmless


def test_a_local_path_needs_no_scratch_folder(api, made):
    for kind, path in api.media.items():
        r = analyze_path(api, path)
        assert r.status_code == 200, r.text
        assert r.json()["mediaType"] == kind
    assert made == []
    r = httpx.post(f"{api.url}/api/batch-analyze", headers=HEADERS, timeout=60,
                   json={"media_list": [{"media_url": str(p)} for p in api.media.values()]})
    assert r.status_code == 200 and r.json()["succeeded"] == 2
    assert made == []


def test_an_upload_gets_one_and_it_is_removed(api, made):
    r = httpx.post(f"{api.url}/api/analyze", files={"file": ("x.png", image_bytes("png", (64, 64)))},
                   headers=HEADERS, timeout=60)
    assert r.status_code == 200, r.text
    assert len(made) == 1 and not made[0].exists()
    r = httpx.post(f"{api.url}/api/batch-analyze", headers=HEADERS, timeout=60,
                   files=[("file", ("a.png", image_bytes("png", (64, 64)))),
                          ("file", ("b.png", image_bytes("png", (48, 48))))])
    assert r.status_code == 200 and r.json()["succeeded"] == 2
    assert len(made) == 2 and not made[1].exists()  # the batch's folder, holding both uploads
    assert scratch_files(api.scratch) == []


# --- progress hub -----------------------------------------------------------------------------


def test_nobody_can_follow_a_job_without_a_client_id_so_nothing_is_published(api, monkeypatch):
    hub = RecordingHub()
    monkeypatch.setattr(api.service, "hub", hub)
    assert analyze_path(api, api.media["image"]).status_code == 200
    assert hub.events == []
    r = analyze_path(api, api.media["image"], job_id="followed-job-1")
    assert r.status_code == 200
    events = [e for j, e in hub.events if j == "followed-job-1"]
    assert events[0] == "progress_update" and events[-1] == "analysis_complete" and len(events) >= 4
    bad = analyze_path(api, api.media["image"], job_id="followed-job-2", media_type="audio")
    assert bad.status_code == 415
    assert [e for j, e in hub.events if j == "followed-job-2"][-1] == "analysis_error"


# --- Server-Timing ----------------------------------------------------------------------------


def test_server_timing_names_every_step(api):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_latency import parse_timing

    r = analyze_path(api, api.media["audio"])
    assert r.status_code == 200
    steps = parse_timing(r.headers["server-timing"])
    assert set(steps) == {"intake", "analysis", "queue", "recipe", "models", "ingress"}
    assert all(v >= 0 for v in steps.values())
    # Nested: the ingress's total holds intake and the Analysis call, which holds the recipe,
    # which holds the model calls.
    assert steps["ingress"] >= steps["analysis"] >= steps["recipe"] >= steps["models"] > 0
    assert steps["ingress"] + 0.2 >= steps["intake"] + steps["analysis"]


def test_server_timing_format_round_trips():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_latency import parse_timing

    header = server_timing({"intake": 0.0012, "analysis": 0.1505})
    assert header == "intake;dur=1.2, analysis;dur=150.5"
    assert parse_timing(header) == {"intake": 1.2, "analysis": 150.5}


def test_hop_counter_keeps_times_per_thread_request():
    hops = HopCounter()
    hops.add_time("models", 1.0)  # outside a request: ignored
    with hops.request():
        hops.add_time("models", 0.25)
        hops.add_time("models", 0.5)
        seen = hops.timings()
    assert seen == {"models": 0.75}
    other: list[dict] = []
    thread = threading.Thread(target=lambda: other.append(hops.timings()))
    thread.start()
    thread.join()
    assert other == [{}]


# --- model calls on the event loop ------------------------------------------------------------


class _Awaitable:
    def __init__(self, fn, args) -> None:
        self.fn, self.args = fn, args

    def __await__(self):
        async def run():
            return self.fn(*self.args)

        return run().__await__()

    def result(self, timeout_s=None):
        return ("result", self.fn(*self.args))


class _Handle:
    """A model handle stand-in that records the thread each call is answered on."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    @property
    def scores(self):
        handle = self

        class _M:
            @staticmethod
            def remote(inputs):
                def answer(xs):
                    handle.threads.append(threading.current_thread().name)
                    return [0.5] * len(xs)

                return _Awaitable(answer, (inputs,))

        return _M()


def test_model_calls_are_awaited_on_the_bound_loop():
    import numpy as np

    handle = _Handle()
    models = RemoteModels(handle, handle)

    async def main() -> tuple[list[float], str]:
        models.bind_loop(asyncio.get_running_loop())
        loop_thread = threading.current_thread().name
        out = await asyncio.to_thread(models.scores, "image", [np.zeros(3), np.zeros(3)])
        with pytest.raises(RuntimeError, match="worker thread"):
            models.scores("image", [np.zeros(3)])  # from the loop itself: would deadlock
        return out, loop_thread

    out, loop_thread = asyncio.run(main())
    assert out == [0.5, 0.5]
    assert handle.threads == [loop_thread]


def test_without_a_loop_model_calls_block_on_result():
    import numpy as np

    handle = _Handle()
    models = RemoteModels(handle, handle)
    assert models._send(handle, "scores", ([np.zeros(2)],)) == ("result", [0.5])
    assert handle.threads == [threading.current_thread().name]
