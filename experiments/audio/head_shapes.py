"""Other head shapes on the same Whisper features: a one-class model of real speech, and a small MLP.

    .venv/bin/python experiments/audio/head_shapes.py run --shard 0/2   # and 1/2 beside it
    .venv/bin/python experiments/audio/head_shapes.py table --n-boot 50

Why: every head measured so far is linear (ridge, logistic) and two-class, so it learns the
directions that separate the *training* families from the training reals; an unseen vocoder whose
artefacts lie elsewhere scores like a real. Two other shapes:

- ``oneclass``: a model of real speech only (one-class learning, the reason OC-Softmax generalised
  to unseen attacks in ASVspoof 2019, Zhang et al. 2021): the source-weighted mean and covariance
  of the training reals' standardised features, and the score is the Mahalanobis distance with the
  covariance's eigenvalues floored at ``s`` times their mean (s = 0.01 / 0.1 / 1 chosen by the
  inner folds): anything unlike real speech scores high, whichever direction it lies in.
- ``mlp``: one hidden layer (128 ReLU units, dropout 0.3) on the top 256 principal components of
  the standardised features, family-balanced weighted log-loss, AdamW, 25 epochs; weight decay
  (0.01 / 1) chosen by the inner folds. Nonlinear, still two-class.

Protocol: the 62 leave-one-family-out folds of the card (cap 120, as-is), per head the mean+std of
Whisper state 1, 2 or 3; the hyperparameter by the 3 family-grouped inner folds of each outer
fold's training rows (pooled inner out-of-fold AUC, as the ridge alpha); fusion by non-negative
stacking on the inner out-of-fold scores and the inner criterion of ``nested_variants.py``. The
ridge heads (the previous recipe, 16.7 %) are read from ``nuisance_projection.py``'s saved
scores (its "no projection" variant: the same folds, inner folds and weights), so run that first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from nested_variants import card_rows, shard_part  # noqa: E402

SCORES = Path("/tmp/audio_head_shapes")
HEADS = ("l1", "l2", "l3")
SHAPES = {"oneclass": (0.01, 0.1, 1.0), "mlp": (0.01, 1.0)}
VARIANTS = {
    "ridge l1-3 (previous recipe)": [("ridge", h) for h in HEADS],
    "one-class l1-3": [("oneclass", h) for h in HEADS],
    "mlp l1-3": [("mlp", h) for h in HEADS],
    "ridge + one-class": [(s, h) for s in ("ridge", "oneclass") for h in HEADS],
    "ridge + mlp": [(s, h) for s in ("ridge", "mlp") for h in HEADS],
    "ridge + one-class + mlp": [(s, h) for s in ("ridge", "oneclass", "mlp") for h in HEADS],
}


class Standard:
    """Standardisation fitted on one training set."""

    def __init__(self, X: np.ndarray) -> None:
        from detectors.training.probe import standardiser

        self.mean, self.scale = standardiser(X, "std")

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return np.nan_to_num((np.asarray(X, np.float64) - self.mean) / self.scale)


class OneClass:
    """Mahalanobis distance from the training reals (source-weighted), eigenvalues floored."""

    def __init__(self, X: np.ndarray, y: np.ndarray, w: np.ndarray, idx: np.ndarray) -> None:
        self.z = Standard(X[idx])
        real = idx[y[idx] == 0]
        Z, wr = self.z(X[real]), w[real] / w[real].sum()
        self.mu = wr @ Z
        C = (Z - self.mu).T @ (wr[:, None] * (Z - self.mu))
        lam, self.V = np.linalg.eigh(C)
        self.lam = np.clip(lam, 0.0, None)

    def scores(self, X: np.ndarray, floors) -> list[np.ndarray]:
        P = (self.z(X) - self.mu) @ self.V
        return [(P**2 / (self.lam + s * self.lam.mean())).sum(axis=1) for s in floors]


class Mlp:
    """One hidden layer on the top principal components (each scaled to unit variance); one fit per weight decay."""

    def __init__(self, X: np.ndarray, y: np.ndarray, w: np.ndarray, idx: np.ndarray, seed: int) -> None:
        self.z = Standard(X[idx])
        Z = self.z(X[idx])
        self.mu = Z.mean(axis=0)
        self.V = np.linalg.svd(Z - self.mu, full_matrices=False)[2][:256].T
        P = (Z - self.mu) @ self.V
        self.pscale = np.sqrt((P**2).mean(axis=0) + 1e-12)
        self.data = ((P / self.pscale).astype(np.float32), y[idx].astype(np.float32), (w[idx] / w[idx].mean()).astype(np.float32))
        self.seed = seed

    def pcs(self, X: np.ndarray) -> np.ndarray:
        return (((self.z(X) - self.mu) @ self.V) / self.pscale).astype(np.float32)

    def fit(self, wd: float):
        import torch

        torch.manual_seed(self.seed)
        P, t, w = (torch.from_numpy(a) for a in self.data)
        net = torch.nn.Sequential(torch.nn.Linear(P.shape[1], 128), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(128, 1))
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=wd)
        g = torch.Generator().manual_seed(self.seed)
        for _ in range(25):
            for b in torch.randperm(len(t), generator=g).split(256):
                loss = (torch.nn.functional.binary_cross_entropy_with_logits(net(P[b])[:, 0], t[b], reduction="none") * w[b]).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        return net.eval()

    def scores(self, X: np.ndarray, nets) -> list[np.ndarray]:
        import torch

        P = torch.from_numpy(self.pcs(X))
        with torch.no_grad():
            return [net(P)[:, 0].numpy().astype(np.float64) for net in nets]


def fit_scores(shape: str, X, y, w, itr, ite_list, seed: int) -> list[list[np.ndarray]]:
    """For each index set in ``ite_list``: its scores under every hyperparameter of ``shape``."""
    if shape == "oneclass":
        m = OneClass(X, y, w, itr)
        return [m.scores(X[ite], SHAPES[shape]) for ite in ite_list]
    m = Mlp(X, y, w, itr, seed)
    nets = [m.fit(wd) for wd in SHAPES[shape]]
    return [m.scores(X[ite], nets) for ite in ite_list]


def run(args) -> None:
    import torch

    from detectors.audio.v2_train import LAYER_KEYS, load_features
    from detectors.evaluation import metrics
    from detectors.training.probe import balanced_weights, inner_folds

    torch.set_num_threads(1)
    rows, y, folds = card_rows()
    feats = load_features([r["path"] for r in rows], ["whisper"], "as-is")["whisper"]
    i, mine = shard_part(args.shard, len(folds))
    shapes = args.shapes.split(",")
    out = {}
    t0 = time.monotonic()
    for fi in mine:
        fold = folds[fi]
        tr = fold.train
        w = np.zeros(len(y))
        w[tr] = balanced_weights(rows, tr, 0.5)
        splits = inner_folds(rows, tr, 3, fi)
        for h in HEADS:
            X = np.concatenate([feats[k] for k in LAYER_KEYS[h]], axis=1)
            for shape in shapes:
                oof = np.full((len(y), len(SHAPES[shape])), np.nan)
                for itr, ite in splits:
                    wi = np.zeros(len(y))
                    wi[itr] = balanced_weights(rows, itr, 0.5)
                    oof[ite] = np.column_stack(fit_scores(shape, X, y, wi, itr, [ite], fi)[0])
                o = oof[tr]
                ok = np.isfinite(o).all(axis=1)
                j = int(np.nanargmax([metrics.auc(y[tr][ok], o[ok, k]) for k in range(o.shape[1])]))
                test = fit_scores(shape, X, y, w, tr, [fold.test], fi)[0][j]
                out[f"test__{shape}__{h}__{fi}"] = test
                out[f"oof__{shape}__{h}__{fi}"] = oof[tr, j]
                out[f"pick__{shape}__{h}__{fi}"] = np.array(j)
        print(f"fold {fi} {fold.name}: {time.monotonic() - t0:.0f} s", flush=True)
    SCORES.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(SCORES / f"{args.shapes.replace(',', '_')}_shard{i}.npz", **out)


def table(args) -> None:
    from nested_variants import fuse_and_select, outer_results, saved_head, scores_beside_ridge, write_report


    rows, y, folds = card_rows()
    z = scores_beside_ridge(SCORES, "ridge")
    variants = {v: [f"{s}:{h}" for s, h in hs] for v, hs in VARIANTS.items()
                if all(f"test__{s}__{h}__0" in z for s, h in hs)}

    score, crit, weights, chosen, sel = fuse_and_select(y, rows, folds, variants, saved_head(z, "test"), saved_head(z, "oof"))
    names = list(variants)
    results = {v: outer_results(y, folds, score[v], args.n_boot) for v in names}
    results["chosen by inner folds"] = outer_results(y, folds, sel, args.n_boot)
    picks = {f"{s}:{h}": np.bincount([int(z[f"pick__{s}__{h}__{fi}"]) for fi in range(len(folds))], minlength=len(SHAPES[s])).tolist()
             for s in SHAPES for h in HEADS if f"pick__{s}__{h}__0" in z}
    from detectors.evaluation import metrics

    alone = {}
    for s in ("ridge", *SHAPES):
        for h in HEADS:
            if f"test__{s}__{h}__0" in z:
                te = [(y[f.test], z[f"test__{s}__{h}__{fi}"]) for fi, f in enumerate(folds)]
                alone[f"{s}:{h}"] = (float(np.mean([metrics.auc(a, b) for a, b in te])),
                                     float(np.mean([metrics.eer(a, b)[0] for a, b in te])))
    write_report("head_shapes", [
        f"{len(y)} files, {len(folds)} folds; heads on Whisper states 1-3 (mean+std), fused per variant.",
        "Each head alone, mean AUC / EER over folds (a fusion gives a head below chance on the inner folds weight 0, "
        "so a variant of only such heads scores every file alike): "
        + "; ".join(f"{k} {a:.3f} / {100 * e:.1f} %" for k, (a, e) in alone.items()) + ".",
        f"Hyperparameter picks per head over the folds ({', '.join(f'{s}: {SHAPES[s]}' for s in SHAPES)}): {picks}"],
        results, crit, chosen, len(y), folds, picks=picks, alone=alone)

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("run", "table"))
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--shapes", default="oneclass,mlp")
    ap.add_argument("--n-boot", type=int, default=50)
    a = ap.parse_args()
    run(a) if a.what == "run" else table(a)
