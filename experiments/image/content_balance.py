"""Does matching content between reals and fakes in training make the whole-image CLIP probe read
generation traces instead of "face photo vs scene/art"?

    .venv/bin/python experiments/image/content_balance.py --json experiments/image/results/content_balance.json

Why: the shipped probe (``models/image/MODEL_CARD.md``) scores held-out *real faces* above held-out
*fake faces* (within-faces AUC 0.33) and its worst folds (gan-other 0.26, sd2-sdxl-sd3 0.36) are
families whose content differs from the training fakes'. The corpus' reals and fakes differ in
content (face datasets and natural-scene sets against GAN faces, diffusion art), and a linear probe on
CLIP features, which encode content first, takes that shortcut.

What: leave-one-family-out on the cached whole-image CLIP features (``extract_whole.py``), trained
as-is, tested as-is and JPEG q90, as the trainer does (family-balanced ridge probe, std / w1, penalty
by inner leave-one-family-out folds of each outer fold's training rows). Variants, all fitted on each
fold's training rows only:
- ``base``: the shipped probe setting;
- ``match K a``: content clusters (k-means, K clusters, on the unit-norm projected embedding of the
  training rows); within each cluster the reals' and the fakes' total weights are pulled to the
  smaller of the two (``a`` = 0: matched exactly, clusters holding one class drop out; ``a`` = 0.25:
  a quarter of the excess kept), so that content alone predicts nothing in training;
- ``null K``: the K cluster centroids' directions (between-content scatter, in the head's own feature
  space) projected out of train and test features, then the base probe;
- ``auto``: per outer fold, the variant with the best inner leave-one-family-out AUC (the clusters and
  projector are fitted label-free on the outer fold's training rows, the inner folds' test rows
  included; the weights and probes on inner training rows only).
Every variant's table sits beside the content strata of its pooled held-out scores (within faces,
within scenes, across), the test of whether it reads content.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from probe_scale import CONDS, cached_rows, save_tables  # noqa: E402

from detectors.evaluation import metrics  # noqa: E402
from detectors.image.v2_logo import RIDGE_LAMBDAS, ridge_path, usable_inner  # noqa: E402
from detectors.image.v2_model import HEADS, head_matrix  # noqa: E402
from detectors.training.probe import balanced_weights  # noqa: E402

POWER = 1.0  # the group damping the shipped heads chose (std / w1)


def kmeans(Z: np.ndarray, k: int, seed: int = 0, iters: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means (k-means++ start) on unit rows: (labels, unit centroids)."""
    rng = np.random.default_rng(seed)
    C = [Z[rng.integers(len(Z))]]
    for _ in range(1, k):
        d = 1.0 - np.max(Z @ np.array(C).T, axis=1)
        p = np.maximum(d, 0) ** 2
        C.append(Z[rng.choice(len(Z), p=p / p.sum())])
    C = np.array(C)
    labels = np.zeros(len(Z), int)
    for _ in range(iters):
        new = np.argmax(Z @ C.T, axis=1)
        if (new == labels).all() and _ > 0:
            break
        labels = new
        for j in range(k):
            m = labels == j
            if m.any():
                c = Z[m].sum(axis=0)
                C[j] = c / max(np.linalg.norm(c), 1e-12)
    return labels, C


def unit(X: np.ndarray) -> np.ndarray:
    X = np.nan_to_num(np.asarray(X, np.float64))
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def content_weights(rows, idx: np.ndarray, y: np.ndarray, clusters: np.ndarray, alpha: float) -> np.ndarray:
    """``balanced_weights`` (power 1), then, per content cluster, the reals' and fakes' totals pulled
    to the smaller one (``alpha`` of the excess kept); each class renormalised to n / 2."""
    w = balanced_weights(rows, idx, POWER)
    yy, cl = y[idx], clusters
    for c in np.unique(cl):
        r, f = (cl == c) & (yy == 0), (cl == c) & (yy == 1)
        R, F = w[r].sum(), w[f].sum()
        m = min(R, F)
        if R > 0:
            w[r] *= (m + alpha * (R - m)) / R
        if F > 0:
            w[f] *= (m + alpha * (F - m)) / F
    for label in (0, 1):
        s = w[yy == label].sum()
        if s > 0:
            w[yy == label] *= (len(idx) / 2) / s
    return w


def between_projector(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """I - Q Q^T, Q an orthonormal basis of the cluster means (centred on the overall mean) of X."""
    Xs = np.nan_to_num(np.asarray(X, np.float64))
    mu = Xs.mean(axis=0)
    M = np.array([Xs[labels == c].mean(axis=0) - mu for c in np.unique(labels)])
    Q, _ = np.linalg.qr(M.T)
    return np.eye(X.shape[1]) - Q @ Q.T


def fit_choose(X: np.ndarray, y: np.ndarray, rows, train: np.ndarray, inner, weight_fn):
    """Ridge probe on ``train`` at the penalty with the best mean inner AUC (weights from
    ``weight_fn(idx)``): (probe, penalty, that inner AUC)."""
    per = {lam: [] for lam in RIDGE_LAMBDAS}
    for tr, te in inner:
        for lam, p in zip(RIDGE_LAMBDAS, ridge_path(X[tr], y[tr], weight_fn(tr), RIDGE_LAMBDAS), strict=True):
            per[lam].append(metrics.auc(y[te], p.score(X[te])))
    lam = max(RIDGE_LAMBDAS, key=lambda v: (np.nanmean(per[v]), v))
    return ridge_path(X[train], y[train], weight_fn(train), (lam,))[0], lam, float(np.nanmean(per[lam]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=int, default=300)
    ap.add_argument("--heads", default="clip-whole-pen,clip-whole-proj")
    ap.add_argument("--variants", default="base,match8:0,match16:0,match32:0,match16:0.25,null8,null16,null32,null64")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args()
    t0 = time.time()

    def log(m: str) -> None:
        print(f"[{time.time() - t0:6.0f} s] {m}", flush=True)

    rows, feats, y, ok, folds = cached_rows(args.cap)
    log(f"{len(rows)} rows with features ({int(y.sum())} fake) of {len(ok)}; folds {[f.name for f in folds]}")
    proj_unit = unit(feats["as-is"]["whole.proj"])
    heads = args.heads.split(",")
    X = {h: head_matrix(HEADS[h], feats["as-is"]) for h in heads}
    Xt = {h: {c: head_matrix(HEADS[h], feats[c]) for c in CONDS} for h in heads}
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {c: {} for c in CONDS}
    chosen: dict[str, list] = {}
    auto_pick: dict[str, list[str]] = {}
    for fi, fold in enumerate(folds):
        inner_of: dict[tuple[str, str], float] = {}
        inner = usable_inner(rows, y, fold.train, kind="logo")
        cl_cache: dict[int, np.ndarray] = {}

        def clusters_of(k: int, fold=fold, fi=fi, cl_cache=cl_cache) -> np.ndarray:
            """Cluster of every row, from k-means fitted on this fold's training rows (-1 elsewhere)."""
            if k not in cl_cache:
                lab, C = kmeans(proj_unit[fold.train], k, seed=fi)
                full = np.argmax(proj_unit @ C.T, axis=1)
                full[np.setdiff1d(np.arange(len(rows)), fold.train)] = -1
                full[fold.train] = lab
                cl_cache[k] = full
            return cl_cache[k]

        for variant in args.variants.split(","):
            for h in heads:
                name = f"{h} {variant}"
                Xh, Xth = X[h], Xt[h]
                if variant == "base":
                    def wfn(idx):
                        return balanced_weights(rows, idx, POWER)
                elif variant.startswith("match"):
                    k_s, a_s = variant[5:].split(":")
                    cl, alpha = clusters_of(int(k_s)), float(a_s)

                    def wfn(idx, cl=cl, alpha=alpha):
                        return content_weights(rows, idx, y, cl[idx], alpha)
                elif variant.startswith("null"):
                    cl = clusters_of(int(variant[4:]))
                    P = between_projector(Xh[fold.train], cl[fold.train])
                    Xh = np.nan_to_num(Xh) @ P
                    Xth = {c: np.nan_to_num(m) @ P for c, m in Xth.items()}

                    def wfn(idx):
                        return balanced_weights(rows, idx, POWER)
                else:
                    raise SystemExit(f"unknown variant {variant}")
                probe, lam, inner_auc = fit_choose(Xh, y, rows, fold.train, inner, wfn)
                chosen.setdefault(name, []).append(lam)
                inner_of[(h, variant)] = inner_auc
                for c in CONDS:
                    scores[c].setdefault(name, {})[fi] = probe.score(Xth[c][fold.test])
            log(f"fold {fold.name}: {variant} done")
        # "auto": the variant with the best inner leave-one-family-out AUC on this fold's training
        # rows (what a trainer could ship: nothing here is picked on the outer table)
        for h in heads:
            best = max(args.variants.split(","), key=lambda v: inner_of[(h, v)])
            auto_pick.setdefault(h, []).append(best)
            for c in CONDS:
                scores[c].setdefault(f"{h} auto", {})[fi] = scores[c][f"{h} {best}"][fi]
    save_tables(args.json, y, rows, folds, scores, cap=args.cap, n=len(rows), n_fake=int(y.sum()),
                chosen_penalty=chosen, auto_pick=auto_pick, folds=[f.name for f in folds])
    print("auto picks per fold:", json.dumps(auto_pick))
    log("done")


if __name__ == "__main__":
    main()
