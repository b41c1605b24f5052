"""Extract the whole-image CLIP view (UnivFD's setting: the image resized to 224 px, one CLIP pass)
over as much of the corpus as the time allows, as-is and JPEG q90, into the feature cache.

    nohup .venv/bin/python experiments/image/extract_whole.py --cap 600 --until 06:45 --shard 0/2 > /tmp/img_whole0.log 2>&1 &
    nohup .venv/bin/python experiments/image/extract_whole.py --cap 600 --until 06:45 --shard 1/2 > /tmp/img_whole1.log 2>&1 &

Files are visited rank by rank within their group (fake family / real source, sha256 order, the
same order as ``v2_data.load_rows``' cap): after k rounds the cache holds exactly the cap-k
sample, so stopping at a deadline still leaves a balanced set. One thread (2 shared cores).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from detectors.features.cache import FeatureCache  # noqa: E402
from detectors.image.streams import stream_factory  # noqa: E402
from detectors.image.v2_data import default_manifest, group_of, load_rows  # noqa: E402
from detectors.training.streams import features_of  # noqa: E402

WHOLE_ONLY = {"crops": (), "faces": False}


def ranked(rows: list[dict[str, str]]) -> list[tuple[int, dict[str, str]]]:
    """(rank within group, row), rank-major: round k visits every group's k-th file."""
    groups: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        groups.setdefault(group_of(r), []).append(r)
    out = []
    for members in groups.values():
        members.sort(key=lambda r: r.get("sha256") or "")
        out += [(k, r) for k, r in enumerate(members)]
    return sorted(out, key=lambda t: (t[0], group_of(t[1]), t[1]["file"]))


def deadline(hhmm: str) -> float:
    now = datetime.now(UTC)
    h, m = map(int, hhmm.split(":"))
    return now.replace(hour=h, minute=m, second=0, microsecond=0).timestamp()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=int, default=600)
    ap.add_argument("--views", default="as-is,jpeg90")
    ap.add_argument("--until", default="", help="HH:MM UTC: stop after the round in progress at that time")
    ap.add_argument("--limit", type=int, default=0, help="stop after this many files (throughput check)")
    ap.add_argument("--manifest", type=Path, default=None)
    ap.add_argument("--whole-short", type=int, default=0,
                    help="the stream's whole view at equalised resolution (deepfake-train image --whole-short; the default trains at 128)")
    ap.add_argument("--shard", default="0/1", help="i/n: this process takes every n-th file from the i-th (n processes, one per core)")
    args = ap.parse_args()
    rows = load_rows(args.manifest or default_manifest(), cap=args.cap)
    shard, n_shards = map(int, args.shard.split("/"))
    order = ranked(rows)[shard::n_shards]
    stop_at = deadline(args.until) if args.until else float("inf")
    stream = stream_factory("clip")(**WHOLE_ONLY, whole_short=args.whole_short)
    stream.load()
    cache = FeatureCache()
    views = args.views.split(",")
    t0, done, errors, rank_done = time.time(), 0, 0, -1
    for i, (rank, r) in enumerate(order):
        if time.time() > stop_at:
            print(f"deadline: stopped at file {i} (rank {rank}; ranks < {rank} complete)", flush=True)
            break
        if args.limit and i >= args.limit:
            break
        for v in views:
            try:
                features_of(stream, Path(r["path"]), v, 0, cache)
            except Exception as exc:  # a bad file is recorded and skipped
                errors += 1
                print(f"error {r['file']} {v}: {exc}", flush=True)
        done += 1
        rank_done = rank
        if done % 100 == 0:
            el = time.time() - t0
            print(f"{datetime.now(UTC):%H:%M:%S} {done} files, rank {rank}, {el / done:.2f} s/file", flush=True)
    el = time.time() - t0
    print(json.dumps({"stream": stream.name, "version": stream.version, "files": done, "errors": errors,
                      "last_rank": rank_done, "seconds": round(el, 1), "s_per_file": round(el / max(done, 1), 3)}))


if __name__ == "__main__":
    main()
