"""Project out the directions along which real sources (and fake families) differ, then the heads.

    .venv/bin/python experiments/audio/nuisance_projection.py run --shard 0/2   # and 1/2 beside it
    .venv/bin/python experiments/audio/nuisance_projection.py table --n-boot 50

Why: each real source of corpus v2 has its own recording chain (microphone, room, codec, level),
and so does each fake family's training data; a probe on Whisper states can learn "sounds like
LibriTTS / VCTK" instead of "was synthesised". Nuisance attribute projection (NAP; Solomonoff et
al., 2005, channel compensation in speaker verification) removes the top-k directions of the
between-group scatter within a class from the standardised features before the ridge head, so the
head can only use what the groups of a class share.

Protocol: the 62 leave-one-family-out folds of the card (cap 120, as-is), heads ridge on the
mean+std of Whisper states 1, 2, 3 (the previous recipe: the shipped one with ridge in place of the
logistic head on state 2), alpha by the same 3 family-grouped inner folds as the trainer, fused by
non-negative stacking on the inner out-of-fold scores. Per outer fold and only from its training
rows: the group means (real source / fake family, each group once) minus their class mean; their
top-k right singular vectors from the reals' groups (``reals``) or from both classes (``both``);
each inner fold computes its own basis from its own training rows. ``chosen``: k and kind picked
per outer fold by the inner criterion (mean EER of the inner held-out families, as
``nested_variants.py``), the honest estimate of "choose, then train".
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

SCORES = Path("/tmp/audio_nap_scores")
VARIANTS = [(0, "none"), (4, "reals"), (8, "reals"), (16, "reals"), (32, "reals"), (8, "both"), (32, "both")]
HEADS = ("l1", "l2", "l3")


def vname(v: tuple[int, str]) -> str:
    return "no projection" if v[0] == 0 else f"minus {v[0]} {v[1]} directions"


def group_deviations(Z: np.ndarray, gid: np.ndarray, y: np.ndarray, label: int) -> np.ndarray:
    """Each group's mean minus the mean of its class's group means (one row per group)."""
    gs = np.unique(gid[y == label])
    means = np.stack([Z[gid == g].mean(axis=0) for g in gs])
    return means - means.mean(axis=0)


def bases(Z: np.ndarray, gid: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """kind -> (m, d) right singular vectors of the within-class group deviations, strongest first."""
    dr, df = group_deviations(Z, gid, y, 0), group_deviations(Z, gid, y, 1)
    return {"reals": np.linalg.svd(dr, full_matrices=False)[2], "both": np.linalg.svd(np.vstack([dr, df]), full_matrices=False)[2]}


class RidgeFits:
    """Weighted ridge of t in {-1, 1} on standardised, projected features of one training set.

    The Gram matrix is computed once; the projection (I - P'P) acts on it, so every (k, alpha)
    costs a d x d product and a solve.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, gid: np.ndarray, w: np.ndarray, idx: np.ndarray) -> None:
        from detectors.training.probe import standardiser

        self.mean, self.scale = standardiser(X[idx], "std")
        Z = self.z(X[idx])
        self.B = bases(Z, gid[idx], y[idx])
        wi = w[idx]
        t = np.where(y[idx] == 1, 1.0, -1.0)
        W = wi.sum()
        self.zm = (wi[:, None] * Z).sum(axis=0) / W
        self.tm = float((wi * t).sum() / W)
        Zc = Z - self.zm
        self.G = Zc.T @ (wi[:, None] * Zc)
        self.r = Zc.T @ (wi * (t - self.tm))

    def z(self, X: np.ndarray) -> np.ndarray:
        return np.nan_to_num((np.asarray(X, np.float64) - self.mean) / self.scale)

    def coefs(self, v: tuple[int, str], alphas) -> list[np.ndarray]:
        d = len(self.r)
        A = np.eye(d)
        if v[0]:
            P = self.B[v[1]][: v[0]]
            A = A - P.T @ P
        G, r = A @ self.G @ A, A @ self.r
        return [A @ np.linalg.solve(G + a * np.eye(d), r) for a in alphas]  # A @: scores use the projected z

    def score(self, X: np.ndarray, coef: np.ndarray) -> np.ndarray:
        return (self.z(X) - self.zm) @ coef + self.tm


def group_ids(rows: list[dict]) -> np.ndarray:
    """Each row's fake family / real source as an integer (what ``bases`` groups by)."""
    from detectors.training.probe import family_of

    keys = [family_of(r) for r in rows]
    names = sorted(set(keys))
    return np.array([names.index(k) for k in keys])


def fold_ridge_scores(X: np.ndarray, y: np.ndarray, gid: np.ndarray, rows: list[dict], fold, fi: int,
                      variants) -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]:
    """One outer fold's ridge head per projection variant: alpha by the 3 family-grouped inner folds
    of its training rows (pooled inner out-of-fold AUC), refit on them all. Returns variant ->
    (scores of the fold's held-out rows, inner out-of-fold scores of its training rows at that alpha)."""
    from detectors.audio.v2_train import RIDGE_ALPHAS
    from detectors.evaluation import metrics
    from detectors.training.probe import balanced_weights, inner_folds

    tr = fold.train
    w = np.zeros(len(y))
    w[tr] = balanced_weights(rows, tr, 0.5)
    oof = {v: np.full((len(y), len(RIDGE_ALPHAS)), np.nan) for v in variants}
    for itr, ite in inner_folds(rows, tr, 3, fi):
        wi = np.zeros(len(y))
        wi[itr] = balanced_weights(rows, itr, 0.5)
        f = RidgeFits(X, y, gid, wi, itr)
        for v in variants:
            for j, c in enumerate(f.coefs(v, RIDGE_ALPHAS)):
                oof[v][ite, j] = f.score(X[ite], c)
    full = RidgeFits(X, y, gid, w, tr)
    out = {}
    for v in variants:
        o = oof[v][tr]
        ok = np.isfinite(o).all(axis=1)
        j = int(np.nanargmax([metrics.auc(y[tr][ok], o[ok, k]) for k in range(len(RIDGE_ALPHAS))]))
        out[v] = (full.score(X[fold.test], full.coefs(v, [RIDGE_ALPHAS[j]])[0]), oof[v][tr, j])
    return out


def run(args) -> None:
    from detectors.audio.v2_train import LAYER_KEYS, load_features

    rows, y, folds = card_rows()
    feats = load_features([r["path"] for r in rows], ["whisper"], "as-is")["whisper"]
    gid = group_ids(rows)
    i, mine = shard_part(args.shard, len(folds))
    out = {}
    t0 = time.monotonic()
    for h in HEADS:
        X = np.concatenate([feats[k] for k in LAYER_KEYS[h]], axis=1)
        for fi in mine:
            for v, (test, oof) in fold_ridge_scores(X, y, gid, rows, folds[fi], fi, VARIANTS).items():
                out[f"test__{h}__{vname(v)}__{fi}"] = test
                out[f"oof__{h}__{vname(v)}__{fi}"] = oof
            print(f"{h} fold {fi} {folds[fi].name}: {time.monotonic() - t0:.0f} s", flush=True)
    SCORES.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(SCORES / f"shard{i}.npz", **out)


def table(args) -> None:
    from nested_variants import fuse_and_select, outer_results, write_report


    rows, y, folds = card_rows()
    z = {}
    for p in sorted(SCORES.glob("shard*.npz")):
        z.update(dict(np.load(p)))
    names = [vname(v) for v in VARIANTS]
    score, crit, _, chosen, sel = fuse_and_select(
        y, rows, folds, {v: list(HEADS) for v in names},
        lambda v, h, fi: z[f"test__{h}__{v}__{fi}"], lambda v, h, fi: z[f"oof__{h}__{v}__{fi}"])
    results = {v: outer_results(y, folds, score[v], args.n_boot) for v in names}
    results["chosen by inner folds"] = outer_results(y, folds, sel, args.n_boot)
    write_report("nuisance_projection", [f"{len(y)} files, {len(folds)} folds; ridge heads on Whisper states 1-3 (mean+std), fused."],
                 results, crit, chosen, len(y), folds)

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("run", "table"))
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--n-boot", type=int, default=50)
    a = ap.parse_args()
    run(a) if a.what == "run" else table(a)
