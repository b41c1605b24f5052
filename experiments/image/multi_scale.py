"""Does scoring the whole view at several equalised resolutions help the whole-image CLIP probes?

    .venv/bin/python experiments/image/multi_scale.py --shorts 64,128,192 \
        --json experiments/image/results/multi_scale.json

Needs the features of every front end (``extract_whole.py --whole-short N`` per N). Same protocol as
``resolution_view.py`` (cap 300, the card's 7 folds, std / w1 ridge probes, penalty by inner
leave-one-family-out folds of each outer fold's training rows), plus two multi-scale heads:
``mean of scales``: one probe per front end, the mean of their scores (each probe trained on its own
front end; a test file goes through every front end); ``concat``: one probe on the front ends'
features side by side. Would cost one CLIP pass per front end in the service.
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
    from probe_scale import CONDS, cached_rows, cached_whole, save_tables
    from train_views import fit

    from detectors.image.v2_logo import RIDGE_LAMBDAS, usable_inner
    from detectors.image.v2_model import HEADS, head_matrix

    rows, _, y, _, folds = cached_rows(300)
    fronts = {}
    for n in shorts:
        f, ok = cached_whole([r["path"] for r in rows], whole_short=n)
        if not ok.all():
            raise SystemExit(f"{int((~ok).sum())} files lack short side {n}: run extract_whole.py --whole-short {n} first")
        fronts[n] = f
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {c: {} for c in CONDS}
    for h in heads:
        X = {n: {c: head_matrix(HEADS[h], f[c]) for c in CONDS} for n, f in fronts.items()}
        X["concat"] = {c: np.hstack([X[n][c] for n in shorts]) for c in CONDS}
        for fi, fold in enumerate(folds):
            inner = usable_inner(rows, y, fold.train, kind="logo")
            per = {}
            for front, Xf in X.items():
                probe, _, _ = fit({"as-is": Xf["as-is"]}, y, rows, fold.train, ("as-is",), RIDGE_LAMBDAS, inner)
                per[front] = {c: probe.score(Xf[c][fold.test]) for c in CONDS}
            for c in CONDS:
                for front in X:
                    name = f"{h} concat {'+'.join(map(str, shorts))}" if front == "concat" else f"{h} short{front}"
                    scores[c].setdefault(name, {})[fi] = per[front][c]
                scores[c].setdefault(f"{h} mean of scales", {})[fi] = np.mean([per[n][c] for n in shorts], axis=0)
            print(f"{h} fold {fold.name} done", flush=True)
    save_tables(json_path, y, rows, folds, scores, cap=300, n=len(rows), shorts=shorts)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--shorts", default="64,128,192")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "multi_scale.json")
    ap.add_argument("--heads", default="clip-whole-pen,clip-whole-proj")
    a = ap.parse_args()
    evaluate(a.json, a.heads.split(","), [int(v) for v in a.shorts.split(",")])
