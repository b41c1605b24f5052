"""Leave-one-family-out probes of image v2 heads on features already in the cache (no extraction):
which streams, views and training view transfer to unseen generator families.

    .venv/bin/python experiments/image/probe_logo.py --heads clip-whole-pen,clip-whole-proj --train-view as-is

Rows whose features are missing for any requested (stream, view) are left out (and counted).
Prints mean / min AUC over folds per head and fused, as-is and JPEG q90, beside metadata only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from detectors.evaluation import logo
from detectors.features.cache import FeatureCache, derived_key, file_key
from detectors.image.v2_data import default_manifest, load_rows, metadata_features
from detectors.image.v2_logo import HeadData, fold_rows, logo_scores
from detectors.image.v2_model import HEADS, fixed_head_score, head_matrix
from detectors.image.v2_train import STREAM_OPTIONS, make_stream


def cached(short: str, paths: list[str], view: str, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    stream = make_stream(short)
    cache = FeatureCache(read_only=True)
    got = []
    for p in paths:
        key = derived_key(file_key(p), view, seed if view != "as-is" else 0)
        got.append(cache.get(stream.name, stream.version, key))
    ok = np.array([g is not None for g in got])
    first = next(g for g in got if g is not None)
    out = {k: np.full((len(paths), np.asarray(v).size), np.nan, np.float32) for k, v in first.items()}
    for i, g in enumerate(got):
        if g is not None and set(g) == set(out):
            for k, v in g.items():
                out[k][i] = np.asarray(v).reshape(-1)
        else:
            ok[i] = False
    return out, ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--heads", required=True)
    ap.add_argument("--train-view", default="as-is")
    ap.add_argument("--cap", type=int, default=30)
    ap.add_argument("--manifest", type=Path, default=None)
    ap.add_argument("--conditions", default="as-is,jpeg90")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.time()
    heads = args.heads.split(",")
    conds = args.conditions.split(",")
    rows = load_rows(args.manifest or default_manifest(), cap=args.cap)
    paths = [r["path"] for r in rows]
    streams = sorted({HEADS[h].stream for h in heads})
    views = sorted({args.train_view, *conds})
    feats, ok = {}, np.ones(len(rows), bool)
    for s in streams:
        for v in views:
            feats[(s, v)], o = cached(s, paths, v)
            ok &= o
    keep = np.flatnonzero(ok)
    rows = [rows[i] for i in keep]
    y = np.array([1 if r["label"] == "fake" else 0 for r in rows])
    print(f"{len(rows)} rows with every feature ({int(y.sum())} fake) of {len(paths)}; streams {streams} {STREAM_OPTIONS}")
    data = {}
    for h in heads:
        spec = HEADS[h]
        sub = {v: {k: m[keep] for k, m in feats[(spec.stream, v)].items()} for v in views}
        tr = head_matrix(spec, sub[args.train_view])
        te = {c: head_matrix(spec, sub[c]) for c in conds}
        if spec.fixed:
            tr, te = fixed_head_score(h, tr)[:, None], {c: fixed_head_score(h, x)[:, None] for c, x in te.items()}
        data[h] = HeadData(tr, te, spec.fixed)
    folds = logo.logo_folds(rows)
    res = logo_scores(data, y, rows, len(rows), folds, log=lambda m: None)
    meta = {"as-is": np.stack([metadata_features(r["path"]) for r in rows]),
            "jpeg90": np.stack([metadata_features(r["path"], 90) for r in rows])}
    rm = logo_scores({"metadata": HeadData(meta["as-is"], {c: meta[c] for c in conds})}, y, rows, len(rows), folds,
                     log=lambda m: None)
    out = {}
    print(f"folds: {[f.name for f in folds]}")
    for c in conds:
        for h, sc in [*res.scores[c].items(), ("metadata", rm.scores[c]["metadata"])]:
            if not sc:
                continue
            t = fold_rows(y, folds, sc, n_boot=50)
            s = logo.summary_row(t)
            out[f"{c}/{h}"] = {"mean": s["auc"], "min": s["min_auc"], "per_fold": {r["fold"]: round(r["auc"], 3) for r in t}}
            print(f"{c:7s} {h:22s} mean AUC {s['auc']:.3f} min {s['min_auc']:.3f}  "
                  + " ".join(f"{r['fold']}={r['auc']:.2f}" for r in t))
    print(f"C per fold: {res.chosen_C}; fusion weights: {res.fusion_weights[:2]}; {time.time() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
