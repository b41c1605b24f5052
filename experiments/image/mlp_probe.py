"""A nonlinear probe on the shipped head's features: does a small MLP transfer better than the linear probe?

    .venv/bin/python experiments/image/mlp_probe.py --json experiments/image/results/mlp_probe.json

Why: the families the linear probe misses are generated faces (SDFD, StarGAN, StyleGAN), which it
scores below real faces, while it catches generated scenes and art: one linear direction over all
content. An MLP can bend that direction per content; the audio heads' MLP
(``experiments/audio/head_shapes.py``) is the same network.

Protocol: the shipped head's features (whole-image ``proj`` at short side 128), the card's 7 folds,
cap 300, trained as-is, tested as-is and re-encoded JPEG q90. Per outer fold, on its training rows
only: the shipped linear probe (std / w1 ridge, penalty by inner leave-one-family-out folds,
``face_expert.fit_expert``) and the MLP (``head_shapes.Mlp``: one hidden layer of 128 on the top
256 principal components, dropout 0.3, w1 weights, 25 epochs), its weight decay (0.01 / 1) chosen
by the same inner folds (mean inner held-out-family AUC); ``chosen``: the one of the two with the
better inner criterion.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "audio"))

import numpy as np  # noqa: E402

DECAYS = (0.01, 1.0)


def evaluate(json_path: Path) -> None:
    import torch
    from content_balance import POWER
    from face_expert import fit_expert
    from head_shapes import Mlp
    from probe_scale import CONDS, save_tables, shipped_head_features

    from detectors.evaluation import metrics
    from detectors.image.v2_logo import RIDGE_LAMBDAS, usable_inner
    from detectors.training.probe import balanced_weights

    torch.set_num_threads(1)
    rows, y, folds, X = shipped_head_features(300)

    def mlp_fits(idx, seed):
        w = np.zeros(len(y))
        w[idx] = balanced_weights(rows, idx, POWER)
        m = Mlp(X["as-is"], y, w, idx, seed)
        return m, [m.fit(d) for d in DECAYS]

    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {c: {} for c in CONDS}
    chosen = []
    for fi, fold in enumerate(folds):
        tr = fold.train
        inner = usable_inner(rows, y, tr, kind="logo")
        lin = fit_expert(X["as-is"], y, rows, tr, RIDGE_LAMBDAS, POWER)
        lin_crit = float(np.nanmean([metrics.auc(y[te][np.isfinite(lin[2][te])], lin[2][te][np.isfinite(lin[2][te])])
                                     for _, te in inner]))
        per = {d: [] for d in DECAYS}
        for k, (itr, ite) in enumerate(inner):
            m, nets = mlp_fits(itr, 100 * fi + k)
            for d, s in zip(DECAYS, m.scores(X["as-is"][ite], nets), strict=True):
                per[d].append(metrics.auc(y[ite], s))
        best = max(DECAYS, key=lambda d: np.nanmean(per[d]))
        mlp_crit = float(np.nanmean(per[best]))
        m, nets = mlp_fits(tr, fi)
        pick = "mlp" if mlp_crit > lin_crit else "linear"
        chosen.append({"fold": fold.name, "pick": pick, "decay": best, "inner": {"linear": lin_crit, "mlp": mlp_crit}})
        for c in CONDS:
            te = fold.test
            got = {"linear (shipped probe)": lin[0].score(X[c][te]),
                   "mlp": m.scores(X[c][te], [nets[DECAYS.index(best)]])[0]}
            for name, s in got.items():
                scores[c].setdefault(name, {})[fi] = s
            scores[c].setdefault("chosen by inner folds", {})[fi] = got["mlp" if pick == "mlp" else "linear (shipped probe)"]
        print(f"fold {fold.name}: inner linear {lin_crit:.3f}, mlp {mlp_crit:.3f} (decay {best})", flush=True)
    save_tables(json_path, y, rows, folds, scores, cap=300, n=len(rows), chosen=chosen)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "mlp_probe.json")
    evaluate(ap.parse_args().json)
