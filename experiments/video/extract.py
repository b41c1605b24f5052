"""Extract (and cache) the video-v2 clip features of corpus v2's video rows through one view.

    .venv/bin/python experiments/video/extract.py --view as-is [--limit 10]
    .venv/bin/python experiments/video/extract.py --view h264-low

One process, one thread per backbone (the machine is shared); run it in the background.
Features land in the feature cache, so ``deepfake-train video --recipe v2`` extracts nothing again.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--view", default="as-is")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0, help="order of the rows (so a --limit sample is spread)")
    ap.add_argument("--shuffle", action="store_true", help="random order (a run stopped early leaves a random subset)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    import torch

    torch.set_num_threads(1)
    from detectors.training.streams import extract
    from detectors.video.v2_data import load_video_rows
    from detectors.video.v2_features import VideoV2Stream

    rows, paths = load_video_rows()
    shuffle = args.limit or args.shuffle
    order = np.random.default_rng(args.seed).permutation(len(rows)) if shuffle else np.arange(len(rows))
    if args.limit:
        order = order[: args.limit]
    stream = VideoV2Stream()
    stream.load()
    t = time.monotonic()
    feats = extract(stream, [paths[i] for i in order], view=args.view, log_every=10)
    dt = time.monotonic() - t
    print(f"{len(order)} clips, {dt:.1f} s ({dt / max(1, len(order)):.2f} s/clip), {feats.cache_hits} cached, "
          f"{len(feats.errors)} errors")
    for i, e in feats.errors.items():
        print("error", paths[order[i]], e)
    if "timings" in feats.names:
        tm = feats["timings"][feats.ok]
        print("mean seconds intake/temporal/clip/whisper/total:", np.round(np.nanmean(tm, axis=0), 2))


if __name__ == "__main__":
    main()
