"""Training the whole-image CLIP probes on JPEG-re-encoded copies too: does it buy robustness to
re-encoding on unseen families?

    .venv/bin/python experiments/image/train_views.py --json experiments/image/results/train_views.json

Both views of every file are in the feature cache already (``extract_whole.py``: as-is and JPEG
q90). Leave-one-family-out as the trainer runs it (std / w1 ridge probe, penalty by inner
leave-one-family-out folds of each outer fold's training rows), trained on: ``as-is`` (the shipped
setting), ``jpeg90`` only, or ``both`` (each training file twice, both copies in the file's group,
so an inner fold never splits a file's copies); tested as-is and JPEG q90 on the held-out family.
Only training rows' copies are ever used in training.
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
from content_balance import POWER  # noqa: E402
from probe_scale import CONDS, cached_rows, save_tables  # noqa: E402

from detectors.evaluation import metrics  # noqa: E402
from detectors.image.v2_logo import RIDGE_LAMBDAS, ridge_path, usable_inner  # noqa: E402
from detectors.image.v2_model import HEADS, head_matrix  # noqa: E402
from detectors.training.probe import balanced_weights  # noqa: E402

TRAIN_VIEWS = {"as-is": ("as-is",), "jpeg90": ("jpeg90",), "both": ("as-is", "jpeg90")}


def stacked(Xv: dict[str, np.ndarray], idx: np.ndarray, views: tuple[str, ...]) -> np.ndarray:
    return np.concatenate([Xv[v][idx] for v in views])


def fit(Xv, y, rows, idx, views, lam_grid, inner):
    """Penalty by inner folds (training copies of the inner training rows, tested as-is), then the
    probe on every copy of ``idx``: (probe, penalty, its mean inner AUC)."""
    k = len(views)

    def w(i):
        return np.tile(balanced_weights(rows, i, POWER), k)

    per = {lam: [] for lam in lam_grid}
    for tr, te in inner:
        path = ridge_path(stacked(Xv, tr, views), np.tile(y[tr], k), w(tr), lam_grid)
        for lam, p in zip(lam_grid, path, strict=True):
            per[lam].append(metrics.auc(y[te], p.score(Xv["as-is"][te])))
    lam = max(lam_grid, key=lambda v: (np.nanmean(per[v]), v))
    return ridge_path(stacked(Xv, idx, views), np.tile(y[idx], k), w(idx), (lam,))[0], lam, float(np.nanmean(per[lam]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=int, default=300)
    ap.add_argument("--heads", default="clip-whole-pen,clip-whole-proj")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args()
    rows, feats, y, _, folds = cached_rows(args.cap)
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {c: {} for c in CONDS}
    chosen: dict[str, list[float]] = {}
    for h in args.heads.split(","):
        Xv = {c: head_matrix(HEADS[h], feats[c]) for c in CONDS}
        for fi, fold in enumerate(folds):
            inner = usable_inner(rows, y, fold.train, kind="logo")
            for name, views in TRAIN_VIEWS.items():
                probe, lam, _ = fit(Xv, y, rows, fold.train, views, RIDGE_LAMBDAS, inner)
                chosen.setdefault(f"{h} {name}", []).append(lam)
                for c in CONDS:
                    scores[c].setdefault(f"{h} trained {name}", {})[fi] = probe.score(Xv[c][fold.test])
            print(f"{h} fold {fold.name} done", flush=True)
    save_tables(args.json, y, rows, folds, scores, cap=args.cap, n=len(rows), chosen_penalty=chosen)

if __name__ == "__main__":
    main()
