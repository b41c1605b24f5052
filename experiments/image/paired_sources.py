"""Does weighting the sources that hold both reals and fakes teach the probe generation instead of content?

    .venv/bin/python experiments/image/paired_sources.py --json experiments/image/results/paired_sources.json

Why: within one repository the reals and fakes share the pipeline, the content and the container
(a face dataset's real photos beside its GAN faces), so the only systematic difference is the
generation. The held-out scores show the shipped head inverting exactly there (a Real-vs-Fake-Face
fake averages below its own reals). Nine repositories of the corpus hold both labels.

Protocol: the shipped head's features (whole-image ``proj`` at short side 128), the card's 7 folds,
cap 300, std / w1 ridge probe with the penalty chosen by inner leave-one-family-out folds; a row
of a paired repository weighs ``k`` times its group-balanced weight (k = 1 is the shipped probe),
or the probe sees the paired repositories only; every held-out family's paired sources leave
training with it (the folds never split a family or real source). The inner criterion (mean inner
AUC) is reported per variant, so a trainer could choose ``k`` without the outer folds.
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

KS = (1.0, 3.0, 10.0)


def paired_repos(rows: list[dict]) -> set[str]:
    labels: dict[str, set[str]] = {}
    for r in rows:
        labels.setdefault(r.get("source_repo", ""), set()).add(r["label"])
    return {repo for repo, ls in labels.items() if ls == {"real", "fake"}}


def fit_weighted(X, y, rows, idx, mult, lams, inner):
    """Ridge path with group-balanced weights times ``mult`` per row; penalty by inner mean AUC."""
    from detectors.evaluation import metrics
    from detectors.training.probe import balanced_weights, ridge_path

    def w(i):
        return balanced_weights(rows, i, 1.0) * mult[i]

    per = {lam: [] for lam in lams}
    for tr, te in inner:
        keep = tr[mult[tr] > 0]
        if len(np.unique(y[keep])) < 2:
            continue
        for lam, p in zip(lams, ridge_path(X[keep], y[keep], w(keep), lams), strict=True):
            per[lam].append(metrics.auc(y[te], p.score(X[te])))
    lam = max(lams, key=lambda v: (np.nanmean(per[v]) if per[v] else -1, v))
    keep = idx[mult[idx] > 0]
    crit = float(np.nanmean(per[lam])) if per[lam] else float("nan")
    return ridge_path(X[keep], y[keep], w(keep), (lam,))[0], crit


def evaluate(json_path: Path) -> None:
    from probe_scale import CONDS, cached_rows, cached_whole, save_tables

    from detectors.image.v2_logo import RIDGE_LAMBDAS, usable_inner
    from detectors.image.v2_model import HEADS, head_matrix

    rows, _, y, _, folds = cached_rows(300)
    f, _ = cached_whole([r["path"] for r in rows], whole_short=128)
    X = {c: head_matrix(HEADS["clip-whole-proj"], f[c]) for c in CONDS}
    paired = paired_repos(rows)
    is_p = np.array([r.get("source_repo", "") in paired for r in rows])
    print(f"paired repositories: {len(paired)} ({int(is_p.sum())} rows)", flush=True)
    variants = {f"paired x{k:g}": np.where(is_p, k, 1.0) for k in KS}
    variants["paired only"] = is_p.astype(float)
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {c: {} for c in CONDS}
    crit: dict[str, list] = {}
    for fi, fold in enumerate(folds):
        inner = usable_inner(rows, y, fold.train, kind="logo")
        line = []
        for name, mult in variants.items():
            probe, c = fit_weighted(X["as-is"], y, rows, fold.train, mult, RIDGE_LAMBDAS, inner)
            crit.setdefault(name, []).append(c)
            line.append(f"{name} {c:.3f}")
            for cond in CONDS:
                scores[cond].setdefault(f"proj {name}", {})[fi] = probe.score(X[cond][fold.test])
        print(f"fold {fold.name}: inner " + ", ".join(line), flush=True)
    save_tables(json_path, y, rows, folds, scores, cap=300, n=len(rows), paired=sorted(paired), inner_criterion=crit)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "paired_sources.json")
    evaluate(ap.parse_args().json)
