"""Load test on loopback, bounded in count and time: requests/s held, p95 latency, and status counts.

    python -m benchmarks.load_test                    # in-process graph (stand-in detectors) under uvicorn
    python -m benchmarks.load_test --serve            # the real Serve graph (ray.init + serve.run, stand-ins)
    python -m benchmarks.load_test --url http://127.0.0.1:8000 --key "$PYTHON_SERVICE_API_KEY"

Two phases:

1. *steady*: ``--requests`` uploads (images, audio, video, and URLs served from a local server) at
   ``--concurrency``, within the admission gate's capacity: every answer should be 200.
2. *overload*: ``--overload-requests`` uploads fired at once, far past the gate's capacity
   (in-process: the gate is set to ``--gate`` slots and as many queue places): the excess must be
   shed with the documented 503 + Retry-After, never hang, never another 5xx.

Exit status 1 when any 5xx other than a 503 with Retry-After is seen, or a request hangs past
``--timeout``. Nothing here leaves loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "load-test-key-2c9d41e07b"
STANDIN_ENV = {
    "DETECTOR_PLUGINS": '["tests.standin_detectors"]',
    "IMAGE_DETECTOR": "image-standin",
    "AUDIO_DETECTOR": "audio-standin",
    "VIDEO_DETECTOR": "video-standin",
    "PYTHON_SERVICE_API_KEY": KEY,
    "RATE_LIMIT_PER_MINUTE": "0",
    "ALLOW_PRIVATE_URLS": "true",  # the URL items come from a local server on 127.0.0.1
    "ENVIRONMENT": "test",
    "LOG_LEVEL": "WARNING",
}


@dataclass
class Sample:
    kind: str
    status: int  # 0: no answer (timeout or connection error)
    seconds: float
    retry_after: str | None = None
    error: str = ""


@dataclass
class Phase:
    name: str
    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0

    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.status == 200]

    def bad_5xx(self) -> list[Sample]:
        """5xx answers that are not the documented 503 + Retry-After, and requests with no answer."""
        return [s for s in self.samples
                if s.status == 0 or (s.status >= 500 and not (s.status == 503 and s.retry_after))]

    def percentile_ms(self, q: float) -> float:
        """The q-quantile (nearest rank) of the 200s' latency, in ms."""
        lat = sorted(s.seconds for s in self.ok())
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    def report(self) -> str:
        lat = sorted(s.seconds for s in self.ok())
        codes = Counter(s.status for s in self.samples)
        pct = self.percentile_ms
        shed = [s for s in self.samples if s.status == 503]
        lines = [
            f"[{self.name}] {len(self.samples)} requests in {self.wall:.1f} s: "
            f"{len(lat) / self.wall if self.wall else 0:.1f} req/s answered 200 "
            f"({len(self.samples) / self.wall if self.wall else 0:.1f} req/s answered in all)",
            f"  latency of 200s: p50 {pct(0.50):.0f} ms, p95 {pct(0.95):.0f} ms, p99 {pct(0.99):.0f} ms, "
            f"max {max(lat) * 1000 if lat else float('nan'):.0f} ms",
            "  statuses: " + ", ".join(f"{k or 'no answer'}: {v}" for k, v in sorted(codes.items())),
            "  by kind: " + ", ".join(f"{k} {sum(1 for s in self.samples if s.kind == k)}"
                                      for k in sorted({s.kind for s in self.samples})),
        ]
        if shed:
            ra = Counter(s.retry_after for s in shed)
            slow = max(s.seconds for s in shed)
            lines.append(f"  503s (documented shedding): {len(shed)}, Retry-After values {dict(ra)}, "
                         f"slowest 503 answered in {slow * 1000:.0f} ms")
        lines.append(f"  5xx other than documented 503s, or no answer: {len(self.bad_5xx())}")
        if self.bad_5xx():
            lines += [f"    {s.kind}: {s.status} {s.error[:200]}" for s in self.bad_5xx()[:10]]
        return "\n".join(lines)


def make_media(folder: Path) -> dict[str, tuple[str, bytes]]:
    from tests.media_factory import image_bytes, write_audio, write_video

    return {
        "image": ("face.jpg", image_bytes("jpg", (96, 96))),
        "audio": ("voice.wav", write_audio(folder / "voice.wav", seconds=1.0).read_bytes()),
        "video": ("clip.mp4", write_video(folder / "clip.mp4", seconds=1.0, fps=10, size=(64, 48)).read_bytes()),
    }


async def one(client: httpx.AsyncClient, url: str, key: str, kind: str, media: dict, media_base: str | None,
              timeout: float) -> Sample:
    start = time.perf_counter()
    try:
        if kind == "url":
            r = await client.post(f"{url}/api/analyze", json={"media_url": f"{media_base}/face.jpg"},
                                  headers={"X-API-Key": key}, timeout=timeout)
        else:
            name, data = media[kind]
            r = await client.post(f"{url}/api/analyze", files={"file": (name, data)}, headers={"X-API-Key": key},
                                  timeout=timeout)
        err = "" if r.status_code == 200 else r.text[:300]
        return Sample(kind, r.status_code, time.perf_counter() - start, r.headers.get("retry-after"), err)
    except httpx.HTTPError as exc:
        return Sample(kind, 0, time.perf_counter() - start, None, f"{type(exc).__name__}: {exc}")


async def run_phase(name: str, url: str, key: str, media: dict, media_base: str | None, n: int, concurrency: int,
                    timeout: float, max_seconds: float, kinds: tuple[str, ...]) -> Phase:
    phase = Phase(name)
    sem = asyncio.Semaphore(concurrency)
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8)

    async with httpx.AsyncClient(limits=limits) as client:
        async def task(i: int) -> None:
            async with sem:
                if time.perf_counter() > deadline:
                    return
                phase.samples.append(await one(client, url, key, kinds[i % len(kinds)], media, media_base, timeout))

        start = time.perf_counter()
        await asyncio.gather(*(task(i) for i in range(n)))
        phase.wall = time.perf_counter() - start
    return phase


@contextlib.contextmanager
def media_server(media: dict) -> Iterator[str]:
    from tests.hardening_app import http_server, ok

    with http_server({"/face.jpg": ok(media["image"][1], "image/jpeg")}) as (base, _):
        yield base


@contextlib.contextmanager
def in_process_app(scratch: Path, gate: int) -> Iterator[tuple[str, object]]:
    from deployments.api import Service, create_api
    from detectors.settings import get_settings
    from tests.asgi_server import running
    from tests.hardening_app import scoped_env
    from tests.local_graph import local_handles

    env = {**STANDIN_ENV, "UPLOAD_FOLDER": str(scratch), "LOG_DIR": str(scratch.parent / "logs")}
    with scoped_env(env):
        app = create_api(Service(get_settings(), local_handles()))
        with running(app) as base:
            yield base, app


@contextlib.contextmanager
def serve_app(scratch: Path) -> Iterator[tuple[str, None]]:
    from tests.serve_cluster import serve_graph

    env = {**STANDIN_ENV, "UPLOAD_FOLDER": str(scratch), "LOG_DIR": str(scratch.parent / "logs")}
    with serve_graph(env) as base:
        yield base, None


def internal_errors(log_dir: Path) -> Counter:
    """The exception line closing each "internal error" traceback in the service's log files."""
    found: Counter = Counter()
    for path in sorted(log_dir.glob("*.log*")) if log_dir.exists() else []:
        lines = path.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if "internal error" in line:
                j = i + 1
                while j < len(lines) and (lines[j].startswith((" ", "Traceback", "The above", "During"))
                                          or not lines[j].strip()):
                    j += 1
                if j < len(lines):
                    found[lines[j][:200]] += 1
    return found


def leftovers(scratch: Path) -> list[Path]:
    return sorted(scratch.rglob("*")) if scratch.exists() else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="an already running service (nothing is started)")
    target.add_argument("--serve", action="store_true", help="start the real Serve graph with stand-in detectors")
    parser.add_argument("--key", default=KEY, help="X-API-Key for --url")
    parser.add_argument("--requests", type=int, default=300, help="steady phase: number of requests")
    parser.add_argument("--concurrency", type=int, default=8, help="steady phase: requests in flight")
    parser.add_argument("--overload-requests", type=int, default=120, help="overload phase: requests fired at once")
    parser.add_argument("--gate", type=int, default=8, help="in-process: admission slots (and queue places)")
    parser.add_argument("--timeout", type=float, default=60.0, help="a request with no answer by then is a failure")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="per phase: stop starting requests after")
    parser.add_argument("--keep-logs", type=Path, help="copy the service's log folder here")
    args = parser.parse_args(argv)

    kinds = ("image", "image", "audio", "url", "video")
    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        tmp_path = Path(tmp)
        scratch = tmp_path / "scratch"
        media = make_media(tmp_path)
        if args.url:
            app_cm: contextlib.AbstractContextManager = contextlib.nullcontext((args.url.rstrip("/"), None))
            where = f"running service at {args.url}"
        elif args.serve:
            app_cm = serve_app(scratch)
            where = "real Serve graph (ray.init(num_cpus=2) + serve.run, serve_config.yaml sizes), stand-in detectors"
        else:
            app_cm = in_process_app(scratch, args.gate)
            where = "in-process graph (tests.local_graph) under uvicorn, stand-in detectors"
        with media_server(media) as media_base, app_cm as (url, app):
            gate = getattr(getattr(app, "state", None), "admission", None)
            if gate is not None:
                gate.max_inflight, gate.max_waiting, gate.max_wait_s = args.gate, args.gate, 5.0
            print(f"load test against the {where}; loopback only; cpus: {os.cpu_count()}")
            if gate is not None:
                print(f"admission gate: {gate.max_inflight} in flight, {gate.max_waiting} queued, "
                      f"{gate.max_wait_s:.0f} s max wait")
            key = args.key if args.url else KEY
            steady = asyncio.run(run_phase("steady", url, key, media, media_base, args.requests,
                                           min(args.concurrency, args.gate) if gate else args.concurrency,
                                           args.timeout, args.max_seconds, kinds))
            print(steady.report())
            overload = asyncio.run(run_phase("overload", url, key, media, media_base, args.overload_requests,
                                             args.overload_requests, args.timeout, args.max_seconds, kinds))
            print(overload.report())
            health = httpx.get(f"{url}/api/health", timeout=10).status_code
            print(f"health after the test: {health}")
        left = [] if args.url else leftovers(scratch)
        if not args.url:
            print(f"scratch files left: {len(left)}")
            for line, n in internal_errors(tmp_path / "logs").items():
                print(f"internal error in the service log x{n}: {line}")
            if args.keep_logs:
                import shutil

                shutil.copytree(tmp_path / "logs", args.keep_logs, dirs_exist_ok=True)
    bad = len(steady.bad_5xx()) + len(overload.bad_5xx())
    print(f"RESULT: {len(steady.ok()) / steady.wall if steady.wall else 0:.1f} req/s held at concurrency "
          f"{min(args.concurrency, args.gate) if not (args.url or args.serve) else args.concurrency}, "
          f"p95 {steady.percentile_ms(0.95):.0f} ms; "
          f"5xx other than documented 503: {bad}")
    return 1 if bad or health != 200 or left else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
