"""Memory of the running Serve graph: PSS per deployment after one request per modality.

Usage: python benchmarks/bench_memory.py [--json out.json]
Starts the graph as ``make serve`` sizes it (serve_config.yaml's deployments, a local Ray with 2
CPUs, ``deployments.app.build_graph``), sends one ``/api/analyze`` per modality, then sums the
proportional set size (``/proc/<pid>/smaps_rollup``: shared pages split between the processes that
map them, so the sum is what the graph really holds) over the processes of each deployment's
replicas, and separately over Ray's own processes (GCS, raylet, Serve controller, HTTP proxy ...).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REPLICA = re.compile(r"ServeReplica:([^:\s]+):([^\s.]+)")


def pss_kb(pid: int) -> int:
    """The process's PSS in kB (0 when it is gone or unreadable)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    m = re.search(r"^Pss:\s+(\d+) kB", text, flags=re.M)
    return int(m.group(1)) if m else 0


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(root: int) -> list[int]:
    """Every process started (directly or not) by ``root``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def ray_processes() -> list[int]:
    """This machine's Ray processes: the GCS / raylet tree plus every worker."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            cmd = cmdline(int(entry.name))
            if "ray::" in cmd or "gcs_server" in cmd or "raylet" in cmd or "ray/dashboard" in cmd \
                    or "ray/_private" in cmd or "log_monitor" in cmd:
                pids.add(int(entry.name))
    return sorted(pids)


def measure() -> dict:
    """PSS by deployment (replicas) and by Ray system process, in MB."""
    per_deployment: dict[str, float] = {}
    replicas: dict[str, int] = {}
    system: dict[str, float] = {}
    for pid in ray_processes():
        cmd = cmdline(pid)
        mb = pss_kb(pid) / 1024
        m = REPLICA.search(cmd)
        if m:
            per_deployment[m.group(2)] = per_deployment.get(m.group(2), 0.0) + mb
            replicas[m.group(2)] = replicas.get(m.group(2), 0) + 1
        else:
            name = "ray::" + cmd.split("ray::", 1)[1].split()[0] if "ray::" in cmd else Path(cmd.split()[0]).name
            system[name] = system.get(name, 0.0) + mb
    return {"deployments": per_deployment, "replicas": replicas, "system": system,
            "graph_mb": sum(per_deployment.values()), "system_mb": sum(system.values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    import httpx

    from benchmarks.bench_latency import graph_env, pick_media
    from tests.serve_cluster import serve_graph

    tmp = Path(tempfile.mkdtemp())
    media = pick_media(tmp)
    key, env = graph_env(tmp)
    with serve_graph(env) as base:
        idle = measure()
        for kind, path in media.items():
            r = httpx.post(f"{base}/api/analyze", json={"media_url": str(path), "media_type": kind},
                           headers={"X-API-Key": key}, timeout=600)
            r.raise_for_status()
        time.sleep(2)
        after = measure()
        status = httpx.get(f"{base}/api/status", timeout=30).json()
    load = os.getloadavg()
    print(f"\nPSS of the Serve graph (MB), idle and after one request per modality ({', '.join(media)}); "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'deployment':<16} {'replicas':>8} {'idle':>8} {'after':>8}")
    for name in sorted(after["deployments"], key=lambda n: -after["deployments"][n]):
        print(f"{name:<16} {after['replicas'][name]:>8} {idle['deployments'].get(name, 0.0):>8.0f} "
              f"{after['deployments'][name]:>8.0f}")
    print(f"{'graph total':<16} {sum(after['replicas'].values()):>8} {idle['graph_mb']:>8.0f} {after['graph_mb']:>8.0f}")
    print(f"{'ray system':<16} {len(after['system']):>8} {idle['system_mb']:>8.0f} {after['system_mb']:>8.0f}"
          f"   ({', '.join(f'{k} {v:.0f}' for k, v in sorted(after['system'].items(), key=lambda kv: -kv[1])[:6])})")
    print(f"{'all':<16} {'':>8} {idle['graph_mb'] + idle['system_mb']:>8.0f} "
          f"{after['graph_mb'] + after['system_mb']:>8.0f}")
    holds = {n: sorted(v) if isinstance(v, dict) else v for n, v in status.get("deployments", {}).items()}
    print("what each deployment holds (/api/status):", json.dumps(holds)[:2000])
    if args.json:
        Path(args.json).write_text(json.dumps({"idle": idle, "after": after, "load": load, "status": status}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
