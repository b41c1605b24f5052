"""Audio v2 head variants on cached Whisper features, chosen by nested validation (second pass).

    .venv/bin/python experiments/audio/nested_variants.py run      # fits, writes /tmp/audio_nested_scores.npz
    .venv/bin/python experiments/audio/nested_variants.py table    # tables from the saved scores

Outer loop: the core's leave-one-family-out folds (``logo_folds``, min_fakes 20) over the capped
rows (120 per family / real source). Inside each outer fold only its training rows are used:
every head's ridge alpha is chosen on 3 family-grouped inner folds of those rows (as in the
shipped recipe), the fusion weights of a variant are fitted on the heads' inner out-of-fold
scores, and the variant's *inner criterion* is the mean over inner held-out fake families (>= 5
files) of the EER of that family against the inner fold's held-out reals: the same statistic as
the outer table, computed on training families only. The selection rule: per outer fold, the
variant with the lowest inner criterion (ties: the earlier, simpler one in ``VARIANTS``). The
outer LOGO of that whole procedure is reported as ``selected``; every variant's outer LOGO is
reported beside it, for information only (choosing among those rows would be choosing on test).

Heads (all ridge on standardised features, family-balanced weights unless said otherwise):
per-layer mean+std of states 0-3 (p = 0.5: a family's weight grows as sqrt(n); also p = 0,
class balance only, and p = 1, every family equal); means of states 1-3 concatenated;
temporal dynamics of state 2 (std and max over its 16 time-chunk means); a chunk-level head
trained on the 16 time-chunk means of state 2 (each chunk a training row) whose file score is
the mean, the top-4 mean or the max of its chunk scores (vocoder artefacts can be local);
and a logistic head on state 2 for logistic vs ridge.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from detectors.audio.v2_data import labels, load_rows
from detectors.audio.v2_train import LAYER_KEYS, RIDGE_ALPHAS, GroupMoments, fit_ridge, load_features
from detectors.evaluation import logo, metrics
from detectors.training.probe import (
    LinearProbe,
    balanced_weights,
    family_of,
    fit_nonnegative_fusion,
    inner_folds,
)

OUT = Path(__file__).parent / "results"
CHUNKS = 16
CHUNK_ALPHAS = tuple(a * CHUNKS for a in RIDGE_ALPHAS)  # 16 rows per file: the same regularisation per file
log = logging.getLogger("nested")

# name -> heads fused (non-negative stacking when more than one)
VARIANTS: dict[str, list[str]] = {
    "default l1-3": ["L1", "L2", "L3"],
    "l2 only": ["L2"],
    "l3 only": ["L3"],
    "l0-3": ["L0", "L1", "L2", "L3"],
    "l1-3 class-balanced only (p=0)": ["L1p0", "L2p0", "L3p0"],
    "l1-3 family-equal (p=1)": ["L1p1", "L2p1", "L3p1"],
    "concat means l1-3": ["CATm"],
    "l1-3 + l2 dynamics": ["L1", "L2", "L3", "D2"],
    "l1-3 + l2 chunks mean": ["L1", "L2", "L3", "C2mean"],
    "l1-3 + l2 chunks top-4": ["L1", "L2", "L3", "C2top4"],
    "l1-3 + l2 chunks max": ["L1", "L2", "L3", "C2max"],
    "l1-3 + dynamics + chunks top-4": ["L1", "L2", "L3", "D2", "C2top4"],
    "l1-3 with logistic l2": ["L1", "LOG2", "L3"],
}


def matrices(feats: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, float]]:
    """File-level heads: name -> (matrix, weight power)."""
    m = {}
    for i in range(4):
        X = np.concatenate([feats[k] for k in LAYER_KEYS[f"l{i}"]], axis=1)
        m[f"L{i}"] = (X, 0.5)
        if i >= 1:
            m[f"L{i}p0"] = (X, 0.0)
            m[f"L{i}p1"] = (X, 1.0)
    m["CATm"] = (np.concatenate([feats[f"l{i}_mean"] for i in (1, 2, 3)], axis=1), 0.5)
    seq = feats["l2_seq"].reshape(len(feats["l2_seq"]), CHUNKS, -1)
    m["D2"] = (np.concatenate([seq.std(axis=1), seq.max(axis=1) - seq.mean(axis=1)], axis=1), 0.5)
    return m


def pool_chunks(s: np.ndarray, how: str) -> np.ndarray:
    """(n*16,) chunk scores -> (n,) file scores."""
    s = s.reshape(-1, CHUNKS)
    if how == "mean":
        return s.mean(axis=1)
    if how == "max":
        return s.max(axis=1)
    return np.sort(s, axis=1)[:, -4:].mean(axis=1)


def inner_criterion(o: np.ndarray, y: np.ndarray, rows: list[dict], splits: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean EER of each inner held-out fake family (>= 5 files) against that inner fold's reals."""
    eers = []
    for _, te in splits:
        te = te[np.isfinite(o[te])]
        reals = te[y[te] == 0]
        if len(reals) < 5:
            continue
        fams: dict[str, list[int]] = {}
        for i in te[y[te] == 1]:
            fams.setdefault(family_of(rows[i]), []).append(i)
        for idx in fams.values():
            if len(idx) >= 5:
                sel = np.concatenate([reals, idx])
                eers.append(metrics.eer(y[sel], o[sel])[0])
    return float(np.mean(eers)) if eers else np.nan


def logistic_head(X, y, rows, idx, splits, C: float = 0.01):
    """The core's logistic probe (C fixed at 0.01, the previous session's probe value) with inner OOF."""
    oof = np.full(len(y), np.nan)
    for tr, te in splits:
        oof[te] = LinearProbe(C).fit(X[tr], y[tr], balanced_weights(rows, tr)).score(X[te])
    return LinearProbe(C).fit(X[idx], y[idx], balanced_weights(rows, idx)), oof[idx]


def run(args) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    rows = load_rows()
    y = labels(rows)
    feats = load_features([r["path"] for r in rows], ["whisper"], "as-is")["whisper"]
    folds = logo.logo_folds(rows, min_fakes=20)[: args.max_folds]
    if args.what == "final":  # the selection rule on every row: which variant the shipped model uses
        folds = [logo.Fold("all rows", (), np.arange(len(y)), np.zeros(0, dtype=int), ())]
    mats = matrices(feats)
    need = {h for v in VARIANTS.values() for h in v}
    heads = sorted(need)
    n = len(y)
    test_scores = {h: np.full((len(folds), n), np.nan) for h in heads}
    inner_oof = {h: np.full((len(folds), n), np.nan) for h in heads}
    splits = [inner_folds(rows, f.train, 3, fi) for fi, f in enumerate(folds)]  # the inner folds fit_ridge uses
    t0 = time.monotonic()
    for h in heads:  # one head at a time: its per-group moments are groups x d^2
        if h.startswith("C2") or h == "LOG2":
            continue
        X, power = mats[h]
        mom = GroupMoments(X, y, rows, power=power)
        for fi, fold in enumerate(folds):
            probe, _, o = fit_ridge(X, y, rows, fold.train, None, seed=fi, moments=mom)
            test_scores[h][fi, fold.test] = probe.score(X[fold.test])
            inner_oof[h][fi, fold.train] = o
        del mom
        log.info("head %s: %.0f s", h, time.monotonic() - t0)
    if "LOG2" in heads:
        X2 = mats["L2"][0]
        for fi, fold in enumerate(folds):
            probe, o = logistic_head(X2, y, rows, fold.train, splits[fi])
            test_scores["LOG2"][fi, fold.test] = probe.score(X2[fold.test])
            inner_oof["LOG2"][fi, fold.train] = o
        log.info("head LOG2: %.0f s", time.monotonic() - t0)
    if any(h.startswith("C2") for h in heads):
        seq = feats["l2_seq"].reshape(-1, feats["l2_seq"].shape[1] // CHUNKS)
        crow = [r for r in rows for _ in range(CHUNKS)]
        cy = np.repeat(y, CHUNKS)
        cmom = GroupMoments(seq, cy, crow)

        def ex(i: np.ndarray) -> np.ndarray:
            return (i[:, None] * CHUNKS + np.arange(CHUNKS)).ravel()

        for fi, fold in enumerate(folds):
            tr = fold.train
            paths = [(ex(ite), [p.score(seq[ex(ite)]) for p in cmom.fit(ex(itr), CHUNK_ALPHAS)]) for itr, ite in splits[fi]]
            aucs = []
            for j in range(len(CHUNK_ALPHAS)):  # alpha by the inner AUC of the mean-pooled file score
                o = np.full(len(cy), np.nan)
                for ce, ss in paths:
                    o[ce] = ss[j]
                aucs.append(metrics.auc(y[tr], pool_chunks(o[ex(tr)], "mean")))
            j = int(np.nanargmax(aucs))
            coof = np.full(len(cy), np.nan)
            for ce, ss in paths:
                coof[ce] = ss[j]
            ct = cmom.fit(ex(tr), [CHUNK_ALPHAS[j]])[0].score(seq[ex(fold.test)])
            for how in ("mean", "top4", "max"):
                if f"C2{how}" in heads:
                    test_scores[f"C2{how}"][fi, fold.test] = pool_chunks(ct, how)
                    inner_oof[f"C2{how}"][fi, tr] = pool_chunks(coof[ex(tr)], how)
        log.info("chunk heads: %.0f s", time.monotonic() - t0)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.scores, y=y, heads=np.array(heads),
                        **{f"test__{h}": v for h, v in test_scores.items()},
                        **{f"oof__{h}": v for h, v in inner_oof.items()})


def fuse_and_select(y: np.ndarray, rows: list[dict], folds: list, variants: dict[str, list[str]],
                    test, oof) -> tuple[dict, dict, dict, list[str], np.ndarray]:
    """Per outer fold: each variant's heads fused on their inner out-of-fold scores (non-negative
    stacking; one head as is), its inner criterion, and the variant with the lowest one.

    ``test(variant, head, fold_index)``: the head's scores of the fold's held-out rows;
    ``oof(variant, head, fold_index)``: its inner out-of-fold scores of the fold's training rows.
    Returns (held-out scores per variant, inner criterion per variant, fusion weights per variant,
    the variant chosen per fold, the chosen variant's held-out scores)."""
    names = list(variants)
    crit = {v: np.full(len(folds), np.nan) for v in names}
    vscore = {v: np.full((len(folds), len(y)), np.nan) for v in names}
    weights: dict[str, list] = {v: [] for v in names}
    for fi, fold in enumerate(folds):
        tr = fold.train
        splits = inner_folds(rows, tr, 3, fi)
        for v, hs in variants.items():
            So = np.column_stack([oof(v, h, fi) for h in hs])
            T = np.column_stack([test(v, h, fi) for h in hs])
            ok = np.isfinite(So).all(axis=1)
            if len(hs) > 1:
                w, b = fit_nonnegative_fusion(So[ok], y[tr][ok])
            else:
                w, b = np.ones(1), 0.0
            weights[v].append(w.tolist())
            fo = np.full(len(y), np.nan)
            fo[tr] = So @ w + b
            crit[v][fi] = inner_criterion(fo, y, rows, splits)
            vscore[v][fi, fold.test] = T @ w + b
    C = np.column_stack([crit[v] for v in names])
    chosen = [names[int(np.nanargmin(c))] for c in C]
    sel = np.full((len(folds), len(y)), np.nan)
    for fi, fold in enumerate(folds):
        sel[fi, fold.test] = vscore[chosen[fi]][fi, fold.test]
    return vscore, crit, weights, chosen, sel


def outer_results(y: np.ndarray, folds: list, S: np.ndarray, n_boot: int) -> list[dict]:
    """The outer LOGO rows of per-fold held-out scores ``S`` (folds x rows)."""
    look = {f.test.tobytes(): S[i, f.test] for i, f in enumerate(folds)}
    return logo.run_logo(y, folds, lambda tr, te: look[te.tobytes()], n_boot=n_boot)


def variant_lines(results: dict, crit: dict, chosen: list[str]) -> list[str]:
    """The markdown table of the variants (inner criterion, times chosen, outer LOGO summary)."""
    from collections import Counter

    counts = Counter(chosen)
    lines = ["| variant | mean inner criterion | times chosen | outer mean AUC (worst) | outer mean EER | worst EER | folds > 30 % |",
             "|---|---|---|---|---|---|---|"]
    for v, rs in results.items():
        s = logo.summary_row(rs)
        over = sum(r["eer"] > 0.30 for r in rs)
        ci = f"{100 * np.nanmean(crit[v]):.1f} %" if v in crit else "–"
        lines.append(f"| {v} | {ci} | {counts.get(v, 0) if v in crit else '–'} | {s['auc']:.3f} ({s['min_auc']:.3f}) | "
                     f"{100 * s['eer']:.1f} % | {100 * s['max_eer']:.1f} % | {over} of {s['n_folds']} |")
    return lines


def write_report(stem: str, header: list[str], results: dict, crit: dict, chosen: list[str], n_rows: int,
                 folds: list, **extra) -> str:
    """Print and save (``results/<stem>.md`` and ``.json``) a variant comparison: the header lines, the
    variants' table (``variant_lines``) and the per-family EER of each variant."""
    names = [v for v in results if v in crit]
    per = ["", "| held-out family | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for k, f in enumerate(folds):
        per.append(f"| {f.name} | " + " | ".join(f"{100 * results[v][k]['eer']:.1f} %" for v in names) + " |")
    text = "\n".join([*header, "", *variant_lines(results, crit, chosen), *per])
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{stem}.md").write_text(text + "\n")
    (OUT / f"{stem}.json").write_text(json.dumps(
        {"rows": n_rows, "folds": len(folds), "variants": names, "chosen": chosen, **extra,
         "inner_criterion": {v: crit[v].tolist() for v in names}, "results": results}, indent=1, default=float))
    return text


def scores_beside_ridge(directory: Path, tag: str) -> dict[str, np.ndarray]:
    """Every ``*shard*.npz`` an experiment saved in ``directory``, plus the ridge baseline's scores
    (``saved_ridge_scores(tag)``): what its tables fuse and compare."""
    z: dict[str, np.ndarray] = {}
    for p in sorted(Path(directory).glob("*shard*.npz")):
        z.update(dict(np.load(p)))
    z.update(saved_ridge_scores(tag))
    return z


def card_rows() -> tuple[list[dict], np.ndarray, list]:
    """The model card's capped audio rows, their labels and its leave-one-family-out folds."""
    rows = load_rows()
    return rows, labels(rows), logo.logo_folds(rows, min_fakes=20)


def shard_part(shard: str, n_items: int) -> tuple[int, list[int]]:
    """Shard ``"i/n"``: its number and the items it takes (every n-th from i), so that n processes
    share the work."""
    i, n = (int(x) for x in shard.split("/"))
    return i, list(range(i, n_items, n))


def saved_head(z: dict[str, np.ndarray], kind: str):
    """``fuse_and_select``'s ``test`` or ``oof`` getter over saved scores keyed
    ``{kind}__{view}__{head}__{fold}`` (variants name their heads ``view:head``)."""
    return lambda variant, head, fi: z[f"{kind}__{head.replace(':', '__')}__{fi}"]


def saved_ridge_scores(tag: str, directory: Path = Path("/tmp/audio_nap_scores")) -> dict[str, np.ndarray]:
    """The previous recipe's ridge heads on states 1-3 as ``nuisance_projection.py run`` saved them (its
    "no projection" variant), keyed ``{test|oof}__{tag}__{l1|l2|l3}__{fold}`` for other experiments' fusions."""
    z = {}
    for p in sorted(directory.glob("shard*.npz")):
        for k, v in np.load(p).items():
            kind, h, variant, fi = k.split("__")
            if variant == "no projection":
                z[f"{kind}__{tag}__{h}__{fi}"] = v
    return z


def table(args) -> None:
    rows = load_rows()
    y = labels(rows)
    folds = logo.logo_folds(rows, min_fakes=20)
    z = np.load(args.scores)
    folds = folds[: z[f"test__{z['heads'][0]}"].shape[0]]
    heads = list(z["heads"])
    test = {h: z[f"test__{h}"] for h in heads}
    oof = {h: z[f"oof__{h}"] for h in heads}
    vscore, crit, weights, chosen, sel = fuse_and_select(
        y, rows, folds, VARIANTS, lambda v, h, fi: test[h][fi, folds[fi].test], lambda v, h, fi: oof[h][fi, folds[fi].train])
    names = list(VARIANTS)
    results = {v: outer_results(y, folds, vscore[v], args.n_boot) for v in names}
    results["selected (nested)"] = outer_results(y, folds, sel, args.n_boot)
    lines = [f"{len(y)} files, {len(folds)} folds. Selection rule: per outer fold, the variant with the lowest inner "
             "criterion (mean EER of inner held-out families, 3 family-grouped inner folds of the fold's training rows).",
             "", *variant_lines(results, crit, chosen)]
    text = "\n".join(lines)
    print(text)
    (OUT / f"nested_variants{args.tag}.md").write_text(text + "\n")
    (OUT / f"nested_variants{args.tag}.json").write_text(json.dumps(
        {"rows": len(y), "folds": len(folds), "variants": VARIANTS, "chosen": chosen,
         "inner_criterion": {v: crit[v].tolist() for v in names}, "weights": weights, "results": results},
        indent=1, default=float))


def select_final(args) -> None:
    """The selection rule applied to all rows (inner folds over every family): the shipped variant."""
    rows = load_rows()
    y = labels(rows)
    z = np.load(args.scores)
    tr = np.arange(len(y))
    splits = inner_folds(rows, tr, 3, 0)
    crit = {}
    for v, hs in VARIANTS.items():
        So = np.column_stack([z[f"oof__{h}"][0] for h in hs])
        ok = np.isfinite(So).all(axis=1)
        w, b = fit_nonnegative_fusion(So[ok], y[ok]) if len(hs) > 1 else (np.ones(1), 0.0)
        crit[v] = inner_criterion(So @ w + b, y, rows, splits)
    best = min(crit, key=lambda v: (crit[v], list(VARIANTS).index(v)))
    text = "\n".join([f"- {v}: {100 * c:.1f} %" for v, c in crit.items()] + [f"chosen for the shipped model: {best}"])
    print(text)
    (OUT / "nested_variants_final.md").write_text("Inner criterion on all rows (3 family-grouped folds of every row):\n\n" + text + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["run", "table", "final"])
    ap.add_argument("--scores", type=Path, default=Path("/tmp/audio_nested_scores.npz"))  # large: not committed
    ap.add_argument("--max-folds", type=int, default=None, help="a quick check on the first folds")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    if args.what == "final":
        args.scores = Path("/tmp/audio_nested_final.npz")
        run(args)
        select_final(args)
    else:
        run(args) if args.what == "run" else table(args)


if __name__ == "__main__":
    main()
