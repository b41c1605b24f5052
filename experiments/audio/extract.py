"""Extract (and cache) the audio v2 streams over the capped corpus, view by view.

    nohup .venv/bin/python experiments/audio/extract.py --views as-is mp3-32k wav16k aug > /tmp/audio_extract.log 2>&1 &

One file at a time on one thread (the machine is shared); a rerun reads everything from the cache.
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from detectors.audio import v2_augment
from detectors.audio.v2_data import DEFAULT_CAP, load_rows
from detectors.audio.v2_streams import AudioMetadata, SpectralStats, WhisperLayers
from detectors.training.streams import extract


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--views", nargs="+", default=["as-is"])
    ap.add_argument("--streams", nargs="+", default=["meta", "whisper", "v1"])
    ap.add_argument("--cap", type=int, default=DEFAULT_CAP)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    v2_augment.register()
    rows = load_rows(cap=args.cap)[: args.limit]
    paths = [r["path"] for r in rows]
    streams = {"meta": AudioMetadata(), "whisper": WhisperLayers(), "v1": SpectralStats()}
    for view in args.views:
        for s in args.streams:
            st = streams[s]
            st.load()
            t = time.time()
            f = extract(st, paths, view=view, progress=False, log_every=250)
            print(f"{st.name}/{view}: {len(paths)} files, {int(f.ok.sum())} ok, {len(f.errors)} errors, "
                  f"{time.time() - t:.0f} s, {f.cache_hits} cached", flush=True)
            for i, e in list(f.errors.items())[:5]:
                print("  error", paths[i], e, flush=True)


if __name__ == "__main__":
    main()
