"""Is the whole-image CLIP probe reading sharpness (the source's resolution) instead of generation?

    .venv/bin/python experiments/image/resolution_view.py extract --shard 0/2   # and 1/2, one per core
    .venv/bin/python experiments/image/resolution_view.py eval --json experiments/image/results/resolution_view.json

Why: CLIP sees every image at 224 px. A 140 px face crop (Face-Mask-Detection, StarGAN v2
outputs) is upscaled and blurry there, a 1024 px StyleGAN or SD render downscaled and sharp, and
the real and fake sources of the corpus differ in resolution in ways that flip between families
(model card: within face sources the held-out scores rank the fakes *below* the reals, AUC 0.33 at
q90, and the metadata-only baseline does the same). The ``short128`` view equalises that: every
image is downscaled (area) so its short side is at most 128 px, then saved as JPEG q90, for
training and testing alike, so every file reaches CLIP equally blurred and equally compressed.

Protocol: ``probe_scale.cached_rows`` (cap 300, the card's 7 folds); per head (whole-image
penultimate and projected embeddings) the std / w1 ridge probe, penalty chosen by inner
leave-one-family-out folds of each outer fold's training rows, trained on ``as-is`` (the shipped
setting; tested as-is and q90) or on ``short128`` (tested on ``short128``, the detector that view
would make; a test file "re-encoded" is JPEG q90 before the front end), and the front end chosen per
outer fold by the inner criterion (mean inner AUC at the chosen penalty): the honest estimate of
"pick the front end, then train". Content strata as in the card.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

SHORT = 128
VIEW = f"short{SHORT}"
Q90_VIEW = f"jpeg90-{VIEW}"


def short_view(src: Path, dst_dir: Path, rng: np.random.Generator) -> Path:
    """Downscale (area) so the short side is at most ``SHORT`` px, then JPEG q90."""
    import cv2

    from detectors.image.views import MAX_PIXELS, encode
    from detectors.media import load_image

    rgb = load_image(src, MAX_PIXELS)
    h, w = rgb.shape[:2]
    s = SHORT / min(h, w)
    if s < 1:
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    dst = Path(dst_dir) / f"{Path(src).stem}-{VIEW}.jpg"
    dst.write_bytes(encode(np.ascontiguousarray(rgb), "JPEG", {"quality": 90}))
    return dst


def q90_short_view(src: Path, dst_dir: Path, rng: np.random.Generator) -> Path:
    """The test file re-encoded as JPEG q90 first (the card's re-encoded condition), then ``short_view``."""
    from detectors.training.streams import view_fn

    q90 = view_fn("image", "jpeg90")(src, Path(dst_dir), rng)
    return short_view(q90, Path(dst_dir), rng)


def register() -> None:
    from detectors.training.streams import register_view, views

    if VIEW not in views("image"):
        register_view("image", VIEW, short_view)
        register_view("image", Q90_VIEW, q90_short_view)


def extract(shard: str, view: str = VIEW) -> None:
    from probe_scale import cached_rows

    from detectors.features.cache import FeatureCache
    from detectors.image.streams import stream_factory
    from detectors.training.streams import features_of

    register()
    i, n = (int(v) for v in shard.split("/"))
    rows = cached_rows(300)[0][i::n]
    stream = stream_factory("clip")(crops=(), faces=False)
    stream.load()
    cache = FeatureCache()
    for k, r in enumerate(rows):
        features_of(stream, Path(r["path"]), view, 0, cache)
        if (k + 1) % 200 == 0:
            print(f"{k + 1}/{len(rows)}", flush=True)
    print(f"shard {shard}: {len(rows)} files done", flush=True)


def evaluate(json_path: Path, heads: list[str]) -> None:
    from probe_scale import cached_rows, cached_whole, save_tables
    from train_views import fit

    from detectors.image.v2_logo import RIDGE_LAMBDAS, usable_inner
    from detectors.image.v2_model import HEADS, head_matrix

    rows, feats, y, _, folds = cached_rows(300)
    low, ok = cached_whole([r["path"] for r in rows], views=(VIEW, Q90_VIEW))
    if not ok.all():
        raise SystemExit(f"{int((~ok).sum())} files lack the {VIEW} views: run extract (both --view) first")
    feats = {**feats, **low}
    # front end -> (the features it trains on, the features of a test file as-is, re-encoded q90)
    fronts = {"as-is": ("as-is", "as-is", "jpeg90"), VIEW: (VIEW, VIEW, Q90_VIEW)}
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {"as-is": {}, "jpeg90": {}}
    chosen: dict[str, list] = {}
    for h in heads:
        Xv = {c: head_matrix(HEADS[h], feats[c]) for c in feats}
        for fi, fold in enumerate(folds):
            inner = usable_inner(rows, y, fold.train, kind="logo")
            crit = {}
            for front, (train_c, test_c, q90_c) in fronts.items():
                probe, lam, crit[front] = fit({"as-is": Xv[train_c]}, y, rows, fold.train, ("as-is",), RIDGE_LAMBDAS, inner)
                chosen.setdefault(f"{h} front end {front}", []).append(lam)
                for cond, c in (("as-is", test_c), ("jpeg90", q90_c)):
                    scores[cond].setdefault(f"{h} front end {front}", {})[fi] = probe.score(Xv[c][fold.test])
            pick = max(fronts, key=lambda f: crit[f])
            chosen.setdefault(f"{h} selected front end (inner criterion)", []).append({"front": pick, **crit})
            for cond in scores:
                scores[cond].setdefault(f"{h} selected front end", {})[fi] = scores[cond][f"{h} front end {pick}"][fi]
            print(f"{h} fold {fold.name}: inner AUC " + ", ".join(f"{f} {v:.3f}" for f, v in crit.items()), flush=True)
    save_tables(json_path, y, rows, folds, scores, cap=300, n=len(rows), view=VIEW, chosen=chosen)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["extract", "eval"])
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--view", default=VIEW, choices=(VIEW, Q90_VIEW), help="extract: which view")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "resolution_view.json")
    ap.add_argument("--heads", default="clip-whole-pen,clip-whole-proj")
    a = ap.parse_args()
    extract(a.shard, a.view) if a.what == "extract" else evaluate(a.json, a.heads.split(","))
