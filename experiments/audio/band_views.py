"""Whisper heads on band views of the speech: the 4-8 kHz band alone, the spectrum turned over, half speed.

    .venv/bin/python experiments/audio/band_views.py extract --view flip --shard 0/2   # and 1/2 beside it
    .venv/bin/python experiments/audio/band_views.py extract --view hp4k --shard 0/2   # and 1/2
    .venv/bin/python experiments/audio/band_views.py extract --view slow2 --shard 0/2  # and 1/2
    .venv/bin/python experiments/audio/band_views.py fit --views flip,hp4k,slow2 --shard 0/2  # and 1/2
    .venv/bin/python experiments/audio/band_views.py fit --logistic --views as-is,flip --shard 0/2  # and 1/2
    .venv/bin/python experiments/audio/band_views.py table --n-boot 50
    .venv/bin/python experiments/audio/band_views.py late    # score-level mean / max over the views

Why: the families the shipped heads leave above 30 % EER are mostly neural vocoders (UnivNet,
Parallel WaveGAN, WaveGlow, BigVGAN, HiFi-GAN) and zero-shot TTS that end in one; sub-band studies
of spoofing countermeasures find much of a vocoder's trace above 4 kHz, where Whisper's log-mel
front end has its coarsest bands (about 25 of its 80 mel bands cover 4-8 kHz, 30 cover 0-1 kHz).
Three views give the frozen encoder that band in another form (``band_view``), each a 16 kHz WAV
made from the file's 16 kHz decode (``register_view``, so the feature cache keys them like any view):

- ``hp4k``: the 4-8 kHz band alone (8th-order Butterworth high-pass, zero phase);
- ``flip``: the whole spectrum turned over (every other sample negated: f -> 8 kHz - f), so the
  top band lands where the mel scale is finest and the speech band where it is coarse;
- ``slow2``: the samples played at half speed (upsampled by 2, read at 16 kHz): every frequency
  halves, so 0-8 kHz spans the encoder's finer 0-4 kHz bands, and each 10 ms frame covers 5 ms
  (the first 15 s of the file fill the 30 s window; twice the encoder's cost).

Protocol: the card's 62 leave-one-family-out folds (cap 120, as-is rows); ridge heads on the
mean+std of Whisper states 1-3 of the view (alpha and fusion as ``nuisance_projection.py``: the
same inner folds and weights), alone and fused with the as-is ridge heads, which are read from
``nuisance_projection.py``'s saved scores (its "no projection" variant, 16.7 %), so run that first.
``--logistic`` adds the shipped recipe's state-2 head (L2 logistic, C = 0.01) as-is and on a view,
for the "shipped recipe + view" rows (ridge 1, logistic 2, ridge 3 as-is: 16.6 %, the card's figure).
Extraction: about 13 minutes per view on 2 cores (``slow2`` 21), fits 2-6 minutes per view.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from nested_variants import card_rows, shard_part  # noqa: E402

SCORES = Path("/tmp/audio_band_views")
HEADS = ("l1", "l2", "l3")
BAND_VIEWS = ("hp4k", "flip", "slow2")


def band_view(x: np.ndarray, view: str) -> np.ndarray:
    """The view's 16 kHz samples from 16 kHz samples ``x``."""
    if view == "flip":
        y = np.array(x, dtype=np.float32, copy=True)
        y[1::2] *= -1.0
        return y
    if view == "hp4k":
        from scipy.signal import butter, sosfiltfilt

        sos = butter(8, 4000, btype="highpass", fs=16000, output="sos")
        return sosfiltfilt(sos, np.asarray(x, dtype=np.float64)).astype(np.float32)
    if view == "slow2":
        from scipy.signal import resample_poly

        return resample_poly(np.asarray(x, dtype=np.float64), 2, 1).astype(np.float32)
    raise ValueError(f"unknown band view {view!r}")


def register() -> None:
    """Register the band views for audio (a WAV of the transformed 16 kHz decode)."""
    import soundfile as sf

    from detectors.audio.v2_streams import decode16k
    from detectors.training.streams import register_view

    def make(view: str):
        def fn(src: Path, dst: Path, rng: np.random.Generator) -> Path:
            out = dst / "view.wav"
            sf.write(out, band_view(decode16k(src), view), 16000, subtype="FLOAT")
            return out
        return fn

    for v in BAND_VIEWS:
        register_view("audio", v, make(v))


def extract(args) -> None:
    import torch

    from detectors.audio.v2_data import load_rows
    from detectors.audio.v2_train import load_features

    torch.set_num_threads(1)
    register()
    rows = load_rows()
    _, idx = shard_part(args.shard, len(rows))
    paths = [rows[k]["path"] for k in idx]
    t0 = time.monotonic()
    f = load_features(paths, ["whisper"], args.view)["whisper"]
    ok = np.isfinite(f["l3_mean"]).all(axis=1)
    print(f"{args.view} shard {args.shard}: {len(paths)} files, {int(ok.sum())} ok, {time.monotonic() - t0:.0f} s", flush=True)


def fit(args) -> None:
    """Ridge heads on each band view's states, scored per fold (as ``nuisance_projection.run``, no projection)."""
    from nuisance_projection import fold_ridge_scores, group_ids

    from detectors.audio.v2_train import LAYER_KEYS, load_features
    from detectors.training.probe import LinearProbe, balanced_weights, inner_folds

    register()
    rows, y, folds = card_rows()
    gid = group_ids(rows)
    i, mine = shard_part(args.shard, len(folds))
    out = {}
    t0 = time.monotonic()
    for view in args.views.split(","):
        if view == "as-is" and not args.logistic:
            raise SystemExit("the as-is ridge heads come from nuisance_projection.py; --logistic for its logistic state-2 head")
        feats = load_features([r["path"] for r in rows], ["whisper"], view)["whisper"]
        if args.logistic:  # the shipped recipe's state-2 head: L2 logistic, C = 0.01 (family-balanced weights)
            X = np.concatenate([feats[k] for k in LAYER_KEYS["l2"]], axis=1)
            for fi in mine:
                fold = folds[fi]
                tr = fold.train
                oof = np.full(len(y), np.nan)
                for itr, ite in inner_folds(rows, tr, 3, fi):
                    oof[ite] = LinearProbe(0.01).fit(X[itr], y[itr], balanced_weights(rows, itr, 0.5)).score(X[ite])
                full = LinearProbe(0.01).fit(X[tr], y[tr], balanced_weights(rows, tr, 0.5))
                out[f"test__{view}__log2__{fi}"] = full.score(X[fold.test])
                out[f"oof__{view}__log2__{fi}"] = oof[tr]
            print(f"{view} log2: {time.monotonic() - t0:.0f} s", flush=True)
            continue
        for h in HEADS:
            X = np.concatenate([feats[k] for k in LAYER_KEYS[h]], axis=1)
            for fi in mine:
                test, oof = fold_ridge_scores(X, y, gid, rows, folds[fi], fi, [(0, "none")])[(0, "none")]
                out[f"test__{view}__{h}__{fi}"] = test
                out[f"oof__{view}__{h}__{fi}"] = oof
            print(f"{view} {h}: {time.monotonic() - t0:.0f} s", flush=True)
    SCORES.mkdir(parents=True, exist_ok=True)
    tag = args.views.replace(",", "_") + ("_log2" if args.logistic else "")
    np.savez_compressed(SCORES / f"{tag}_shard{i}.npz", **out)


def late(args) -> None:
    """Score-level fusion across views: each view's heads stacked as usual, its score standardised by
    the training reals' inner out-of-fold scores, then the mean or the max over views (the max flags
    a file any view finds unlike real speech: a test of whether the views' different failures
    can be combined to help the worst families)."""
    from nested_variants import scores_beside_ridge

    from detectors.evaluation import metrics
    from detectors.training.probe import fit_nonnegative_fusion

    rows, y, folds = card_rows()
    z = scores_beside_ridge(SCORES, "as-is")

    def heads(view: str) -> list[str]:  # the shipped recipe's heads where the logistic state-2 head was fitted
        return [f"{view}__l1", f"{view}__log2" if f"test__{view}__log2__0" in z else f"{view}__l2", f"{view}__l3"]

    lines = ["| views | pooled by | mean EER | folds > 30 % |", "|---|---|---|---|"]
    for views in (["as-is"], ["as-is", "flip"], ["as-is", "slow2"], ["as-is", "flip", "slow2"]):
        for how in ("mean", "max"):
            eers = []
            for fi, f in enumerate(folds):
                tr, cols = f.train, []
                for v in views:
                    So = np.column_stack([z[f"oof__{h}__{fi}"] for h in heads(v)])
                    ok = np.isfinite(So).all(axis=1)
                    w, b = fit_nonnegative_fusion(So[ok], y[tr][ok])
                    real = (So @ w + b)[y[tr] == 0]
                    T = np.column_stack([z[f"test__{h}__{fi}"] for h in heads(v)]) @ w + b
                    cols.append((T - np.nanmean(real)) / np.nanstd(real))
                C = np.column_stack(cols)
                eers.append(metrics.eer(y[f.test], C.mean(axis=1) if how == "mean" else C.max(axis=1))[0])
            e = np.array(eers)
            lines.append(f"| {' + '.join(views)} | {how} | {100 * e.mean():.1f} % | {int((e > 0.3).sum())} of {len(e)} |")
    text = "\n".join(lines)
    print(text)
    (Path(__file__).parent / "results" / "band_views_late.md").write_text(text + "\n")


def table(args) -> None:
    from nested_variants import fuse_and_select, outer_results, saved_head, scores_beside_ridge, write_report


    rows, y, folds = card_rows()
    z = scores_beside_ridge(SCORES, "as-is")
    have = [v for v in BAND_VIEWS if f"test__{v}__l1__0" in z]
    variants = {"as-is l1-3 (previous recipe)": [f"as-is:{h}" for h in HEADS]}
    for v in have:
        variants[f"{v} l1-3"] = [f"{v}:{h}" for h in HEADS]
        variants[f"as-is + {v}"] = [f"{s}:{h}" for s in ("as-is", v) for h in HEADS]
    if "test__as-is__log2__0" in z:  # the shipped recipe: ridge 1, logistic 2, ridge 3
        shipped = ["as-is:l1", "as-is:log2", "as-is:l3"]
        variants["shipped recipe (as-is ridge 1, logistic 2, ridge 3)"] = shipped
        for v in have:
            band = [f"{v}:l1", f"{v}:log2", f"{v}:l3"] if f"test__{v}__log2__0" in z else [f"{v}:{h}" for h in HEADS]
            variants[f"shipped recipe + {v}"] = shipped + band
    if {"flip", "slow2"} <= set(have):
        variants["as-is + flip + slow2"] = [f"{s}:{h}" for s in ("as-is", "flip", "slow2") for h in HEADS]
    if len(have) > 2:
        variants["as-is + " + " + ".join(have)] = [f"{s}:{h}" for s in ("as-is", *have) for h in HEADS]

    score, crit, weights, chosen, sel = fuse_and_select(y, rows, folds, variants, saved_head(z, "test"), saved_head(z, "oof"))
    results = {v: outer_results(y, folds, score[v], args.n_boot) for v in variants}
    results["chosen by inner folds"] = outer_results(y, folds, sel, args.n_boot)
    mean_w = {v: np.round(np.mean(weights[v], axis=0), 3).tolist() for v in variants}
    write_report("band_views", [f"{len(y)} files, {len(folds)} folds; ridge heads on Whisper states 1-3 (mean+std) of each view, fused per variant.",
                                f"Mean fusion weights over folds (heads in the order listed): {mean_w}"],
                 results, crit, chosen, len(y), folds, fusion_weights=mean_w)

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("extract", "fit", "table", "late"))
    ap.add_argument("--view", default="flip", choices=BAND_VIEWS)
    ap.add_argument("--views", default=",".join(BAND_VIEWS))
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--logistic", action="store_true", help="fit: the logistic state-2 head instead of the ridge heads")
    ap.add_argument("--n-boot", type=int, default=50)
    a = ap.parse_args()
    {"extract": extract, "fit": fit, "table": table, "late": late}[a.what](a)
