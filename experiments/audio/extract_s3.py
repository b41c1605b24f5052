"""Second-pass extraction jobs for audio v2, one after another in one process (one thread).

    nohup .venv/bin/python experiments/audio/extract_s3.py --jobs aug aasist > /tmp/audio_s3_extract.log 2>&1 &

- ``aug``: Whisper states 0-3 of the ``aug`` view (seed 0) of the nested 20-per-group draw (1,934
  files), for training on augmented copies and measuring on the 32 kbit/s MP3 view.
- ``aasist``: the official AASIST on one 4 s window per file (``aasist-1w``) of the same draw.
- ``all-layers``: Whisper states 0-6 (``whisper-all``) of the capped rows (120 per group) as-is.
A rerun reads the cache.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from detectors.audio.v2_data import DEFAULT_CAP, VIEW_SUBCAP, load_rows
from detectors.audio.v2_train import load_features

JOBS = {"aug": ("whisper", "aug", "sub"), "aasist": ("aasist-1w", "as-is", "sub"),
        "all-layers": ("whisper-all", "as-is", "cap")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", nargs="+", choices=list(JOBS), default=list(JOBS))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    for name in args.jobs:
        s, view, which = JOBS[name]
        rows = load_rows(cap=DEFAULT_CAP, subcap=VIEW_SUBCAP if which == "sub" else None)
        paths = [r["path"] for r in rows]
        t = time.time()
        f = load_features(paths, [s], view, progress=True)[s]
        ok = np.isfinite(next(iter(f.values()))).all(axis=1)
        print(f"{name}: {s}/{view}: {len(paths)} files, {int(ok.sum())} ok, {time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
