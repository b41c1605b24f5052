"""Every held-out family against every held-out group of real sources: is it the fakes or the reals?

    .venv/bin/python experiments/image/real_groups.py --json experiments/image/results/real_groups.json

Why: the card's folds pair each held-out family with one of five groups of real sources (rotating,
``logo.logo_folds``). sd1 reads 0.976 and sd2-sdxl-sd3 0.401 with the same probe, so a fold's AUC
may say as much about the real group it happened to draw as about the family. Here each of the 7
families is tested against each of the 5 groups (35 fits): the probe trains without the family's
fakes, without the group's reals and without the reals of the family's own repositories, and is
tested on the family's fakes against the group's reals. Row means say how hard a family is
whatever the reals; column means say how fake each group of real photos looks to a probe that
never saw it; per real source, the mean AUC over the families of the cells that held it out.

Probe: the shipped head (whole-image ``proj`` at short side 128, std / w1 ridge, penalty by inner
leave-one-family-out folds of the training rows: ``face_expert.fit_expert``), trained as-is,
tested as-is and re-encoded JPEG q90. The diagonal cells (family i, group i mod 5) are the card's
folds (the card's fold also tests the reals of the family's own repositories).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402


def cell_split(y: np.ndarray, src: np.ndarray, fam: np.ndarray, fold, sources: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Train and test rows of one cell: the fold's families' fakes against one group's reals (less
    the reals of the families' own repositories); training has neither, nor those own reals."""
    fakes = (y == 1) & np.isin(fam, fold.families)
    own_reals = (y == 0) & np.isin(src, sorted(set(src[fakes])))
    reals = (y == 0) & np.isin(src, sources) & ~own_reals
    return np.flatnonzero(~(fakes | reals | own_reals)), np.flatnonzero(fakes | reals)


def evaluate(json_path: Path) -> None:
    from content_balance import POWER
    from face_expert import fit_expert
    from probe_scale import CONDS, shipped_head_features

    from detectors.evaluation import logo, metrics
    from detectors.image.v2_logo import RIDGE_LAMBDAS

    rows, y, folds, X = shipped_head_features(300)
    groups = logo.real_source_groups(rows, 5, 0)
    src = np.array([logo._source(r) for r in rows])
    fam = np.array([logo._family(r) if y[i] else "" for i, r in enumerate(rows)])
    auc = {c: np.full((len(folds), len(groups)), np.nan) for c in CONDS}
    per_source: dict[str, dict[str, list[float]]] = {c: defaultdict(list) for c in CONDS}
    for fi, fold in enumerate(folds):
        for g, sources in enumerate(groups):
            train, test = cell_split(y, src, fam, fold, sources)
            probe = fit_expert(X["as-is"], y, rows, train, RIDGE_LAMBDAS, POWER)[0]
            for c in CONDS:
                s = probe.score(X[c][test])
                auc[c][fi, g] = metrics.auc(y[test], s)
                for name in sources:
                    one = (src[test] == name) & (y[test] == 0)
                    if one.sum() >= 20:
                        keep = one | (y[test] == 1)
                        per_source[c][name].append(metrics.auc(y[test][keep], s[keep]))
            print(f"{fold.name} vs group {g}: as-is {auc['as-is'][fi, g]:.3f}, jpeg90 {auc['jpeg90'][fi, g]:.3f}", flush=True)
    out = {"folds": [f.name for f in folds], "groups": groups,
           "auc": {c: a.tolist() for c, a in auc.items()},
           "per_source": {c: {k: float(np.mean(v)) for k, v in d.items()} for c, d in per_source.items()},
           "source_files": {name: int(((y == 0) & (src == name)).sum()) for g in groups for name in g}}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(out, indent=1) + "\n")
    from detectors.image.v2_card import real_groups_section

    print("\n" + "\n".join(real_groups_section(json_path)))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "real_groups.json")
    evaluate(ap.parse_args().json)
