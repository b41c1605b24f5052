"""Real-time factor of the audio detectors on the CPU, per stage, for a 60 s clip.

    python benchmarks/bench_audio.py [--file some.wav] [--threads 1] [--repeat 3]            # audio-whisper (v2)
    python benchmarks/bench_audio.py --v1 [--model models/audio] [--file some.wav] ...       # audio-default (v1)

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
    p.add_argument("--v1", action="store_true", help="benchmark audio-default (v1) instead of audio-whisper")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--file", type=Path, default=None)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    if not args.v1:
        return bench_whisper(args)
    args.model = args.model or ROOT / "models" / "audio"

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


def bench_whisper(args: argparse.Namespace) -> int:
    """audio-whisper: decode, VAD, log-mel, encoder (the blocks the heads read), pooling, heads + fusion."""
    import torch

    from detectors import base
    from detectors.audio.v2_streams import pool_states
    from detectors.audio.whisper_detector import WINDOW_S
    from detectors.audio.whisper_encoder import log_mel
    from detectors.media import make_media_ref
    from detectors.settings import Settings
    from tests.media_factory import write_audio

    torch.set_num_threads(args.threads)
    model_dir = args.model or ROOT / "models" / "audio" / "whisper"
    det = base.create("audio-whisper", settings=Settings(torch_threads=args.threads), model_dir=model_dir)
    t = time.perf_counter()
    det.load()
    load_s = time.perf_counter() - t
    if det.model is None:
        print(f"note: {det.missing}; timing the encoder without heads", file=sys.stderr)
        from detectors.audio.v2_streams import WhisperLayers

        det.stream = WhisperLayers(threads=args.threads)
        det.stream.load()
    enc = det.stream.encoder
    stages = ("decode", "vad", "log-mel", "encoder", "pooling", "heads+fusion", "postprocess", "total")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or write_audio(Path(tmp) / "clip.mp3", signal=speech_like(args.seconds, 22_050), sample_rate=22_050)
        ref = make_media_ref(path)
        runs: list[dict[str, float]] = []
        for _ in range(args.repeat + 1):  # the first run warms caches and is dropped
            r = dict.fromkeys(stages, 0.0)
            t0 = time.perf_counter()
            prepared = det.preprocess(ref)
            r["decode"], r["vad"] = prepared.timings.get("decode", 0.0), prepared.timings.get("vad", 0.0)
            scores = []
            for x in prepared.model_inputs or _window_samples(prepared, ref):
                a = time.perf_counter()
                mel = log_mel(x)[None]
                b = time.perf_counter()
                with torch.inference_mode():
                    hs = [h[0].numpy() for h in enc(mel, upto=det.deepest_layer())]
                c = time.perf_counter()
                feats = pool_states(hs)
                d = time.perf_counter()
                if det.model is not None:
                    s = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in det.model.stream_scores({"whisper": feats}).items()}
                    scores.append(float(det.model.fused(s)))
                e = time.perf_counter()
                r["log-mel"] += b - a
                r["encoder"] += c - b
                r["pooling"] += d - c
                r["heads+fusion"] += e - d
            a = time.perf_counter()
            result = det.postprocess(prepared, scores)
            r["postprocess"] = time.perf_counter() - a
            r["total"] = time.perf_counter() - t0
            runs.append(r)
        duration = result.duration or 0.0
        n_windows = len(prepared.payload["windows"])
        ct2 = _ct2_reference(log_mel(_window_samples(prepared, ref)[0]), args.threads) if n_windows else None
    runs = runs[1:]
    print(f"audio-whisper on {duration:.1f} s of audio ({path if args.file else 'generated 22.05 kHz MP3'}), "
          f"torch threads {args.threads}, median of {len(runs)} runs; load() {load_s:.2f} s; "
          f"{n_windows} window(s) of up to {WINDOW_S:.0f} s")
    print(f"{'stage':<14}{'seconds':>9}{'RTF':>9}")
    for stage in stages:
        sec = statistics.median(r[stage] for r in runs)
        print(f"{stage:<14}{sec:>9.3f}{sec / duration:>9.4f}")
    enc_heads = statistics.median(r["log-mel"] + r["encoder"] + r["pooling"] + r["heads+fusion"] for r in runs)
    print(f"{'encoder+heads':<14}{enc_heads:>9.3f}{enc_heads / duration:>9.4f}   (target RTF <= 0.05)")
    if ct2 is not None:
        print(f"reference: ctranslate2 encode (last layer only) of the first window: {ct2[0]:.3f} s for {ct2[1]:.1f} s of audio "
              f"(RTF {ct2[0] / ct2[1]:.4f})")
    return 0


def _window_samples(prepared, ref) -> list[np.ndarray]:
    """The windows' samples (without a trained model the detector prepares no inputs)."""
    from detectors.media import load_audio

    clip = load_audio(ref.path, 900.0)
    return [np.ascontiguousarray(clip.samples[w.start_sample : w.end_sample]) for w in prepared.payload["windows"]]


def _ct2_reference(mel, threads: int) -> tuple[float, float] | None:
    try:
        import ctranslate2
    except ImportError:
        return None
    from detectors.audio.whisper_weights import ensure_model_dir

    model = ctranslate2.models.Whisper(str(ensure_model_dir()), device="cpu", compute_type="float32", intra_threads=threads)
    view = ctranslate2.StorageView.from_array(mel[None].numpy())
    model.encode(view, to_cpu=True)
    t = time.perf_counter()
    model.encode(view, to_cpu=True)
    return time.perf_counter() - t, mel.shape[-1] / 100


if __name__ == "__main__":
    raise SystemExit(main())
