"""Project out the directions along which sources differ within a class, then probe.

    .venv/bin/python experiments/image/nuisance_projection.py --json experiments/image/results/nuisance_projection.json

Why: the held-out scores read content (model card, content strata: generated faces rank below real
faces, real scenes above generated ones). Whatever separates one real source from another (faces
vs scenes vs objects, camera, resolution) says nothing about generation, and likewise whatever
separates one fake family from another is specific to that family. Nuisance attribute projection
(NAP, from speaker verification: Solomonoff et al. 2005) removes the top-k directions of the
between-group scatter within each class from the features before the linear probe, so that the
probe can only use what the groups of a class share.

Protocol: the shipped head (whole-image ``proj`` at short side 128, std / w1 ridge probe), the
card's 7 folds, cap 300. Per outer fold, on its training rows only: standardise, take the group
means (fake family / real source) minus their class mean (every group counts once), keep the top-k
right singular vectors of those deviations (from the reals' groups, the fakes' groups or both),
project them out, then choose the ridge penalty on inner leave-one-family-out folds (each inner
fold computes its own projection from its own training rows). ``chosen``: k and the group kind
picked per outer fold by the same inner criterion (mean inner held-out-family AUC), the honest
estimate of "choose, then train".
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

KS = (0, 2, 4, 8, 16, 32, 64)
KINDS = ("reals", "fakes", "both")


def nuisance_basis(Z: np.ndarray, groups: list[str], y: np.ndarray, k: int, kind: str) -> np.ndarray:
    """(k, d) orthonormal rows: the top-k directions of the between-group scatter within a class."""
    if k == 0:
        return np.zeros((0, Z.shape[1]))
    devs = []
    for label in {"reals": (0,), "fakes": (1,), "both": (0, 1)}[kind]:
        gs = sorted({g for g, t in zip(groups, y, strict=True) if t == label})
        means = np.stack([Z[[i for i, g in enumerate(groups) if g == key]].mean(axis=0) for key in gs])
        devs.append(means - means.mean(axis=0))
    D = np.concatenate(devs)
    _, _, Vt = np.linalg.svd(D, full_matrices=False)
    return Vt[: min(k, len(Vt))]


class Projected:
    """Standardise with the training rows, remove the nuisance directions, then the ridge probe."""

    def __init__(self, X, y, rows, idx, k, kind, lams, power):
        from detectors.training.probe import balanced_weights, family_of, ridge_path, standardiser

        self.mean, self.scale = standardiser(X[idx], "std")
        Z = self._z(X[idx])
        self.P = nuisance_basis(Z, [family_of(rows[i]) for i in idx], y[idx], k, kind)
        self.probes = ridge_path(self._project(Z), y[idx], balanced_weights(rows, idx, power), lams)

    def _z(self, X):
        return np.nan_to_num((np.asarray(X, np.float64) - self.mean) / self.scale)

    def _project(self, Z):
        return Z - (Z @ self.P.T) @ self.P

    def score(self, X, which: int = 0):
        return self.probes[which].score(self._project(self._z(X)))


def fit_choosing_penalty(X, y, rows, idx, inner, k, kind, lams, power):
    """Penalty by the inner folds (each with its own projection), then the model on ``idx``."""
    from detectors.evaluation import metrics

    per = {lam: [] for lam in lams}
    for tr, te in inner:
        m = Projected(X, y, rows, tr, k, kind, lams, power)
        for j, lam in enumerate(lams):
            per[lam].append(metrics.auc(y[te], m.score(X[te], j)))
    lam = max(lams, key=lambda v: (np.nanmean(per[v]), v))
    return Projected(X, y, rows, idx, k, kind, (lam,), power), float(np.nanmean(per[lam]))


def evaluate(json_path: Path) -> None:
    from content_balance import POWER
    from probe_scale import CONDS, save_tables, shipped_head_features

    from detectors.image.v2_logo import RIDGE_LAMBDAS, usable_inner

    rows, y, folds, X = shipped_head_features(300)
    lams = RIDGE_LAMBDAS
    variants = [(0, "none")] + [(k, kind) for kind in KINDS for k in KS if k]
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {c: {} for c in CONDS}
    chosen = []
    for fi, fold in enumerate(folds):
        inner = usable_inner(rows, y, fold.train, kind="logo")
        crit = {}
        for k, kind in variants:
            model, crit[(k, kind)] = fit_choosing_penalty(X["as-is"], y, rows, fold.train, inner, k, kind, lams, POWER)
            name = "proj, no projection" if k == 0 else f"proj, minus {k} {kind} directions"
            for c in CONDS:
                scores[c].setdefault(name, {})[fi] = model.score(X[c][fold.test])
        best = max(variants, key=lambda v: (round(crit[v], 4), -v[0]))  # ties: fewer directions
        for c in CONDS:
            name = "proj, no projection" if best[0] == 0 else f"proj, minus {best[0]} {best[1]} directions"
            scores[c].setdefault("chosen by inner folds", {})[fi] = scores[c][name][fi]
        chosen.append({"fold": fold.name, "pick": list(best), "inner": {f"{k} {kind}": round(v, 4) for (k, kind), v in crit.items()}})
        print(f"fold {fold.name}: pick {best}; inner " + ", ".join(f"{k}{kind[0]} {v:.3f}" for (k, kind), v in crit.items()), flush=True)
    save_tables(json_path, y, rows, folds, scores, cap=300, n=len(rows), chosen=chosen)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "nuisance_projection.json")
    evaluate(ap.parse_args().json)
