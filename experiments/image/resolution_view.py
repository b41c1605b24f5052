"""Is the whole-image CLIP probe reading sharpness (the source's resolution) instead of generation?

    # the whole view at equalised resolution, short side N px, as-is and JPEG q90 (one process per core):
    .venv/bin/python experiments/image/extract_whole.py --cap 300 --whole-short 128 --shard 0/2   # and 1/2
    .venv/bin/python experiments/image/resolution_view.py --shorts 64,128,192 \
        --json experiments/image/results/resolution_view.json

Why: CLIP sees every image at 224 px. A 140 px face crop (Face-Mask-Detection, StarGAN v2
outputs) is upscaled and blurry there, a 1024 px StyleGAN or SD render downscaled and sharp, and
the real and fake sources of the corpus differ in resolution in ways that flip between families
(model card: within face sources the held-out scores ranked the fakes *below* the reals, AUC 0.33
at q90, and the metadata-only baseline does the same). The front end ``views.equalise_resolution``
equalises that: every image is downscaled (area) so its short side is at most N px and JPEG q90
re-encoded before the whole view, for training and scoring alike (the CLIP stream's
``whole_short``, stream version ``1-cnone-f0-sN``).

Protocol: ``probe_scale.cached_rows`` (cap 300, the card's 7 folds); per head (whole-image
penultimate and projected embeddings) the std / w1 ridge probe, penalty chosen by inner
leave-one-family-out folds of each outer fold's training rows, for each front end (the image as it
is, and each N whose features are cached); a test file "as-is" or "re-encoded" (JPEG q90) goes
through the front end under test. ``selected front end``: the front end with the best inner AUC,
chosen per outer fold on its training rows only (the honest estimate of "choose, then train").
Content strata as in the card.
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


def evaluate(json_path: Path, heads: list[str], shorts: list[int]) -> None:
    from probe_scale import cached_rows, cached_whole, save_tables
    from train_views import fit

    from detectors.image.v2_logo import RIDGE_LAMBDAS, usable_inner
    from detectors.image.v2_model import HEADS, head_matrix

    rows, feats, y, _, folds = cached_rows(300)
    fronts = {"as-is": feats}  # front end -> {"as-is": features of the files as they are, "jpeg90": of their q90 copies}
    for n in shorts:
        f, ok = cached_whole([r["path"] for r in rows], whole_short=n)
        if not ok.all():
            raise SystemExit(f"{int((~ok).sum())} files lack short side {n}: run extract_whole.py --whole-short {n} first")
        fronts[f"short{n}"] = f
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {"as-is": {}, "jpeg90": {}}
    chosen: dict[str, list] = {}
    for h in heads:
        X = {front: {c: head_matrix(HEADS[h], f[c]) for c in ("as-is", "jpeg90")} for front, f in fronts.items()}
        for fi, fold in enumerate(folds):
            inner = usable_inner(rows, y, fold.train, kind="logo")
            crit = {}
            for front, Xf in X.items():
                probe, lam, crit[front] = fit({"as-is": Xf["as-is"]}, y, rows, fold.train, ("as-is",), RIDGE_LAMBDAS, inner)
                chosen.setdefault(f"{h} front end {front}", []).append(lam)
                for cond in scores:
                    scores[cond].setdefault(f"{h} front end {front}", {})[fi] = probe.score(Xf[cond][fold.test])
            pick = max(X, key=lambda f: crit[f])
            chosen.setdefault(f"{h} selected front end (inner criterion)", []).append({"front": pick, **crit})
            for cond in scores:
                scores[cond].setdefault(f"{h} selected front end", {})[fi] = scores[cond][f"{h} front end {pick}"][fi]
            print(f"{h} fold {fold.name}: inner AUC " + ", ".join(f"{f} {v:.3f}" for f, v in crit.items()), flush=True)
        # the rule applied once to every row (what the shipped model's front end should be)
        every = np.arange(len(y))
        inner = usable_inner(rows, y, every, kind="logo")
        final = {front: fit({"as-is": Xf["as-is"]}, y, rows, every, ("as-is",), RIDGE_LAMBDAS, inner)[2] for front, Xf in X.items()}
        chosen[f"{h} rule on all rows (inner criterion)"] = final
        print(f"{h} all rows: inner AUC " + ", ".join(f"{f} {v:.3f}" for f, v in final.items()), flush=True)
    save_tables(json_path, y, rows, folds, scores, cap=300, n=len(rows), shorts=shorts, chosen=chosen)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--shorts", default="128", help="comma-separated short sides whose features are cached")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "resolution_view.json")
    ap.add_argument("--heads", default="clip-whole-pen,clip-whole-proj")
    a = ap.parse_args()
    evaluate(a.json, a.heads.split(","), [int(v) for v in a.shorts.split(",")])
