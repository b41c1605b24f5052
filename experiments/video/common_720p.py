"""video-v2 with every test clip re-encoded to one common resolution and codec (issue 16, second pass).

    .venv/bin/python experiments/video/common_720p.py extract [--limit 10]   # view -> feature cache
    .venv/bin/python experiments/video/common_720p.py analyse --out experiments/video/common_720p.json

The metadata-only baseline separates corpus v2's videos at AUC 0.78-0.83: reals are mostly 256 px
clips, fakes 512 px or more, with other codecs and bit rates. Here every clip is decoded and
re-encoded the same way -- scaled so its shorter side is 720 px (aspect kept), H.264 CRF 32,
yuv420p, its own frame rate, sound as 16 kHz AAC -- so width, height, codec and bit-rate regime no
longer tell the classes apart. Models are trained as-is (the shipped procedure: nested choice per
outer fold) and score the held-out clips through this view, beside the metadata baseline under
the same protocol. Nothing is chosen on these numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

VIEW = "h264-720p-crf32"
SHORT_SIDE = 720


def reencode_720p(src: Path, dst: Path, max_seconds: float, crf: str = "32") -> Path:
    """Decode, scale to a 720 px shorter side (even sizes), encode H.264 CRF 32 + 16 kHz AAC sound."""
    from detectors.evaluation.reencode import reencode_video

    return reencode_video(src, dst, max_seconds, crf=crf, short_side=SHORT_SIDE)


def register() -> None:
    from detectors.settings import get_settings
    from detectors.training.streams import register_view

    s = get_settings()
    register_view("video", VIEW, lambda src, dst, rng: reencode_720p(src, dst / "view.mp4", s.max_video_seconds))


def extract(limit: int) -> None:
    import torch

    torch.set_num_threads(1)
    register()
    from detectors.training.streams import extract as run
    from detectors.video.v2_data import load_video_rows
    from detectors.video.v2_features import VideoV2Stream

    rows, paths = load_video_rows()
    order = np.random.default_rng(0).permutation(len(rows))
    if limit:
        order = order[:limit]
    stream = VideoV2Stream()
    stream.load()
    t = time.monotonic()
    feats = run(stream, [paths[i] for i in order], view=VIEW, log_every=10)
    dt = time.monotonic() - t
    print(f"{len(order)} clips, {dt:.1f} s ({dt / max(1, len(order)):.2f} s/clip), {feats.cache_hits} cached, "
          f"{len(feats.errors)} errors")


def analyse(out: Path, n_boot: int) -> None:
    from detectors.evaluation import logo
    from detectors.video.temporal import TEMPORAL_FEATURES
    from detectors.video.v2_data import load_video_rows
    from detectors.video.v2_fusion import FUSION_STREAMS, PROBE_STREAMS, design
    from detectors.video.v2_select import candidate_variants
    from detectors.video.v2_train import EXCLUDED_STREAMS, evaluate, load_vectors

    rows, paths = load_video_rows()
    asis = load_vectors(paths, "as-is", True)
    view = load_vectors(paths, VIEW, True)
    keep = [i for i in range(len(rows)) if asis[i] is not None and view[i] is not None]
    rows = [rows[i] for i in keep]
    asis = [asis[i] for i in keep]
    view = [view[i] for i in keep]
    y = np.array([1 if r["label"] == "fake" else 0 for r in rows])
    shipped = json.loads(Path("models/video/v2_fusion.json").read_text())
    kept = shipped["info"].get("temporal_kept", list(TEMPORAL_FEATURES))
    columns = {"temporal": {"temporal": [TEMPORAL_FEATURES.index(n) for n in kept]}}

    def mats(vectors):
        f = {n: design(vectors, names, columns.get(n)) for n, names in FUSION_STREAMS.items()}
        p = {n: design(vectors, names) for n, names in PROBE_STREAMS.items() if n in ("metadata", "corner-only")}
        return f, p

    fa, pa = mats(asis)
    fv, pv = mats(view)
    eligible = [v.name for v in candidate_variants(EXCLUDED_STREAMS)]
    folds = logo.logo_folds(rows, min_fakes=4)
    tables, _, choices = evaluate(fa, pa, y, rows, folds, {"as-is": {**fa, **pa}, "720p CRF 32": {**fv, **pv}},
                                  n_boot, eligible)
    names = ["fused", "face", "frame", "metadata", "corner-only"]
    result = {"n": len(rows), "view": VIEW, "mean_auc": {v: {n: logo.summary_row(t[n])["auc"] for n in names if n in t}
                                                         for v, t in tables.items()},
              "min_auc": {v: {n: logo.summary_row(t[n])["min_auc"] for n in names if n in t} for v, t in tables.items()},
              "fused_folds": {v: t["fused"] for v, t in tables.items()}, "choices": [c["chosen"] for c in choices]}
    out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(json.dumps({k: result[k] for k in ("n", "mean_auc", "min_auc", "choices")}, indent=1, default=float))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("extract", "analyse"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("experiments/video/common_720p.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.what == "extract":
        extract(args.limit)
    else:
        analyse(args.out, args.n_boot)


if __name__ == "__main__":
    main()
