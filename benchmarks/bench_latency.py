"""Latency of /api/analyze per modality through the Serve graph vs. the library in-process.

Usage: python benchmarks/bench_latency.py [--repeats 10] [--new-connection] [--interleave] [--direct-ingress]
Runs the files through ``detectors.pipeline.Analyzer`` in this process, then starts the real graph
(serve_config.yaml sizes, local Ray with 2 CPUs) and sends the same files sequentially through HTTP,
and prints p50/p95 for both, the graph's overhead, where the graph's time went (the
``Server-Timing`` header: intake, the Analysis call, its recipe and model calls, the ingress's
total; the rest is the HTTP proxy and the client), and the serialised bytes each request moved
between processes, per hop (the ``X-Bytes-Moved`` header). Media: one test-split file per modality
from ../shared/data when present, else generated files. ``--interleave`` alternates one library
call and one request while the graph runs, so that the machine's drift (this VM's speed varies by
20 % between minutes) hits both sides alike.

The client is one ``httpx.Client`` that keeps its connection alive, as any client library does.
``--new-connection`` opens a new TCP connection per request instead (a fresh client per request,
built before the clock starts: building an ``httpx.Client`` costs about 20 ms of SSL context and
certifi loading on this machine, which is the client's cost, not the server's; it is printed).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data" / "train"


def pick_media(tmp: Path) -> dict[str, Path]:
    """One held-out (test-split) real file per modality, or generated stand-ins without shared data."""
    if (SHARED / "manifest.csv").exists():
        split = json.loads((ROOT / "models" / "split.json").read_text())
        picked: dict[str, Path] = {}
        for row in csv.DictReader(open(SHARED / "manifest.csv")):
            m = row["modality"]
            if m not in picked and row["source_repo"] in split[m]["test"] and row["label"] == "real":
                picked[m] = SHARED / row["file"]
        if len(picked) == 3:
            return picked
    from tests.media_factory import write_audio, write_image, write_video

    return {"image": write_image(tmp / "i.jpg", size=(640, 480)), "audio": write_audio(tmp / "a.wav", seconds=5),
            "video": write_video(tmp / "v.mp4", seconds=5, size=(640, 360))}


def graph_env(tmp: Path) -> tuple[str, dict[str, str]]:
    """The API key and the replicas' environment for a benchmark graph (local paths allowed)."""
    key = "bench-key-0123456789"
    return key, {"PYTHON_SERVICE_API_KEY": key, "ALLOW_LOCAL_PATHS": "true", "UPLOAD_FOLDER": str(tmp / "scratch"),
                 "RATE_LIMIT_PER_MINUTE": "0", "LOG_LEVEL": "WARNING"}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--new-connection", action="store_true",
                        help="a new TCP connection per request (the client is built outside the timed section)")
    parser.add_argument("--keep-alive", action="store_true", help="the default (one kept-alive connection)")
    parser.add_argument("--interleave", action="store_true",
                        help="alternate one library call and one request while the graph runs (the machine's "
                             "drift hits both alike; the idle graph's ~0.1 core runs beside the library too)")
    parser.add_argument("--direct-ingress", action="store_true",
                        help="Serve's direct ingress: the Ingress replica serves HTTP itself, no HTTP proxy hop "
                             "(RAY_SERVE_ENABLE_DIRECT_INGRESS; one Ingress replica on its own port)")
    args = parser.parse_args()
    import httpx

    from tests.serve_cluster import serve_graph

    tmp = Path(tempfile.mkdtemp())
    media = pick_media(tmp)
    key, env = graph_env(tmp)
    from detectors.pipeline import Analyzer
    from detectors.settings import Settings

    library: dict[str, list[float]] = {kind: [] for kind in media}
    graph: dict[str, list[float]] = {kind: [] for kind in media}
    steps: dict[str, list[dict[str, float]]] = {kind: [] for kind in media}
    moved: dict[str, dict[str, int]] = {}
    build_ms = client_build_ms()
    load_before = os.getloadavg()

    def lib_once(analyzer: Analyzer, kind: str, path: Path) -> None:
        t = time.perf_counter()
        analyzer.analyze_file(path, kind)
        library[kind].append(time.perf_counter() - t)

    if not args.interleave:
        # The library first, on the quiet machine: a Ray that is shutting down must not slow it.
        analyzer = Analyzer(Settings(torch_threads=1))
        for kind, path in media.items():
            analyzer.analyze_file(path, kind)  # warm-up (loads the models)
            for _ in range(args.repeats):
                lib_once(analyzer, kind, path)
        del analyzer  # its models stay out of the graph's way (memory, not CPU)
        gc.collect()

    with serve_graph(env, direct_ingress=args.direct_ingress) as base, httpx.Client(timeout=300) as client:
        headers = {"X-API-Key": key}
        analyzer = Analyzer(Settings(torch_threads=1)) if args.interleave else None
        for kind, path in media.items():
            body = {"media_url": str(path), "media_type": kind}
            client.post(f"{base}/api/analyze", json=body, headers=headers)  # warm-up
            if analyzer is not None:
                analyzer.analyze_file(path, kind)
            for _ in range(args.repeats):
                if analyzer is not None:  # one library call, then one request: drift hits both alike
                    lib_once(analyzer, kind, path)
                fresh = httpx.Client(timeout=300) if args.new_connection else None
                t = time.perf_counter()
                r = (fresh or client).post(f"{base}/api/analyze", json=body, headers=headers)
                graph[kind].append(time.perf_counter() - t)
                if fresh is not None:
                    fresh.close()
                r.raise_for_status()
                steps[kind].append(parse_timing(r.headers.get("server-timing", "")))
            moved[kind] = parse_moved(r.headers.get("x-bytes-moved", ""))

    load_after = os.getloadavg()
    print(f"\n/api/analyze latency, {args.repeats} sequential requests per modality; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; torch threads 1; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min); "
          f"{'interleaved with the library; ' if args.interleave else 'library first, then the graph; '}"
          f"{'direct ingress (no HTTP proxy); ' if args.direct_ingress else ''}"
          f"{'a new HTTP connection per request' if args.new_connection else 'one kept-alive connection'} "
          f"(building an httpx.Client, not timed: {build_ms:.0f} ms)")
    print(f"{'modality':<8} {'file':<28} {'graph p50':>10} {'graph p95':>10} {'lib p50':>9} {'lib p95':>9} "
          f"{'overhead p50':>13} {'ratio':>6}")
    for kind, path in media.items():
        g50, g95 = statistics.median(graph[kind]), pct(graph[kind], 0.95)
        l50, l95 = statistics.median(library[kind]), pct(library[kind], 0.95)
        print(f"{kind:<8} {path.name[:28]:<28} {g50 * 1000:>8.0f}ms {g95 * 1000:>8.0f}ms {l50 * 1000:>7.0f}ms "
              f"{l95 * 1000:>7.0f}ms {(g50 - l50) * 1000:>11.0f}ms {g50 / l50:>6.2f}")
    print("\nwhere the graph's time went, p50 per step in ms (Server-Timing; client = the client's time "
          "minus the ingress's total: HTTP proxy, connection, client):")
    names = ("intake", "analysis", "queue", "recipe", "models", "ingress")
    print(f"{'modality':<8} " + " ".join(f"{n:>9}" for n in (*names, "client")))
    for kind in media:
        rows = steps[kind]
        cells = [statistics.median([r.get(n, 0.0) for r in rows]) for n in names]
        client_ms = statistics.median([t * 1000 - r.get("ingress", 0.0)
                                       for t, r in zip(graph[kind], rows, strict=True)])
        print(f"{kind:<8} " + " ".join(f"{c:>9.1f}" for c in (*cells, client_ms)))
    print("\nbytes moved between processes per request (serialised, by hop):")
    for kind, hops in moved.items():
        total = sum(hops.values())
        print(f"{kind:<8} {total / 1e6:>8.3f} MB  " + ", ".join(f"{h} {v / 1e3:.1f} kB" for h, v in sorted(hops.items())))
    return 0


def client_build_ms(n: int = 5) -> float:
    """Median milliseconds to build an ``httpx.Client`` (what ``httpx.post`` does on every call)."""
    import httpx

    times = []
    for _ in range(n):
        t = time.perf_counter()
        httpx.Client().close()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def parse_timing(header: str) -> dict[str, float]:
    """``name;dur=ms, name;dur=ms`` (a ``Server-Timing`` header) as {name: ms}."""
    out = {}
    for part in filter(None, (p.strip() for p in header.split(","))):
        name, _, rest = part.partition(";")
        if rest.startswith("dur="):
            out[name] = float(rest[4:])
    return out


def parse_moved(header: str) -> dict[str, int]:
    """``hop=bytes;hop=bytes`` (the ingress's X-Bytes-Moved header) as a dict."""
    out = {}
    for part in filter(None, header.split(";")):
        hop, _, n = part.partition("=")
        out[hop] = int(n)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
