"""Extract one image v2 stream over the (capped) corpus through one view, into the feature cache.

    .venv/bin/python experiments/image/extract.py --stream clip --view as-is --cap 150

Run one at a time in the background (2 shared cores); every later run reads the cache.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from detectors.image.streams import stream_factory
from detectors.image.v2_data import default_manifest, load_rows
from detectors.training.streams import extract


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stream", required=True)
    ap.add_argument("--view", default="as-is")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cap", type=int, default=30)
    ap.add_argument("--manifest", type=Path, default=None)
    ap.add_argument("--crops", default="centre", help="comma-separated native crops (centre,tl,tr,bl,br) or ''")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rows = load_rows(args.manifest or default_manifest(), cap=args.cap)
    if args.limit:
        rows = rows[: args.limit]
    crops = tuple(c for c in args.crops.split(",") if c)
    stream = stream_factory(args.stream)(crops=crops)
    stream.load()
    t = time.time()
    feats = extract(stream, [r["path"] for r in rows], view=args.view, seed=args.seed)
    timing = {k: (len(v), float(np.median(v))) for k, v in stream.timings.items()}
    print(json.dumps({"stream": stream.name, "version": stream.version, "view": args.view, "n": len(rows),
                      "ok": int(feats.ok.sum()), "errors": len(feats.errors), "seconds": time.time() - t,
                      "cache_hits": feats.cache_hits, "median_s": timing}, indent=1))
    for i, e in list(feats.errors.items())[:10]:
        print("error", rows[i]["file"], e)


if __name__ == "__main__":
    main()
