"""Twice the files per family / source, tested on the same files: the cap-600 comparison redone.

    .venv/bin/python experiments/image/cap_refold.py --json experiments/image/results/cap_refold.json

Why: the card's "cap 600" row (``deepfake-train image --cap 600``) was measured on LOGO folds built
from the cap-600 draw, and ``logo_folds`` balances its rotating groups of held-out real sources by
file count, so that row also held out other real sources (the audio learning curve showed how much
that alone moves a mean: ``experiments/audio/cap_probe.py``). Here the folds of the cap-300 draw are
carried to the union of both draws (``logo.refold``): every training cap is tested on the cap-300
draw's held-out files of the same families and real sources.

Protocol: the shipped head (whole-image ``proj`` at short side 128, std / w1 ridge probe, penalty by
inner leave-one-family-out folds of the training rows), trained on the cap-300 or the cap-600 draw;
features from the cache (``extract_whole.py --cap 600 --whole-short 128`` first).
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


def main(json_path: Path) -> None:
    from content_balance import POWER
    from probe_scale import CONDS, cached_whole, save_tables
    from train_views import fit

    from detectors.evaluation import logo
    from detectors.image.v2_data import default_manifest, load_rows
    from detectors.image.v2_logo import RIDGE_LAMBDAS, usable_inner
    from detectors.image.v2_model import HEADS, head_matrix

    small, big = load_rows(default_manifest(), cap=300), load_rows(default_manifest(), cap=600)
    rows, m_big, m_small = logo.union_draws(big, small)
    f, ok = cached_whole([r["path"] for r in rows], whole_short=128)
    if not ok.all():
        raise SystemExit(f"{int((~ok).sum())} files lack short-128 features (extract_whole.py --cap 600 --whole-short 128)")
    y = np.array([1 if r["label"] == "fake" else 0 for r in rows])
    X = {c: head_matrix(HEADS["clip-whole-proj"], f[c]) for c in CONDS}
    base = logo.logo_folds([r for r, m in zip(rows, m_small, strict=True) if m])
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {c: {} for c in CONDS}
    for name, train_mask in (("trained on cap 300", m_small), ("trained on cap 600", m_big)):
        folds = logo.refold(base, rows, train_mask, m_small)
        for fi, fold in enumerate(folds):
            inner = usable_inner(rows, y, fold.train, kind="logo")
            probe, _, _ = fit({"as-is": X["as-is"]}, y, rows, fold.train, ("as-is",), RIDGE_LAMBDAS, inner)
            for c in CONDS:
                scores[c].setdefault(name, {})[fi] = probe.score(X[c][fold.test])
            print(f"{name}: fold {fold.name} ({len(fold.train)} training rows, {len(fold.test)} held out)", flush=True)
    test_folds = logo.refold(base, rows, m_small, m_small)
    save_tables(json_path, y, rows, test_folds, scores, n=int(m_small.sum()), n_cap600=int(m_big.sum()), power=POWER)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "cap_refold.json")
    main(ap.parse_args().json)
