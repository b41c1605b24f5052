"""A probe per face condition: one trained on the images with a face, one on the rest.

    .venv/bin/python experiments/image/face_expert.py --json experiments/image/results/face_expert.json

Why: the held-out scores of generated faces (SDFD, StarGAN, StyleGAN sources) sit below those of
real faces (per-source percentiles among the held-out reals: SDFD 0.39, StarGAN 0.20, the StyleGAN
faces of two face-classifier repositories 0.23 and 0.35; SD 1.x grids 0.98), while generated
scenes and art are caught. One linear direction over all content learns "rendered scene vs photo";
face fakes against face reals may need a direction of their own. The face detector runs on every
image anyway (for the evidence), so the condition is known at scoring time without content labels.

Protocol: the shipped head's features (whole-image ``proj`` at short side 128, std / w1 ridge
probe), the card's 7 folds, cap 300; the face count from the MobileNetV2 stream's cache (same
detector as the service). Per outer fold, on its training rows only: the global probe (the shipped
one), a face probe on the training rows with a face, a no-face probe on the rest; each penalty by
inner leave-one-family-out folds of its own rows; each probe's score mapped to a probability by a
Platt fit on its inner out-of-fold scores, so that the two experts' scores are comparable within a
fold. Variants: ``global`` (Platt of the shipped probe), ``experts`` (each image scored by its
condition's probe), ``face expert, global elsewhere``, and ``mean of expert and global``.
``chosen``: the variant with the best inner criterion (mean inner held-out-family AUC over the
inner folds' out-of-fold probabilities), per outer fold.
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

VARIANTS = ("global", "experts", "face expert, global elsewhere", "mean of expert and global")


def platt(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=1e4).fit(s.reshape(-1, 1), y)
    return float(m.coef_[0, 0]), float(m.intercept_[0])


def expit(z):
    return 1 / (1 + np.exp(-np.clip(z, -40, 40)))


def fit_expert(X, y, rows, idx, lams, power):
    """Ridge probe on ``idx`` with penalty by inner LOGO folds of ``idx``; its inner out-of-fold
    scores at that penalty (NaN where no inner fold scored a row) and their Platt map."""
    from detectors.evaluation import metrics
    from detectors.image.v2_logo import usable_inner
    from detectors.training.probe import balanced_weights, ridge_path

    inner = usable_inner(rows, y, idx, kind="logo")
    oof = np.full((len(y), len(lams)), np.nan)
    per = {j: [] for j in range(len(lams))}
    for tr, te in inner:
        for j, p in enumerate(ridge_path(X[tr], y[tr], balanced_weights(rows, tr, power), lams)):
            s = p.score(X[te])
            oof[te, j] = np.where(np.isnan(oof[te, j]), s, (np.nan_to_num(oof[te, j]) + s) / 2)
            per[j].append(metrics.auc(y[te], s))
    j = max(per, key=lambda k: (np.nanmean(per[k]) if per[k] else -1, lams[k]))
    probe = ridge_path(X[idx], y[idx], balanced_weights(rows, idx, power), (lams[j],))[0]
    o = oof[:, j]
    ok = np.isfinite(o[idx])
    a, b = platt(o[idx][ok], y[idx][ok])
    return probe, (a, b), o, inner


def combine(kind: str, cond: np.ndarray, g: np.ndarray, f: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Probabilities of one variant from the global, face and no-face experts' probabilities."""
    if kind == "global":
        return g
    if kind == "experts":
        return np.where(cond == 1, f, n)
    if kind == "face expert, global elsewhere":
        return np.where(cond == 1, f, g)
    return np.where(cond == 1, (f + g) / 2, (n + g) / 2)


def evaluate(json_path: Path) -> None:
    from content_balance import POWER
    from face_norm import face_counts
    from probe_scale import CONDS, cached_rows, cached_whole, save_tables

    from detectors.evaluation import metrics
    from detectors.image.v2_logo import RIDGE_LAMBDAS, usable_inner
    from detectors.image.v2_model import HEADS, head_matrix

    rows, _, y, _, folds = cached_rows(300)
    faces = face_counts([r["path"] for r in rows])
    if np.isnan(faces).any():
        raise SystemExit(f"{int(np.isnan(faces).sum())} files lack a cached face count (run deepfake-train image first)")
    cond = (faces > 0).astype(int)
    f, _ = cached_whole([r["path"] for r in rows], whole_short=128)
    X = {c: head_matrix(HEADS["clip-whole-proj"], f[c]) for c in CONDS}
    print(f"{len(rows)} rows; with a face: reals {int(cond[y == 0].sum())}/{int((y == 0).sum())}, "
          f"fakes {int(cond[y == 1].sum())}/{int((y == 1).sum())}", flush=True)
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {c: {} for c in CONDS}
    chosen = []
    for fi, fold in enumerate(folds):
        tr = fold.train
        experts = {}
        for name, idx in (("global", tr), ("face", tr[cond[tr] == 1]), ("none", tr[cond[tr] == 0])):
            experts[name] = fit_expert(X["as-is"], y, rows, idx, RIDGE_LAMBDAS, POWER)
        # inner criterion per variant: the experts' inner out-of-fold probabilities on the global inner folds
        prob_oof = {k: expit(e[1][0] * e[2] + e[1][1]) for k, e in experts.items()}
        crit = {}
        for v in VARIANTS:
            p = combine(v, cond, prob_oof["global"], prob_oof["face"], prob_oof["none"])
            crit[v] = float(np.nanmean([metrics.auc(y[te][np.isfinite(p[te])], p[te][np.isfinite(p[te])])
                                        for _, te in usable_inner(rows, y, tr, kind="logo")]))
        best = max(VARIANTS, key=lambda v: (round(crit[v], 4), -VARIANTS.index(v)))
        chosen.append({"fold": fold.name, "pick": best, "inner": crit})
        for c in CONDS:
            te = fold.test
            prob = {k: expit(e[1][0] * e[0].score(X[c][te]) + e[1][1]) for k, e in experts.items()}
            for v in VARIANTS:
                scores[c].setdefault(v, {})[fi] = combine(v, cond[te], prob["global"], prob["face"], prob["none"])
            scores[c].setdefault("chosen by inner folds", {})[fi] = scores[c][best][fi]
        print(f"fold {fold.name}: pick {best}; inner " + ", ".join(f"{v} {x:.3f}" for v, x in crit.items()), flush=True)
    save_tables(json_path, y, rows, folds, scores, cap=300, n=len(rows), chosen=chosen,
                with_face={"real": int(cond[y == 0].sum()), "fake": int(cond[y == 1].sum())})


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "face_expert.json")
    evaluate(ap.parse_args().json)
