"""Real-time factor of the audio detector on the CPU, per stage, for a 60 s clip.

    python benchmarks/bench_audio.py [--model models/audio] [--file some.wav] [--threads 1] [--repeat 3]

RTF = processing seconds / audio seconds (below 1 is faster than real time). The clip is a
generated speech-like signal (voiced bursts, pauses, a little noise) written as 22.05 kHz MP3, unless
``--file`` names a real recording. Stages are timed inside the real ``audio-default`` code path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES = ("decode", "vad", "features", "artifacts", "consistency", "infer", "postprocess")


def speech_like(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Phrases of 1-4 s of voiced bursts at a wandering pitch, separated by 0.2-0.8 s pauses."""
    from tests.media_factory import tone

    rng = np.random.default_rng(seed)
    parts, total = [], 0
    n = int(seconds * sample_rate)
    while total < n:
        phrase = tone(float(rng.uniform(1, 4)), sample_rate, freq=float(rng.uniform(100, 220)), seed=int(rng.integers(1 << 30)))
        pause = (0.002 * rng.standard_normal(int(rng.uniform(0.2, 0.8) * sample_rate))).astype(np.float32)
        parts += [phrase, pause]
        total += phrase.size + pause.size
    return np.concatenate(parts)[:n]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=ROOT / "models" / "audio")
    p.add_argument("--file", type=Path, default=None)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    import torch

    from detectors import base
    from detectors.media import make_media_ref
    from detectors.settings import Settings
    from tests.media_factory import write_audio

    torch.set_num_threads(args.threads)
    det = base.create("audio-default", settings=Settings(torch_threads=args.threads), model_dir=args.model)
    t = time.perf_counter()
    det.load()
    load_s = time.perf_counter() - t
    if det.model is None:
        print(f"note: {det.missing}; timing without the model stages", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or write_audio(Path(tmp) / "clip.mp3", signal=speech_like(args.seconds, 22_050), sample_rate=22_050)
        ref = make_media_ref(path)
        runs: list[dict[str, float]] = []
        duration = 0.0
        for _ in range(args.repeat + 1):  # the first run warms caches and is dropped
            t0 = time.perf_counter()
            prepared = det.preprocess(ref)
            t1 = time.perf_counter()
            scores = det.infer(prepared.model_inputs) if prepared.model_inputs else []
            t2 = time.perf_counter()
            result = det.postprocess(prepared, scores)
            t3 = time.perf_counter()
            timing = {k: prepared.timings.get(k, 0.0) for k in ("decode", "vad", "features", "artifacts", "consistency")}
            timing.update(infer=t2 - t1, postprocess=t3 - t2, total=t3 - t0)
            runs.append(timing)
            duration = result.duration or 0.0
    runs = runs[1:]
    print(f"audio-default on {duration:.1f} s of audio ({path if args.file else 'generated 22.05 kHz MP3'}), "
          f"torch threads {args.threads}, median of {len(runs)} runs; load() {load_s:.2f} s; "
          f"{len(prepared.model_inputs)} windows of 4 s")
    print(f"{'stage':<13}{'seconds':>9}{'RTF':>9}")
    for stage in (*STAGES, "total"):
        sec = statistics.median(r[stage] for r in runs)
        print(f"{stage:<13}{sec:>9.3f}{sec / duration:>9.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
