"""Kill a model replica under load and print what happened to every request that was in flight.

    python -m benchmarks.fault_test            # starts its own Ray (num_cpus=2) and the real Serve graph

The graph runs with the stand-in detectors, except that the image model's ``infer`` takes
``--infer-delay`` seconds (``image-slow``, registered below), so requests are certainly inside the
ImageModel replica when it dies. While ``--requests`` image uploads run at ``--concurrency``, the
ImageModel replica's actor is found with ``ray.util.state`` and killed with ``ray.kill``. Then:

- every request's fate is printed (those in flight at the kill marked), with its status and error;
- ``/api/health`` is polled throughout (it must stay 200);
- the replica must come back (a new actor, deployment HEALTHY, ``/api/status`` ready) and serve;
- nothing may leak: no scratch file, no extra replica actor.

Exit status 1 when a request hangs, gets a 5xx other than the documented 503 + Retry-After, health
fails, the replica does not come back, or something leaks. Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.load_test import internal_errors
from detectors.base import register

ROOT = Path(__file__).resolve().parent.parent
KEY = "fault-test-key-8a1f3e6b90"
APP = "deepfake"


def _standin_image():
    from tests.standin_detectors import StandinImage

    return StandinImage


@register("image-slow")
class SlowImage(_standin_image()):  # type: ignore[misc, valid-type]
    """The image stand-in with a slow ``infer`` (FAULT_INFER_DELAY_S seconds per batch)."""

    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        time.sleep(float(os.environ.get("FAULT_INFER_DELAY_S", "1.0")))
        return super().infer(inputs)


@dataclass
class Fate:
    i: int
    start: float
    end: float = 0.0
    status: int = 0
    error: str = ""
    message: str = ""
    retry_after: str | None = None

    def in_flight_at(self, t: float) -> bool:
        return self.start <= t and (self.end == 0.0 or self.end >= t)


def replica_actors(deployment: str) -> list[dict]:
    """Alive replica actors of one deployment of the app: Serve names them
    ``SERVE_REPLICA::<app>#<deployment>#<replica id>`` in the ``serve`` namespace. Listed with
    ``ray.util.list_named_actors`` (works without the dashboard that ``ray.util.state`` needs)."""
    import ray

    out = []
    for entry in ray.util.list_named_actors(all_namespaces=True):
        name = entry["name"] if isinstance(entry, dict) else entry
        namespace = entry.get("namespace", "serve") if isinstance(entry, dict) else "serve"
        if name.startswith("SERVE_REPLICA::") and f"{APP}#{deployment}#" in name:
            out.append({"name": name, "namespace": namespace, "actor_id": name.rsplit("#", 1)[-1]})
    return out


def kill_replica(deployment: str) -> dict:
    import ray

    actors = replica_actors(deployment)
    if not actors:
        raise RuntimeError(f"no alive replica of {deployment}")
    victim = actors[0]
    handle = ray.get_actor(victim["name"], namespace=victim["namespace"])
    try:
        victim["pid"] = ray.get(handle.__ray_call__.remote(lambda self: os.getpid()), timeout=30)
    except Exception as exc:  # the pid is only for the report
        victim["pid"] = f"unknown ({type(exc).__name__})"
    ray.kill(handle, no_restart=True)
    return victim


def deployment_status(deployment: str) -> str:
    from ray import serve

    try:
        return str(serve.status().applications[APP].deployments[deployment].status)
    except (KeyError, AttributeError):
        return "UNKNOWN"


async def run(args: argparse.Namespace, base: str, scratch: Path, log_dir: Path) -> int:
    import httpx

    from tests.media_factory import image_bytes

    png = image_bytes("png", (64, 64))
    fates: list[Fate] = []
    health: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    stop_health = asyncio.Event()
    sem = asyncio.Semaphore(args.concurrency)

    async with httpx.AsyncClient(timeout=args.timeout,
                                 limits=httpx.Limits(max_connections=args.concurrency + 4)) as client:
        async def request(i: int) -> None:
            async with sem:
                fate = Fate(i, time.perf_counter() - t0)
                fates.append(fate)
                try:
                    r = await client.post(f"{base}/api/analyze", files={"file": ("a.png", png)},
                                          headers={"X-API-Key": KEY})
                    fate.status = r.status_code
                    fate.retry_after = r.headers.get("retry-after")
                    if r.status_code != 200:
                        body = r.json()
                        fate.error, fate.message = body.get("error", ""), body.get("message", "")
                except httpx.HTTPError as exc:
                    fate.error, fate.message = type(exc).__name__, str(exc)[:200]
                fate.end = time.perf_counter() - t0

        async def poll_health() -> None:
            while not stop_health.is_set():
                try:
                    code = (await client.get(f"{base}/api/health", timeout=5)).status_code
                except httpx.HTTPError:
                    code = 0
                health.append((time.perf_counter() - t0, code))
                await asyncio.sleep(0.25)

        health_task = asyncio.ensure_future(poll_health())
        load = asyncio.ensure_future(asyncio.gather(*(request(i) for i in range(args.requests))))
        await asyncio.sleep(args.kill_after)
        before = {a["actor_id"] for a in replica_actors("ImageModel")}
        victim = await asyncio.to_thread(kill_replica, "ImageModel")
        t_kill = time.perf_counter() - t0
        print(f"t={t_kill:5.2f} s  killed ImageModel replica {victim['actor_id']} "
              f"(actor {victim['name']}, pid {victim.get('pid')}) with ray.kill")
        await load
        t_load_done = time.perf_counter() - t0

        # Recovery: a new replica actor, the deployment healthy, the service ready and serving.
        recovered_at = None
        new_actor = None
        deadline = time.perf_counter() + args.recovery_timeout
        while time.perf_counter() < deadline:
            now_actors = {a["actor_id"] for a in replica_actors("ImageModel")}
            fresh = now_actors - before
            status = await asyncio.to_thread(deployment_status, "ImageModel")
            if fresh and status.endswith("HEALTHY"):
                try:
                    ready = (await client.get(f"{base}/api/status", timeout=10)).json().get("models_ready")
                except (httpx.HTTPError, ValueError):
                    ready = False
                if ready:
                    recovered_at, new_actor = time.perf_counter() - t0, sorted(fresh)[0]
                    break
            await asyncio.sleep(0.5)
        after = []
        for _ in range(3):
            r = await client.post(f"{base}/api/analyze", files={"file": ("a.png", png)}, headers={"X-API-Key": KEY})
            after.append(r.status_code)
        stop_health.set()
        await health_task

    # --- report ---------------------------------------------------------------------------------
    in_flight = [f for f in fates if f.in_flight_at(t_kill)]
    print(f"\n{len(fates)} requests at concurrency {args.concurrency}, image infer {args.infer_delay:.1f} s; "
          f"load finished at t={t_load_done:.2f} s")
    print(f"\nrequests in flight when the replica was killed ({len(in_flight)}):")
    print(f"{'req':>4} {'start s':>8} {'end s':>7} {'status':>6}  outcome")
    for f in sorted(in_flight, key=lambda f: f.start):
        outcome = "answered 200 (retried or not yet at the model)" if f.status == 200 else (
            f"{f.error}: {f.message} (Retry-After {f.retry_after})" if f.status else f"no answer: {f.error}")
        print(f"{f.i:>4} {f.start:>8.2f} {f.end:>7.2f} {f.status:>6}  {outcome}")
    print("\nall requests by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(Counter(
        f.status for f in fates).items())))
    later = [f for f in fates if f.start > t_kill]
    print(f"requests started after the kill: {len(later)}; statuses "
          + ", ".join(f"{k}: {v}" for k, v in sorted(Counter(f.status for f in later).items())))
    bad_health = [(t, c) for t, c in health if c != 200]
    print(f"/api/health polled {len(health)} times: {len(health) - len(bad_health)} x 200, "
          f"{len(bad_health)} failures {bad_health[:5]}")
    if recovered_at is not None:
        print(f"replica back: new replica {new_actor}, deployment HEALTHY and /api/status ready at "
              f"t={recovered_at:.2f} s ({recovered_at - t_kill:.1f} s after the kill)")
    else:
        print(f"replica NOT back within {args.recovery_timeout:.0f} s (status {deployment_status('ImageModel')})")
    print(f"requests after recovery: {after}")
    others = [f for f in fates if not f.in_flight_at(t_kill) and f.status != 200]
    if others:
        print(f"\nother failed requests ({len(others)}):")
        for f in sorted(others, key=lambda f: f.start):
            print(f"{f.i:>4} {f.start:>8.2f} {f.end:>7.2f} {f.status:>6}  {f.error}: {f.message}")
    internal = internal_errors(log_dir)
    if internal:
        print("internal errors in the service log (exception, count): "
              + "; ".join(f"{k} x{v}" for k, v in internal.items()))
    replicas_now = len(replica_actors("ImageModel"))
    left = sorted(scratch.rglob("*")) if scratch.exists() else []
    print(f"leaks: scratch files left {len(left)}; ImageModel replica actors alive {replicas_now} "
          f"(before the kill {len(before)})")

    undocumented = [f for f in fates if f.status == 0 or (f.status >= 500 and not (f.status == 503 and f.retry_after))]
    failed = bool(undocumented or bad_health or recovered_at is None or left or replicas_now != len(before)
                  or any(c != 200 for c in after))
    print(f"RESULT: {'FAIL' if failed else 'PASS'}: {len(in_flight)} in flight at the kill -> "
          + ", ".join(f"{k}: {v}" for k, v in sorted(Counter(f.status for f in in_flight).items()))
          + f"; undocumented 5xx or no answer: {len(undocumented)}; health failures: {len(bad_health)}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--infer-delay", type=float, default=1.0, help="seconds per image model batch")
    parser.add_argument("--kill-after", type=float, default=3.0, help="seconds into the load")
    parser.add_argument("--timeout", type=float, default=90.0, help="per request")
    parser.add_argument("--recovery-timeout", type=float, default=120.0)
    args = parser.parse_args(argv)

    from tests.serve_cluster import serve_graph

    with tempfile.TemporaryDirectory(prefix="fault-test-") as tmp:
        scratch = Path(tmp) / "scratch"
        env = {
            "DETECTOR_PLUGINS": '["tests.standin_detectors", "benchmarks.fault_test"]',
            "IMAGE_DETECTOR": "image-slow",
            "AUDIO_DETECTOR": "audio-standin",
            "VIDEO_DETECTOR": "video-standin",
            "PYTHON_SERVICE_API_KEY": KEY,
            "RATE_LIMIT_PER_MINUTE": "0",
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "FAULT_INFER_DELAY_S": str(args.infer_delay),
            "UPLOAD_FOLDER": str(scratch),
            "LOG_DIR": str(Path(tmp) / "logs"),
        }
        # One ImageModel replica, so the kill certainly hits the requests' replica.
        overrides = {"ImageModel": {"num_replicas": 1, "autoscaling_config": None}}
        start = time.perf_counter()
        with serve_graph(env, overrides) as base:
            print(f"graph ready in {time.perf_counter() - start:.0f} s at {base} (loopback)")
            return asyncio.run(run(args, base, scratch, Path(tmp) / "logs"))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
