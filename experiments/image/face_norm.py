"""Does normalising the score by "is there a face?" undo the content confound?

    .venv/bin/python experiments/image/face_norm.py --json experiments/image/results/face_norm.json

Why: the held-out scores rank generated faces below real faces and real scenes above generated
ones (model card, content strata), so part of the score is "face or not". The face detector runs
on every image anyway (for the evidence); a score normalised per face condition (cohort
normalisation: subtract the training reals' mean score of the image's condition, divide by their
spread) removes that offset without knowing the content class of the test source.

Protocol: the shipped head (whole-image ``proj`` at short side 128, std / w1 ridge probe, penalty by
inner leave-one-family-out folds), the card's 7 folds, cap 300; the face count comes from the
MobileNetV2 stream's cache (``meta.faces``, same detector as the service). Variants: ``raw``;
``centre``: minus the training reals' mean score of the image's condition (faces / none);
``z``: and divided by their standard deviation. Statistics from the training rows' in-sample scores
and, as the honest alternative, from their inner out-of-fold scores. The inner criterion (mean AUC
over inner folds, on out-of-fold scores normalised with the inner training rows' statistics) says
which a trainer would ship.
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


def face_counts(paths: list[str]) -> np.ndarray:
    from detectors.features.cache import FeatureCache, derived_key, file_key
    from detectors.image.v2_train import make_stream

    stream = make_stream("mnv2", ["mnv2-whole", "mnv2-face"])
    cache = FeatureCache(read_only=True)
    out = np.full(len(paths), np.nan)
    for i, p in enumerate(paths):
        g = cache.get(stream.name, stream.version, derived_key(file_key(p), "as-is", 0))
        if g is not None:
            out[i] = float(np.asarray(g["meta.faces"]).reshape(-1)[0])
    return out


def normalise(s: np.ndarray, cond: np.ndarray, ref_s: np.ndarray, ref_cond: np.ndarray, how: str) -> np.ndarray:
    """``s`` normalised per condition by the reference (training reals') scores of the same condition."""
    if how == "raw":
        return s
    out = s.astype(float).copy()
    for c in (0, 1):
        r = ref_s[ref_cond == c]
        if len(r) < 5:  # too few reals of this condition: leave it
            continue
        m = cond == c
        out[m] = (s[m] - r.mean()) / (r.std() + 1e-9 if how == "z" else 1.0)
    return out


def evaluate(json_path: Path) -> None:
    from content_balance import POWER
    from probe_scale import CONDS, cached_rows, cached_whole, save_tables
    from train_views import fit

    from detectors.evaluation import metrics
    from detectors.image.v2_logo import RIDGE_LAMBDAS, usable_inner
    from detectors.image.v2_model import HEADS, head_matrix
    from detectors.training.probe import balanced_weights, ridge_path

    rows, _, y, _, folds = cached_rows(300)
    paths = [r["path"] for r in rows]
    faces = face_counts(paths)
    if np.isnan(faces).any():
        raise SystemExit(f"{int(np.isnan(faces).sum())} files lack a cached face count (run deepfake-train image first)")
    cond = (faces > 0).astype(int)
    f, _ = cached_whole(paths, whole_short=128)
    X = {c: head_matrix(HEADS["clip-whole-proj"], f[c]) for c in CONDS}
    print(f"{len(rows)} rows; with a face: reals {int(cond[y == 0].sum())}/{int((y == 0).sum())}, "
          f"fakes {int(cond[y == 1].sum())}/{int((y == 1).sum())}", flush=True)
    hows = ("raw", "centre", "z")
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {c: {} for c in CONDS}
    crit_all: dict[str, list] = {}
    for fi, fold in enumerate(folds):
        inner = usable_inner(rows, y, fold.train, kind="logo")
        probe, lam, _ = fit({"as-is": X["as-is"]}, y, rows, fold.train, ("as-is",), RIDGE_LAMBDAS, inner)
        tr = fold.train
        real_tr = tr[y[tr] == 0]
        in_sample = probe.score(X["as-is"][real_tr])
        # inner criterion per variant: each inner fold's probe, its training reals' statistics, its held-out AUC
        crit = {h: [] for h in hows}
        oof = np.full(len(y), np.nan)
        for itr, ite in inner:
            ip = ridge_path(X["as-is"][itr], y[itr], balanced_weights(rows, itr, POWER), (lam,))[0]  # the outer penalty
            ireal = itr[y[itr] == 0]
            ref = ip.score(X["as-is"][ireal])
            s = ip.score(X["as-is"][ite])
            oof[ite] = s
            for h in hows:
                crit[h].append(metrics.auc(y[ite], normalise(s, cond[ite], ref, cond[ireal], h)))
        crit_all.setdefault("inner", []).append({"fold": fold.name, **{h: float(np.nanmean(v)) for h, v in crit.items()}})
        ok = np.isfinite(oof[real_tr])
        for c in CONDS:
            s = probe.score(X[c][fold.test])
            for h in hows:
                scores[c].setdefault(f"proj {h}", {})[fi] = normalise(s, cond[fold.test], in_sample, cond[real_tr], h)
                if h != "raw":
                    scores[c].setdefault(f"proj {h} (out-of-fold reference)", {})[fi] = normalise(
                        s, cond[fold.test], oof[real_tr][ok], cond[real_tr][ok], h)
        print(f"fold {fold.name}: inner " + ", ".join(f"{h} {np.nanmean(v):.3f}" for h, v in crit.items()), flush=True)
    save_tables(json_path, y, rows, folds, scores, cap=300, n=len(rows), chosen=crit_all,
                with_face={"real": int(cond[y == 0].sum()), "fake": int(cond[y == 1].sum())})


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "face_norm.json")
    evaluate(ap.parse_args().json)
