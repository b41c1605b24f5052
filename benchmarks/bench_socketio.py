"""Socket.IO through the real Serve graph: event latency, and idle sockets one ingress replica holds.

Usage: python benchmarks/bench_socketio.py [--jobs 24] [--sockets 100,200,300,400,440]
       [--max-ongoing 500] [--probe-limit] [--real-detectors] [--json out.json]

1. Latency (two ingress replicas + ProgressBus): one socket on each replica; jobs started on
   socket A, socket B subscribed to each by job id. For every ``progress_update``: client receive
   time minus ``sent_at`` (the server's clock when the stage finished; same machine, same clock).
   p50/p95 for the socket on the job's replica and for the one on the other replica (the bus hop).
2. Capacity (one ingress replica, ``max_ongoing_requests`` from serve_config.yaml unless
   --max-ongoing): open idle websockets in steps; at each step time ``GET /api/health`` and one
   ``POST /api/analyze`` (REST) and one job's event latency. With --probe-limit, then open sockets
   until the replica refuses one (it keeps a tenth of its slots for REST) and time REST there.

Stand-in detectors by default (this measures the serving layer, not the models); --real-detectors
uses the configured ones. Starts its own local Ray (2 CPUs): run it when no other Ray is running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY = "bench-socketio-key-0123"
STANDIN = {"DETECTOR_PLUGINS": '["tests.standin_detectors"]', "IMAGE_DETECTOR": "image-standin",
           "AUDIO_DETECTOR": "audio-standin", "VIDEO_DETECTOR": "video-standin"}
NO_PROXY_TIMEOUT = {"X-Request-Timeout-Seconds": "0"}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": round(1000 * pct(values, 0.5), 2), "p95_ms": round(1000 * pct(values, 0.95), 2),
            "max_ms": round(1000 * max(values), 2) if values else None}


class Client:
    """An AsyncClient that stamps each event with its receive time."""

    def __init__(self) -> None:
        import socketio

        self.sio = socketio.AsyncClient(reconnection=False)
        self.server = ""
        self.status = asyncio.Event()
        self.latency: list[float] = []
        self.done: dict[str, asyncio.Event] = {}

        @self.sio.on("connection_status")
        def _status(data: dict) -> None:
            self.server = data["server"]
            self.status.set()

        @self.sio.on("progress_update")
        def _progress(data: dict) -> None:
            self.latency.append(time.time() - data["sent_at"])

        def _end(data: dict) -> None:
            job = data.get("jobId") or data.get("job_id")
            self.done.setdefault(job, asyncio.Event()).set()

        self.sio.on("analysis_complete", _end)
        self.sio.on("analysis_error", _end)
        self.refusal: object = None
        self.sio.on("connect_error", lambda data: setattr(self, "refusal", data))

    async def connect(self, base: str, timeout: float = 60.0) -> Client:
        await self.sio.connect(base, auth={"api_key": KEY}, transports=["websocket"], headers=NO_PROXY_TIMEOUT,
                               wait_timeout=timeout)
        await asyncio.wait_for(self.status.wait(), timeout)
        return self

    async def wait(self, job: str, timeout: float = 300.0) -> None:
        await asyncio.wait_for(self.done.setdefault(job, asyncio.Event()).wait(), timeout)


async def latency_phase(base: str, media: dict[str, Path], jobs: int, concurrency: int) -> dict:
    a = await Client().connect(base)
    b = None
    for _ in range(30):
        cand = await Client().connect(base)
        if cand.server != a.server:
            b = cand
            break
        await cand.sio.disconnect()
    if b is None:
        raise RuntimeError("could not get sockets on two different ingress replicas")
    kinds = list(media)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            job = f"bench-{i}-{uuid.uuid4().hex[:8]}"
            await b.sio.call("subscribe", {"job_id": job})
            kind = kinds[i % len(kinds)]
            ack = await a.sio.call("start_analysis", {"media_url": str(media[kind]), "media_type": kind, "job_id": job})
            assert ack["ok"], ack
            await asyncio.gather(a.wait(job), b.wait(job))

    await one(-1)  # warm-up
    a.latency.clear()
    b.latency.clear()
    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(jobs)))
    wall = time.perf_counter() - t
    await a.sio.disconnect()
    await b.sio.disconnect()
    return {"jobs": jobs, "concurrency": concurrency, "wall_s": round(wall, 2),
            "same_replica": summary(a.latency), "other_replica_via_bus": summary(b.latency)}


async def rest_probe(base: str, media: Path, probe: Client, timeout: float = 30.0) -> dict:
    import httpx

    async with httpx.AsyncClient(timeout=timeout) as http:
        health = []
        for _ in range(10):
            t = time.perf_counter()
            r = await http.get(f"{base}/api/health")
            r.raise_for_status()
            health.append(time.perf_counter() - t)
        t = time.perf_counter()
        r = await http.post(f"{base}/api/analyze", json={"media_url": str(media)}, headers={"X-API-Key": KEY})
        r.raise_for_status()
        analyze = time.perf_counter() - t
    probe.latency.clear()
    job = uuid.uuid4().hex
    ack = await probe.sio.call("start_analysis", {"media_url": str(media), "job_id": job})
    assert ack["ok"], ack
    await probe.wait(job, timeout)
    return {"health": summary(health), "analyze_ms": round(1000 * analyze, 1), "event_latency": summary(probe.latency)}


async def open_idle(base: str, n: int, batch: int = 20) -> list:
    """``n`` idle websockets (connected, authenticated, connection_status received)."""
    out: list = []
    while len(out) < n:
        k = min(batch, n - len(out))
        out += await asyncio.gather(*(Client().connect(base) for _ in range(k)))
    return out


async def capacity_phase(base: str, media: dict[str, Path], steps: list[int], max_ongoing: int,
                         probe_limit: bool) -> dict:
    probe = await Client().connect(base)
    idle: list = []
    rows = []
    for target in steps:
        t = time.perf_counter()
        idle += await open_idle(base, target - len(idle))
        opened = time.perf_counter() - t
        row = {"idle_sockets": len(idle), "open_s": round(opened, 1), **await rest_probe(base, media["image"], probe)}
        rows.append(row)
        print(f"  {len(idle):4d} idle sockets: health p50 {row['health']['p50_ms']} ms / p95 "
              f"{row['health']['p95_ms']} ms, analyze {row['analyze_ms']} ms, event latency p50 "
              f"{row['event_latency']['p50_ms']} ms", flush=True)
    result: dict = {"steps": rows}
    if probe_limit:
        import httpx
        import socketio

        refusal = None
        while refusal is None and len(idle) < max_ongoing:  # the replica refuses at its socket limit
            client = Client()
            try:
                idle.append(await client.connect(base, timeout=10))
            except (socketio.exceptions.ConnectionError, TimeoutError) as exc:
                refusal = str(client.refusal or f"{type(exc).__name__}: {exc}")
        t = time.perf_counter()
        try:
            async with httpx.AsyncClient(timeout=5.0) as http:
                r = await http.get(f"{base}/api/health")
            rest = f"answered {r.status_code} in {1000 * (time.perf_counter() - t):.1f} ms"
        except httpx.HTTPError as exc:
            rest = f"no answer in 5 s ({type(exc).__name__})"
        result["at_limit"] = {"sockets_accepted": len(idle) + 1, "next_socket": refusal, "rest": rest}
        print(f"  {len(idle) + 1} sockets accepted (with the probe); the next: {refusal}; REST {rest}", flush=True)
    await asyncio.gather(*(c.sio.disconnect() for c in idle), return_exceptions=True)
    await probe.sio.disconnect()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--sockets", default="100,200,300,400,440", help="idle socket counts to step through")
    parser.add_argument("--max-ongoing", type=int, default=None, help="Ingress max_ongoing_requests (capacity)")
    parser.add_argument("--probe-limit", action="store_true",
                        help="then open sockets until the replica refuses one; does REST still answer?")
    parser.add_argument("--phase", choices=["latency", "capacity", "both"], default="both")
    parser.add_argument("--real-detectors", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from deployments.app import deployment_options
    from deployments.socketio_server import socket_capacity
    from tests.media_factory import write_audio, write_image, write_video
    from tests.serve_cluster import serve_graph

    tmp = Path(tempfile.mkdtemp())
    media = {"image": write_image(tmp / "i.jpg", size=(640, 480)), "audio": write_audio(tmp / "a.wav", seconds=20),
             "video": write_video(tmp / "v.mp4", seconds=3, size=(640, 360))}
    env = {"PYTHON_SERVICE_API_KEY": KEY, "ALLOW_LOCAL_PATHS": "true", "UPLOAD_FOLDER": str(tmp / "scratch"),
           "LOG_DIR": str(tmp / "logs"), "RATE_LIMIT_PER_MINUTE": "0", "LOG_LEVEL": "WARNING",
           **({} if args.real_detectors else STANDIN)}
    report: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
                    "detectors": "configured" if args.real_detectors else "stand-ins"}
    if args.phase in ("latency", "both"):
        print("latency: 2 ingress replicas + ProgressBus, starting the graph...", flush=True)
        with serve_graph(env, overrides={"Ingress": {"num_replicas": 2}}) as base:
            report["latency"] = asyncio.run(latency_phase(base, media, args.jobs, args.concurrency))
        lat = report["latency"]
        print(f"event latency, stage finished -> client received ({lat['jobs']} jobs, {lat['concurrency']} at once):")
        for name in ("same_replica", "other_replica_via_bus"):
            s = lat[name]
            print(f"  {name:24s} n={s['n']:4d}  p50 {s['p50_ms']:7.2f} ms  p95 {s['p95_ms']:7.2f} ms")
    if args.phase in ("capacity", "both"):
        max_ongoing = args.max_ongoing or int(deployment_options()["Ingress"]["max_ongoing_requests"])
        steps = [int(x) for x in args.sockets.split(",") if int(x) < socket_capacity(max_ongoing)]
        print(f"capacity: 1 ingress replica, max_ongoing_requests={max_ongoing}, starting the graph...", flush=True)
        with serve_graph(env, overrides={"Ingress": {"num_replicas": 1, "max_ongoing_requests": max_ongoing}}) as base:
            report["capacity"] = {"max_ongoing_requests": max_ongoing,
                                  **asyncio.run(capacity_phase(base, media, steps, max_ongoing, args.probe_limit))}
        held = max((r["idle_sockets"] for r in report["capacity"]["steps"]), default=0)
        print(f"one ingress replica held {held} idle sockets (+1 probe) while REST answered")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
