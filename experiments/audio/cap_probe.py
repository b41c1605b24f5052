"""What more files per family / real source buy the audio heads (a learning curve at the top end).

    .venv/bin/python experiments/audio/cap_probe.py extract --cap 240 --shard 0/2   # and 1/2 beside it
    .venv/bin/python experiments/audio/cap_probe.py eval --caps 60 120 240 10000 --n-boot 50
    (each cap's folds are cached in /tmp/audio_cap_probe/cap<N>.json: run caps in parallel with
    ``eval --caps N``, then all of them again for the table)

Why: the trainer caps every fake family and real source at 120 files, which leaves about 1,000 real
files of the larger real corpora and about 2,300 fakes of the larger families unused; more real
speech from more speakers and rooms is the obvious thing to try before anything cleverer.

Protocol: the previous recipe's heads (ridge on the mean+std of Whisper states 1, 2, 3, alpha by
3 family-grouped inner folds, non-negative stacking on the inner out-of-fold scores;
``nuisance_projection.RidgeFits`` without a projection), trained on the rows ``load_rows(cap)``
draws. ``--test-cap 120`` (the comparison to read): every training cap is tested on the same files,
the folds of the cap-120 draw (``logo_folds`` on it) carried to the union of both draws by
``logo.refold``: the same held-out families, real sources and files at every cap. Without it each
cap is tested on its own draw with its own folds, and those differ in more than size:
``logo_folds`` balances its rotating groups of held-out real sources by file count, so a larger
draw holds out other real sources in most folds (the first run of this script carried the files
but rebuilt the folds from the union's counts: "every file" then read 15.4 % against 16.7 %; on the
cap-120 folds it is 16.7 % too).
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

OUT = Path(__file__).parent / "results"
HEADS = ("l1", "l2", "l3")


def extract(args) -> None:
    import torch

    from detectors.audio.v2_data import load_rows
    from detectors.audio.v2_train import whisper_features

    torch.set_num_threads(1)
    rows = load_rows(cap=args.cap)
    i, n = (int(x) for x in args.shard.split("/"))
    mine = [r["path"] for k, r in enumerate(rows) if k % n == i]
    t = time.monotonic()
    whisper_features(mine, "as-is")
    print(f"{len(mine)} files in {time.monotonic() - t:.0f} s", flush=True)


def logo_at(cap: int, n_boot: int, test_cap: int | None = None) -> dict:
    """The previous recipe's LOGO results at one cap; with ``test_cap``, trained on the rows of cap
    ``cap`` and tested on those of cap ``test_cap`` (the same test files at every training cap)."""
    from nuisance_projection import RidgeFits

    from detectors.audio.v2_data import labels, load_rows
    from detectors.audio.v2_train import LAYER_KEYS, RIDGE_ALPHAS, load_features
    from detectors.evaluation import logo, metrics
    from detectors.training.probe import balanced_weights, family_of, fit_nonnegative_fusion, inner_folds

    rows = load_rows(cap=cap)
    if test_cap is None:
        folds = logo.logo_folds(rows, min_fakes=20)
    else:  # the union of both draws; train on one, test on the other, on the test draw's folds
        test_rows = load_rows(cap=test_cap)
        rows, tr_mask, te_mask = logo.union_draws(rows, test_rows)
        folds = logo.refold(logo.logo_folds(test_rows, min_fakes=20), rows, tr_mask, te_mask)
    y = labels(rows)
    feats = load_features([r["path"] for r in rows], ["whisper"], "as-is")["whisper"]
    keys = [family_of(r) for r in rows]
    names = sorted(set(keys))
    gid = np.array([names.index(k) for k in keys])
    mats = {h: np.concatenate([feats[k] for k in LAYER_KEYS[h]], axis=1) for h in HEADS}
    ok_rows = np.isfinite(np.concatenate(list(mats.values()), axis=1)).all(axis=1)
    score = np.full((len(folds), len(y)), np.nan)
    t0 = time.monotonic()
    for fi, fold in enumerate(folds):
        tr = fold.train[ok_rows[fold.train]]
        splits = inner_folds(rows, tr, 3, fi)
        test, oof = [], []
        for h in HEADS:
            X = mats[h]
            o = np.full((len(y), len(RIDGE_ALPHAS)), np.nan)
            for itr, ite in splits:
                w = np.zeros(len(y))
                w[itr] = balanced_weights(rows, itr, 0.5)
                f = RidgeFits(X, y, gid, w, itr)
                for j, c in enumerate(f.coefs((0, "none"), RIDGE_ALPHAS)):
                    o[ite, j] = f.score(X[ite], c)
            good = np.isfinite(o[tr]).all(axis=1)
            j = int(np.nanargmax([metrics.auc(y[tr][good], o[tr][good, k]) for k in range(len(RIDGE_ALPHAS))]))
            w = np.zeros(len(y))
            w[tr] = balanced_weights(rows, tr, 0.5)
            full = RidgeFits(X, y, gid, w, tr)
            test.append(full.score(X[fold.test], full.coefs((0, "none"), [RIDGE_ALPHAS[j]])[0]))
            oof.append(o[tr, j])
        So, T = np.column_stack(oof), np.column_stack(test)
        good = np.isfinite(So).all(axis=1)
        wf, b = fit_nonnegative_fusion(So[good], y[tr][good])
        score[fi, fold.test] = T @ wf + b
    look = {f.test.tobytes(): score[i, f.test] for i, f in enumerate(folds)}
    res = logo.run_logo(y, folds, lambda tr, te: look[te.tobytes()], n_boot=n_boot)
    print(f"cap {cap}: {len(y)} rows, {len(folds)} folds, {time.monotonic() - t0:.0f} s", flush=True)
    n_tr = np.unique(np.concatenate([f.train for f in folds]))
    return {"cap": cap, "test_cap": test_cap, "rows": len(n_tr), "fakes": int(y[n_tr].sum()),
            "reals": int((y[n_tr] == 0).sum()), "folds": res}


CACHE = Path("/tmp/audio_cap_probe")


def cached_logo_at(cap: int, n_boot: int, test_cap: int | None = None) -> dict:
    path = CACHE / f"cap{cap}_boot{n_boot}{f'_test{test_cap}' if test_cap else ''}.json"
    if path.exists():
        return json.loads(path.read_text())
    r = logo_at(cap, n_boot, test_cap)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r, default=float))
    return r


def evaluate(args) -> None:
    from detectors.evaluation import logo

    out = [cached_logo_at(c, args.n_boot, args.test_cap) for c in args.caps]
    lines = [f"Tested on the rows of cap {args.test_cap} at every training cap." if args.test_cap else
             "Tested on the rows of each cap.", "",
             "| cap per family / real source | training files, any fold (fakes / reals) | mean AUC (worst) | mean EER | worst EER | folds > 30 % |",
             "|---|---|---|---|---|---|"]
    for r in out:
        s = logo.summary_row(r["folds"])
        over = sum(f["eer"] > 0.30 for f in r["folds"])
        lines.append(f"| {r['cap']} | {r['rows']} ({r['fakes']} / {r['reals']}) | {s['auc']:.3f} ({s['min_auc']:.3f}) | "
                     f"{100 * s['eer']:.1f} % | {100 * s['max_eer']:.1f} % | {over} of {s['n_folds']} |")
    per = ["", "| held-out family | " + " | ".join(f"cap {r['cap']}" for r in out) + " |", "|---" * (len(out) + 1) + "|"]
    eer = [{f["fold"]: f["eer"] for f in r["folds"]} for r in out]
    for f in out[0]["folds"]:
        per.append(f"| {f['fold']} | " + " | ".join(f"{100 * e[f['fold']]:.1f} %" if f["fold"] in e else "–" for e in eer) + " |")
    text = "\n".join(lines + per)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    tag = f"_test{args.test_cap}" if args.test_cap else ""
    (OUT / f"cap_probe{tag}.md").write_text(text + "\n")
    (OUT / f"cap_probe{tag}.json").write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("extract", "eval"))
    ap.add_argument("--cap", type=int, default=240)
    ap.add_argument("--caps", type=int, nargs="+", default=[60, 120, 240])
    ap.add_argument("--test-cap", type=int, default=None, help="test on the rows of this cap at every training cap")
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--n-boot", type=int, default=50)
    a = ap.parse_args()
    extract(a) if a.what == "extract" else evaluate(a)
