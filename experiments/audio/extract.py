"""Extract (and cache) the audio v2 streams over the capped corpus, job by job, in one process.

    nohup .venv/bin/python experiments/audio/extract.py > /tmp/audio_extract.log 2>&1 &

Jobs (stream, view, rows): every Whisper layer and the metadata as-is on the capped rows (120 per
family / real source); the v1 statistics, and Whisper states 0-3 + metadata + v1 on the 16 kHz WAV
and 32 kbit/s MP3 views, on the nested smaller draw (25 per group); then the 'aug' view of Whisper
states 0-3 on the capped rows. One file at a time on one thread; a rerun reads the cache.
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from detectors.audio import v2_augment
from detectors.audio.v2_data import DEFAULT_CAP, VIEW_SUBCAP, load_rows
from detectors.audio.v2_streams import AudioMetadata, SpectralStats, WhisperLayers
from detectors.training.streams import extract

JOBS = [
    ("whisper", "as-is", "cap"), ("meta", "as-is", "cap"),
    ("whisper-l3", "mp3-32k", "sub"), ("meta", "mp3-32k", "sub"),
    ("whisper-l3", "wav16k", "sub"), ("meta", "wav16k", "sub"),
    ("v1", "as-is", "sub"), ("v1", "mp3-32k", "sub"), ("v1", "wav16k", "sub"),
    ("whisper-l3", "aug", "cap"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=None, help="job indices to run")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    v2_augment.register()
    rows = {"cap": load_rows(cap=DEFAULT_CAP), "sub": load_rows(cap=DEFAULT_CAP, subcap=VIEW_SUBCAP)}
    streams = {"meta": AudioMetadata(), "whisper": WhisperLayers(), "whisper-l3": WhisperLayers(upto=3),
               "v1": SpectralStats()}
    for i, (s, view, which) in enumerate(JOBS):
        if args.only is not None and str(i) not in args.only:
            continue
        st = streams[s]
        st.load()
        paths = [r["path"] for r in rows[which]]
        t = time.time()
        f = extract(st, paths, view=view, progress=False, log_every=250)
        print(f"{st.name}/{view}: {len(paths)} files, {int(f.ok.sum())} ok, {len(f.errors)} errors, "
              f"{time.time() - t:.0f} s, {f.cache_hits} cached", flush=True)
        for j, e in list(f.errors.items())[:5]:
            print("  error", paths[j], e, flush=True)


if __name__ == "__main__":
    main()
