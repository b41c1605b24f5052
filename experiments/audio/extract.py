"""Extract (and cache) the audio v2 streams over the capped corpus, job by job, in one process.

    nohup .venv/bin/python experiments/audio/extract.py > /tmp/audio_extract.log 2>&1 &

Jobs (stream, view, rows): Whisper states 0-3 and the metadata as-is on the capped rows (120 per
family / real source); metadata, Whisper and the v1 statistics on the nested smaller draw (20 per
group) as-is, as 32 kbit/s MP3 and as 16 kHz WAV; then the 'aug' view of Whisper on the capped rows. One file at a time on one thread; a rerun reads the cache.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from detectors.audio.v2_data import DEFAULT_CAP, VIEW_SUBCAP, load_rows
from detectors.audio.v2_train import load_features

JOBS = [
    ("whisper", "as-is", "cap"), ("meta", "as-is", "cap"),
    ("meta", "mp3-32k", "sub"), ("meta", "wav16k", "sub"),
    ("whisper", "mp3-32k", "sub"), ("v1", "as-is", "sub"),
    ("whisper", "wav16k", "sub"), ("v1", "mp3-32k", "sub"), ("v1", "wav16k", "sub"),
    ("whisper", "aug", "cap"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=None, help="job indices to run")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    rows = {"cap": load_rows(cap=DEFAULT_CAP), "sub": load_rows(cap=DEFAULT_CAP, subcap=VIEW_SUBCAP)}
    for i, (s, view, which) in enumerate(JOBS):
        if args.only is not None and str(i) not in args.only:
            continue
        paths = [r["path"] for r in rows[which]]
        t = time.time()
        f = load_features(paths, [s], view)[s]
        ok = np.isfinite(next(iter(f.values()))).all(axis=1)
        print(f"{s}/{view}: {len(paths)} files, {int(ok.sum())} ok, {time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
