"""Throughput over the same mixed collection: (a) a sequential loop over the library, (b)
``POST /api/batch-analyze`` on the real Serve graph, (c) ``deepfake-batch`` on Ray Data; each with
1 and 2 CPUs, plus how ``deepfake-batch`` scales on simulated multi-node clusters.

Usage:
    python benchmarks/bench_batch.py [--files 200] [--data generated|shared] [--standins]
                                     [--cpus 1,2] [--clusters 2x1,4x1] [--json temp/bench_batch.json]

Every measurement runs in its own process pinned to the first N cores (``sched_setaffinity``;
children such as raylet and Ray workers inherit it) and, for Ray, with ``num_cpus=N``: "1 CPU" is
one physical core, not only a Ray resource. What is timed:
  (a) ``Analyzer.analyze_file`` over the files, one after another, detectors already loaded;
  (a2) two such loops at once, each pinned to its own core, on every other file: the ceiling of
      any method on 2 cores (what memory bandwidth and caches leave), no scheduling overhead;
  (b) the files as local paths in ``/api/batch-analyze`` requests of MAX_BATCH_ITEMS (10), with
      ``--clients`` requests in flight, once the graph reports ready (Serve start-up not timed);
      serve_config.yaml's sizes, CPUs per replica scaled down when they do not fit N;
  (c) ``deepfake-batch`` from the call to the last row, actor start-up and model loading included
      ("end to end"), and from the first rows back to the last ("steady", start-up excluded).
Clusters ``KxC`` start K local Ray nodes of C CPUs (``ray.cluster_utils.Cluster``) on the cores the
machine has: the distribution is real, the hardware is not (K*C may exceed the physical cores).
Detectors: whatever the settings name (the real ``image-default`` ...), or ``--standins``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("DEEPFAKE_SHARED_DATA", ROOT.parent / "shared" / "data" / "train"))
STANDIN_ENV = {
    "DETECTOR_PLUGINS": '["tests.standin_detectors"]',
    "IMAGE_DETECTOR": "image-standin",
    "AUDIO_DETECTOR": "audio-standin",
    "VIDEO_DETECTOR": "video-standin",
}
MIX = {"image": 0.55, "audio": 0.30, "video": 0.15}


# -- the collection ------------------------------------------------------------------------------


def generated_collection(folder: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` generated files in every supported format (55 % images, 30 % audio, 15 % video)."""
    from tests.media_factory import (
        AUDIO_FORMATS,
        IMAGE_FORMATS,
        VIDEO_FORMATS,
        write_audio,
        write_image,
        write_video,
    )

    manifest = folder / "manifest.json"
    if manifest.exists():
        files = json.loads(manifest.read_text())
        if len(files) == n and all(Path(f).exists() for f in files):
            return files
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    counts = {"image": round(n * MIX["image"]), "audio": round(n * MIX["audio"])}
    counts["video"] = n - counts["image"] - counts["audio"]
    files = []
    for i in range(counts["image"]):
        fmt = list(IMAGE_FORMATS)[i % len(IMAGE_FORMATS)]
        side = rng.choice((256, 384, 512, 640))
        files.append(write_image(folder / f"img{i:03d}.{fmt}", size=(side, side * 3 // 4), seed=i))
    for i in range(counts["audio"]):
        fmt = list(AUDIO_FORMATS)[i % len(AUDIO_FORMATS)]
        files.append(write_audio(folder / f"aud{i:03d}.{fmt}", seconds=rng.choice((2.0, 3.0, 5.0))))
    for i in range(counts["video"]):
        fmt = list(VIDEO_FORMATS)[i % len(VIDEO_FORMATS)]
        files.append(write_video(folder / f"vid{i:03d}.{fmt}", seconds=2.0, fps=10, size=(320, 240)))
    out = [str(f) for f in files]
    manifest.write_text(json.dumps(out))
    return out


def shared_collection(n: int, seed: int = 0) -> list[str]:
    """``n`` files of ../shared/data in the same modality mix, drawn with a fixed seed."""
    rows = list(csv.DictReader(open(SHARED / "manifest.csv")))
    rng = random.Random(seed)
    out: list[str] = []
    for modality, share in MIX.items():
        pool = sorted(r["file"] for r in rows if r["modality"] == modality)
        k = n - len(out) if modality == "video" else round(n * share)
        out += [str(SHARED / f) for f in rng.sample(pool, min(k, len(pool)))]
    return out


# -- measurements (each in a pinned child process) -----------------------------------------------


def _detector_names(settings) -> dict:
    from detectors.pipeline import detector_name

    return {m: detector_name(settings, m) for m in ("image", "audio", "video")}


def measure_loop(files: list[str], cpus: int) -> dict:
    from detectors.errors import DetectionError
    from detectors.pipeline import Analyzer
    from detectors.settings import get_settings

    settings = get_settings()
    import torch

    torch.set_num_threads(settings.torch_threads)
    analyzer = Analyzer(settings)
    t0 = time.perf_counter()
    analyzer.load_all()
    load_s = time.perf_counter() - t0
    errors = 0
    t0 = time.perf_counter()
    for path in files:
        try:
            analyzer.analyze_file(path)
        except DetectionError:
            errors += 1
    wall = time.perf_counter() - t0
    return {"files": len(files), "errors": errors, "wall_s": wall, "files_per_s": len(files) / wall,
            "load_s": load_s, "detectors": _detector_names(settings)}


def _scaled_options(cpus: float) -> tuple[dict, float]:
    """serve_config.yaml's options, each replica's CPUs scaled so the initial replicas fit ``cpus``."""
    from deployments.app import deployment_options

    options = deployment_options()
    need = 0.0
    for opt in options.values():
        replicas = opt.get("num_replicas") or opt.get("autoscaling_config", {}).get("min_replicas", 1)
        need += replicas * opt.get("ray_actor_options", {}).get("num_cpus", 1.0)
    factor = min(1.0, 0.95 * cpus / need)
    for opt in options.values():
        rao = dict(opt.get("ray_actor_options", {}))
        rao["num_cpus"] = round(rao.get("num_cpus", 1.0) * factor, 4)
        opt["ray_actor_options"] = rao
    return options, factor


def measure_serve(files: list[str], cpus: int, clients: int) -> dict:
    import httpx
    import ray
    from ray import serve

    from deployments.app import build_graph
    from detectors.settings import get_settings
    from tests.asgi_server import free_port

    settings = get_settings()
    env = {k: v for k, v in os.environ.items() if k.isupper() and not k.startswith(("RAY_", "OMP_"))}
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": env})
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        options, factor = _scaled_options(cpus)
        t0 = time.perf_counter()
        serve.run(build_graph(options), name="deepfake", route_prefix="/", blocking=False)
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx.get(f"{base}/api/status", timeout=10).json().get("models_ready"):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.perf_counter() - t0 > 300:
                raise RuntimeError("the Serve graph did not become ready")
            time.sleep(0.5)
        startup = time.perf_counter() - t0
        size = settings.max_batch_items
        chunks = [files[i : i + size] for i in range(0, len(files), size)]
        errors: dict[str, int] = {}

        async def run() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=600) as client:
                queue: asyncio.Queue = asyncio.Queue()
                for chunk in chunks:
                    queue.put_nowait(chunk)

                async def worker() -> None:
                    while not queue.empty():
                        chunk = queue.get_nowait()
                        r = await client.post("/api/batch-analyze",
                                              json={"media_list": [{"media_url": p} for p in chunk]})
                        r.raise_for_status()
                        for item in r.json()["results"]:
                            if not item["ok"]:
                                errors[item["error"]] = errors.get(item["error"], 0) + 1

                await asyncio.gather(*(worker() for _ in range(clients)))

        t0 = time.perf_counter()
        asyncio.run(run())
        wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
    return {"files": len(files), "errors": sum(errors.values()), "error_codes": errors, "wall_s": wall,
            "files_per_s": len(files) / wall, "startup_s": startup, "cpu_scale": factor, "clients": clients,
            "items_per_request": size, "detectors": _detector_names(settings)}


def measure_batch(files: list[str], cpus: int, work: Path, nodes: int = 1, cpus_per_node: int | None = None,
                  cpus_per_worker: float = 0.5) -> dict:
    from deployments.batch_job import SUMMARY_FILE, main, read_rows
    from detectors.settings import get_settings

    listing = work / "files.txt"
    listing.write_text("\n".join(files) + "\n")
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    args = [f"@{listing}", "-o", str(out), "--no-progress", "--cpus-per-worker", str(cpus_per_worker)]
    cluster = None
    if nodes > 1 or cpus_per_node is not None:
        from ray.cluster_utils import Cluster

        per = cpus_per_node or cpus
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": per, "include_dashboard": False})
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=per)
        cluster.wait_for_nodes()
        args += ["--address", cluster.address]
    else:
        args += ["--num-cpus", str(cpus)]
    t0 = time.perf_counter()
    status = main(args)
    wall_call = time.perf_counter() - t0
    summary = json.loads((out / SUMMARY_FILE).read_text())
    rows = read_rows(out)
    if cluster is not None:
        import ray

        ray.shutdown()
        cluster.shutdown()
    return {"files": len(files), "rows": len(rows), "errors": sum(1 for r in rows if not r["ok"]),
            "status": status, "wall_s": summary["wall_s"], "files_per_s": summary["files_per_s"],
            "steady_files_per_s": summary["steady_files_per_s"], "first_rows_s": summary["first_rows_s"],
            "call_s": wall_call, "workers": summary["workers"], "actors_seen": len({r["worker"] for r in rows}),
            "nodes": summary["cluster"]["nodes"], "ray_cpus": summary["cluster"]["cpus"],
            "detectors": _detector_names(get_settings())}


def child(argv: list[str]) -> int:
    """One measurement in this (already pinned) process; prints its JSON on the last line."""
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["loop", "serve", "batch"])
    p.add_argument("--files-list", required=True)
    p.add_argument("--cpus", type=int, required=True)
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--cpus-per-node", type=int)
    p.add_argument("--work", required=True)
    a = p.parse_args(argv)
    files = Path(a.files_list).read_text().split("\n")
    files = [f for f in files if f]
    if a.mode == "loop":
        res = measure_loop(files, a.cpus)
    elif a.mode == "serve":
        res = measure_serve(files, a.cpus, a.clients)
    else:
        res = measure_batch(files, a.cpus, Path(a.work), a.nodes, a.cpus_per_node)
    print("RESULT " + json.dumps(res), flush=True)
    return 0


def wait_for_free_ray(limit_s: float = 900) -> None:
    """This machine runs one Ray at a time (others share it): wait until no raylet is running."""
    deadline = time.monotonic() + limit_s
    while subprocess.run(["pgrep", "-x", "raylet"], capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("another Ray cluster has been running for too long; try later")
        print("  waiting for another Ray cluster on this machine to stop ...", file=sys.stderr, flush=True)
        time.sleep(10)


def run_pinned(mode: str, files_list: Path, cores: int, work: Path, env: dict, extra: list[str] | None = None,
               timeout: float = 1800) -> dict:
    """Run one measurement in a child process pinned to the first ``cores`` CPUs."""
    if mode != "loop":
        wait_for_free_ray()
    available = sorted(os.sched_getaffinity(0))
    pin = set(available[: max(1, cores)])
    cmd = [sys.executable, __file__, "_child", mode, "--files-list", str(files_list), "--cpus", str(cores),
           "--work", str(work), *(extra or [])]
    work.mkdir(parents=True, exist_ok=True)
    load_before = round(os.getloadavg()[0], 1)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=lambda: os.sched_setaffinity(0, pin))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{mode} on {cores} CPU(s) failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    res = json.loads(lines[-1][len("RESULT "):])
    # The 1-minute load average around the run: other work on the machine slows every figure.
    res.update(mode=mode, cores=sorted(pin), process_s=round(time.perf_counter() - t0, 1),
               loadavg=[load_before, round(os.getloadavg()[0], 1)])
    return res


def run_loop_pair(files_list: Path, work: Path, env: dict, timeout: float = 1800) -> dict:
    """The ceiling of any 2-core method: two independent in-process loops at once, each pinned to
    its own core, each on every other file (the same mix); files/s = all files / the slower wall."""
    files = [f for f in files_list.read_text().split("\n") if f]
    cores = sorted(os.sched_getaffinity(0))[:2]
    work.mkdir(parents=True, exist_ok=True)
    load_before = round(os.getloadavg()[0], 1)
    t0 = time.perf_counter()
    procs = []
    for i, core in enumerate(cores):
        part = work / f"files-{i}.txt"
        part.write_text("\n".join(files[i :: len(cores)]) + "\n")
        cmd = [sys.executable, __file__, "_child", "loop", "--files-list", str(part), "--cpus", "1", "--work", str(work)]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      preexec_fn=lambda c=core: os.sched_setaffinity(0, {c})))
    parts = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"loop pair failed ({proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
        parts.append(json.loads(lines[-1][len("RESULT "):]))
    wall = max(p["wall_s"] for p in parts)
    return {"files": len(files), "errors": sum(p["errors"] for p in parts), "wall_s": wall,
            "files_per_s": len(files) / wall, "load_s": max(p["load_s"] for p in parts),
            "detectors": parts[0]["detectors"], "mode": "loop_pair", "cores": cores,
            "process_s": round(time.perf_counter() - t0, 1), "loadavg": [load_before, round(os.getloadavg()[0], 1)]}


# -- the report ----------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def report(results: dict) -> str:
    lines = [f"{results['n_files']} files ({results['data']}: {results['mix']}), detectors {results['detectors']}",
             f"host: {results['host']['cpus']} cores ({results['host']['machine']}), load average before "
             f"{results['host']['loadavg_before']}, after {results['host']['loadavg_after']}",
             "", f"{'method':<52}{'CPUs':>5}{'files/s':>9}{'vs (a)':>8}{'errors':>7}   notes"]
    loop = results["loop"]["files_per_s"]
    for row in results["rows"]:
        ratio = row["files_per_s"] / loop if loop else None
        lines.append(f"{row['label']:<52}{row['cpus']:>5}{_fmt(row['files_per_s']):>9}{_fmt(ratio):>8}"
                     f"{row['errors']:>7}   {row['notes']}")
    lines.append("")
    for c in results["cpus"]:
        b, d = results.get(f"serve_{c}"), results.get(f"batch_{c}")
        if b and d:
            lines.append(f"{c} CPU(s): deepfake-batch / batch-analyze = {d['files_per_s'] / b['files_per_s']:.2f} "
                         f"end to end, {(d['steady_files_per_s'] or 0) / b['files_per_s']:.2f} steady")
    lo, hi = min(results["cpus"]), max(results["cpus"])
    for name, key, field in (("batch-analyze", "serve", "files_per_s"), ("deepfake-batch", "batch", "files_per_s"),
                             ("deepfake-batch steady", "batch", "steady_files_per_s")):
        a, b = results.get(f"{key}_{lo}"), results.get(f"{key}_{hi}")
        if a and b and hi != lo and a.get(field) and b.get(field):
            lines.append(f"{name}: {hi} CPUs / {lo} CPU = {b[field] / a[field]:.2f}")
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        return child(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=200)
    p.add_argument("--data", choices=["generated", "shared"], default="generated")
    p.add_argument("--standins", action="store_true", help="use the stand-in detectors of the tests")
    p.add_argument("--cpus", default="1,2", help="CPU counts for (a)-(c), comma separated")
    p.add_argument("--clusters", default="2x1,4x1", help="simulated clusters for deepfake-batch: NODESxCPUS,...")
    p.add_argument("--clients", type=int, default=2, help="batch-analyze requests in flight")
    p.add_argument("--skip", default="", help="comma-separated: loop,pair,serve,batch,clusters")
    p.add_argument("--repeats", type=int, default=1, help="runs of each measurement; the best is reported")
    p.add_argument("--json", default=str(ROOT / "temp" / "bench_batch.json"))
    a = p.parse_args()
    skip = set(filter(None, a.skip.split(",")))

    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    cache = ROOT / "temp" / "bench-media" / f"generated-{a.files}"
    files = generated_collection(cache, a.files) if a.data == "generated" else shared_collection(a.files)
    files_list = work / "files.txt"
    files_list.write_text("\n".join(files) + "\n")
    roots = sorted({str(Path(f).parent) for f in files}) if a.data == "generated" else [str(SHARED)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled", "ALLOW_LOCAL_PATHS": "true",
           "LOCAL_PATH_ROOTS": json.dumps(roots), "UPLOAD_FOLDER": str(work / "scratch"),
           "LOG_DIR": str(work / "logs"), "MAX_BATCH_ITEMS": os.environ.get("MAX_BATCH_ITEMS", "10"),
           "RATE_LIMIT_PER_MINUTE": "0", "PYTHON_SERVICE_API_KEY": "", "RAY_DEDUP_LOGS": "0"}
    env.pop("RAY_ADDRESS", None)
    if a.standins:
        env.update(STANDIN_ENV)
    cpus = [int(c) for c in a.cpus.split(",")]
    prefix = {"image": "img", "audio": "aud", "video": "vid"}
    mix = ({m: sum(1 for f in files if Path(f).name.startswith(prefix[m])) for m in MIX} if a.data == "generated"
           else MIX)
    results: dict = {"n_files": len(files), "data": a.data, "mix": mix, "cpus": cpus, "rows": [],
                     "host": {"cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
                              "loadavg_before": [round(x, 2) for x in os.getloadavg()]}}

    # (key, mode, cores for the pin, extra child args, CPUs as labelled)
    plan: list[tuple[str, str, int, list[str], int]] = []
    if "loop" not in skip:
        plan.append(("loop", "loop", 1, [], 1))
    if "pair" not in skip and len(os.sched_getaffinity(0)) >= 2:
        plan.append(("loop_pair", "loop_pair", 2, [], 2))
    for c in cpus:
        if "serve" not in skip:
            plan.append((f"serve_{c}", "serve", c, ["--clients", str(a.clients)], c))
        if "batch" not in skip:
            plan.append((f"batch_{c}", "batch", c, [], c))
    if "clusters" not in skip:
        for spec in filter(None, a.clusters.split(",")):
            nodes, per = (int(x) for x in spec.lower().split("x"))
            cores = min(nodes * per, len(os.sched_getaffinity(0)))
            plan.append((f"cluster_{spec}", "batch", cores, ["--nodes", str(nodes), "--cpus-per-node", str(per)],
                         nodes * per))

    print(f"bench_batch: {len(files)} files, {len(plan)} measurements x {a.repeats}, work dir {work}", file=sys.stderr)
    runs: dict[str, list[dict]] = {}
    for rep in range(a.repeats):  # repeats interleaved, so a busy spell on the machine hits all methods alike
        for key, mode, cores, extra, _ in plan:
            res = (run_loop_pair(files_list, work / f"{key}-{rep}", env) if mode == "loop_pair" else
                   run_pinned(mode, files_list, cores, work / f"{key}-{rep}", env, extra))
            runs.setdefault(key, []).append(res)
            print(f"  [{rep + 1}/{a.repeats}] {key}: {res['files_per_s']:.2f} files/s, {res['errors']} errors, "
                  f"load {res['loadavg']}", file=sys.stderr, flush=True)

    for key, mode, _, _, labelled in plan:
        res = max(runs[key], key=lambda r: r["files_per_s"])  # best of the repeats: least disturbed
        res["all_files_per_s"] = [round(r["files_per_s"], 3) for r in runs[key]]
        results[key] = res
        results.setdefault("detectors", res["detectors"])
        tries = f"best of {res['all_files_per_s']}; load {res['loadavg'][0]}->{res['loadavg'][1]}"
        if mode == "loop":
            rows = [("(a) sequential loop, Analyzer in-process", res["files_per_s"],
                     f"detectors loaded in {res['load_s']:.1f} s (not timed); {tries}")]
        elif mode == "loop_pair":
            rows = [("(a2) two such loops at once, one per core", res["files_per_s"],
                     f"every other file each; the ceiling of any 2-core method; {tries}")]
        elif mode == "serve":
            rows = [("(b) /api/batch-analyze, Serve graph", res["files_per_s"],
                     f"{res['clients']} requests x {res['items_per_request']} items in flight; replica CPUs "
                     f"x{res['cpu_scale']:.2f}; graph start-up {res['startup_s']:.0f} s not timed; {tries}")]
        else:
            name = "(c) deepfake-batch" if not key.startswith("cluster") else (
                f"(c) deepfake-batch, {res['nodes']} nodes x {int(res['ray_cpus']) // max(1, res['nodes'])} CPU")
            sim = (f"simulated: {res['nodes']} local Ray nodes pinned to {len(res['cores'])} physical core(s); "
                   if key.startswith("cluster") else "")
            rows = [(f"{name} end to end", res["files_per_s"],
                     f"{sim}{res['workers']} actors x 0.5 CPU; first rows after {res['first_rows_s']:.1f} s; {tries}"),
                    (f"{name} steady", res["steady_files_per_s"] or 0.0, "rows after the first ones: start-up excluded")]
        for label, fps, notes in rows:
            results["rows"].append({"label": label, "cpus": labelled, "files_per_s": fps, "errors": res["errors"],
                                    "notes": notes})
    results["host"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    if "loop" not in results:
        results["loop"] = {"files_per_s": None}
    text = report(results)
    print(text)
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps({**results, "report": text}, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
