"""Does a fine spectral + phase stream (``v2_streams.VocoderTraces``) add to the Whisper heads?

    .venv/bin/python experiments/audio/vocoder_traces.py extract --shard 0/2   # and 1/2, one per core
    .venv/bin/python experiments/audio/vocoder_traces.py eval [--n-boot 50]    # late fusion
    .venv/bin/python experiments/audio/vocoder_traces.py joint [--n-boot 50]   # early fusion

Why: the families the shipped recipe leaves above 30 % EER are mostly neural vocoders that
re-synthesise real recordings (HiFi-GAN, UnivNet, Parallel WaveGAN, WaveGlow, BigVGAN, MelGAN):
the fake keeps the speaker, words and channel and differs by the synthesis alone, in detail that
Whisper's 80-band log-mel front end smooths away. The stream keeps that detail (512-point STFT
at 16 kHz: the long-term spectrum's fine structure, per-band dynamics and flatness, phase locking
along time and frequency, the noise floor).

Protocol: the model card's (all 5,639 rows of ``load_rows``, ``logo_folds`` min_fakes 20, 62 folds,
as-is); the stream's ridge head alone (alpha on inner family-grouped folds), the shipped recipe,
and the shipped heads + the stream's head in the same non-negative fusion (weights on inner
out-of-fold scores). Also the stream split into its spectral and phase parts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from compare import family_eer_lines, save  # noqa: E402

from detectors.audio.v2_data import labels, load_rows  # noqa: E402
from detectors.audio.v2_streams import TRACE_KEYS  # noqa: E402
from detectors.audio.v2_train import Config, HeadSpec, load_features, logo_eval, summary_table  # noqa: E402
from detectors.evaluation import logo  # noqa: E402

HARD = ("bigvgan", "hifi-gan", "melgan", "parallel-wavegan", "univnet", "waveglow")


def extract(shard: str) -> None:
    i, n = (int(v) for v in shard.split("/"))
    rows = load_rows()
    paths = [r["path"] for k, r in enumerate(rows) if k % n == i]
    load_features(paths, ["traces"], "as-is", progress=False)
    print(f"shard {shard}: {len(paths)} files done", flush=True)


def features(rows: list[dict]) -> dict[str, dict[str, np.ndarray]]:
    """Whisper and traces features of ``rows`` (as-is), with the assembled matrices kept in one
    file beside the cache: reading 5,639 per-file Whisper entries takes about 9 minutes."""
    import hashlib

    from detectors.evaluation.dataset import corpus_dir

    digest = hashlib.sha256("\n".join(r["sha256"] or r["file"] for r in rows).encode()).hexdigest()[:16]
    path = corpus_dir().parent / "experiments" / f"audio-whisper-traces-{digest}.npz"
    if path.exists():
        with np.load(path) as d:
            out: dict[str, dict[str, np.ndarray]] = {}
            for k in d.files:
                s, n = k.split("/", 1)
                out.setdefault(s, {})[n] = d[k]
            return out
    out = load_features([r["path"] for r in rows], ["whisper", "traces"], "as-is")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{f"{s}/{n}": v for s, f in out.items() for n, v in f.items()})
    return out


def joint_variants(n_boot: int) -> None:
    """Early fusion: each Whisper head reads its state and the traces in one ridge (one matrix)."""
    rows = load_rows()
    y = labels(rows)
    feats = features(rows)
    feats["joint"] = {**feats["whisper"], **feats["traces"]}
    folds = logo.logo_folds(rows, min_fakes=20)
    shipped = Config().heads
    joint = [HeadSpec(f"{h.name}+traces", "joint", [*h.keys, *TRACE_KEYS], kind=h.kind, C=h.C, alpha=h.alpha) for h in shipped]
    res = {
        "shipped recipe": logo_eval(shipped, feats, y, rows, folds, n_boot=n_boot),
        "each head + traces (early fusion)": logo_eval(joint, feats, y, rows, folds, n_boot=n_boot),
        "shipped + state-3-with-traces head": logo_eval([*shipped, joint[2]], feats, y, rows, folds, n_boot=n_boot),
    }
    report(res, folds, rows, y, "vocoder_traces_joint")


def evaluate(n_boot: int) -> None:
    rows = load_rows()
    y = labels(rows)
    feats = features(rows)
    folds = logo.logo_folds(rows, min_fakes=20)
    shipped = Config().heads
    traces = HeadSpec("traces", "traces", TRACE_KEYS)
    spectral = HeadSpec("traces-spectral", "traces", ["fine", "tilt", "spread", "flux", "flatness", "floor"])
    phase = HeadSpec("traces-phase", "traces", ["if_lock", "gd_lock"])
    res = {
        "shipped recipe": logo_eval(shipped, feats, y, rows, folds, n_boot=n_boot),
        "traces head alone": logo_eval([traces], feats, y, rows, folds, fuse=False, n_boot=n_boot),
        "traces: spectral part": logo_eval([spectral], feats, y, rows, folds, fuse=False, n_boot=n_boot),
        "traces: phase part": logo_eval([phase], feats, y, rows, folds, fuse=False, n_boot=n_boot),
        "shipped + traces": logo_eval([*shipped, traces], feats, y, rows, folds, n_boot=n_boot),
    }
    report(res, folds, rows, y, "vocoder_traces")


def report(res: dict, folds: list, rows: list[dict], y: np.ndarray, out_name: str) -> None:
    lines = [f"{len(rows)} files ({int(y.sum())} fake), {len(folds)} folds, as-is", ""]
    for name, r in res.items():
        lines += [f"#### {name}", "", summary_table(r), ""]
    lines += family_eer_lines(res, folds, lambda name: " (vocoder)" if name in HARD else "")
    save(out_name, "\n".join(lines), {"rows": len(rows), "results": res})


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["extract", "eval", "joint"])
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--n-boot", type=int, default=50)
    a = ap.parse_args()
    if a.what == "extract":
        extract(a.shard)
    else:
        (evaluate if a.what == "eval" else joint_variants)(a.n_boot)
