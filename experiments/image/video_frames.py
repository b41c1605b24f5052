"""Frames of the corpus's videos as extra training pictures: does more real-picture diversity move
the image table?

    .venv/bin/deepfake-data build --mirror /work/.mirror --only video     # the video rows (10 min)
    .venv/bin/python experiments/image/video_frames.py extract --shard 0/2 &   # and 1/2 (3 min)
    .venv/bin/python experiments/image/video_frames.py evaluate

Why: ``real_groups.py`` found that the held-out groups of real photos differ more than most fake
families do, and that some real sources score more fake than the fakes (dreambooth's subject
photos, ML72's): the corpus lacks real-picture diversity. The catalogue's videos are the one source
of pictures the image detector never trained on (147 real videos from 20 repositories: talking
heads, lip-reading clips, street and shop scenes; 132 fake: talking-head generators, lip-sync,
face swaps).

Frames (``detectors.image.video_frames``, what ``deepfake-train image`` trains on): 4 per video at
20 / 40 / 60 / 80 % of its frame count, upright RGB, written losslessly (PNG) next to the feature
cache. Videos from a repository that also gives image rows are left
out: their pictures sit in the image folds' held-out groups, so training on their frames would
leak. Features: the shipped head's (whole-image CLIP ``proj`` at short side 128), as-is.

Protocol: the card's folds and their test rows are unchanged; frames only ever join training rows,
as corpus rows would (real frames grouped by repository, fake frames by generator family, so the
inner leave-one-family-out folds that choose the penalty see them like any other source). Probe:
the shipped head's (``face_expert.fit_expert``). Variants: the images only (the procedure before the
frames); + real frames; + fake frames; + real and fake frames (what the trainer adopted). Each is run on the card's 7 folds and on the 35-cell grid of every family
against every real group (``real_groups.py``), tested as-is and re-encoded JPEG q90.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

WHOLE_SHORT = 128
RESULTS = Path(__file__).parent / "results" / "video_frames.json"


AT8 = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # --frames 8: twice as many frames per video


def frame_rows(shard: str = "0/1", per_video: int = 4) -> list[dict[str, str]]:
    """The frame rows of the corpus's video rows (every n-th video from the i-th for shard ``i/n``;
    ``detectors.image.video_frames``), writing frames not yet written; ``per_video`` 4 (what the
    trainer uses) or 8 (``AT8``, in a folder of its own)."""
    from detectors.image.v2_data import default_manifest, load_rows
    from detectors.image.video_frames import AT, default_frame_dir
    from detectors.image.video_frames import frame_rows as rows_of

    i, n = map(int, shard.split("/"))
    image_sources = {r["source_repo"] for r in load_rows(default_manifest())}
    at, folder = (AT, default_frame_dir()) if per_video == 4 else (AT8, default_frame_dir().parent / "experiment-at8")
    return rows_of(load_rows(default_manifest(), modality="video")[i::n], image_sources, folder, at=at)


def extract(shard: str, per_video: int = 4) -> None:
    """Write this shard's frames and cache their features."""
    from detectors.features.cache import FeatureCache
    from detectors.image.streams import stream_factory
    from detectors.training.streams import features_of

    stream = stream_factory("clip")(crops=(), faces=False, whole_short=WHOLE_SHORT)
    stream.load()
    cache = FeatureCache()
    rows = frame_rows(shard, per_video)
    for j, r in enumerate(rows):
        features_of(stream, Path(r["path"]), "as-is", 0, cache)
        if j % 100 == 0:
            print(f"{j}/{len(rows)} {r['video']}", flush=True)


def frame_features(rows: list[dict[str, str]]) -> np.ndarray:
    from probe_scale import cached_whole

    from detectors.image.v2_model import HEADS, head_matrix

    f, ok = cached_whole([r["path"] for r in rows], views=("as-is",), whole_short=WHOLE_SHORT)
    if not ok.all():
        raise SystemExit(f"{int((~ok).sum())} frames lack features (run: video_frames.py extract)")
    return head_matrix(HEADS["clip-whole-proj"], f["as-is"])


def evaluate(json_path: Path, per_video: int = 4) -> None:
    from content_balance import POWER
    from face_expert import fit_expert
    from probe_scale import CONDS, shipped_head_features
    from real_groups import cell_split

    from detectors.evaluation import logo, metrics
    from detectors.image.v2_logo import RIDGE_LAMBDAS, extra_train

    rows, y, folds, X = shipped_head_features(300)
    n = len(rows)
    extra = frame_rows(per_video=per_video)
    Xe = frame_features(extra)
    ye = np.array([1 if r["label"] == "fake" else 0 for r in extra])
    all_rows = rows + extra
    y_all = np.concatenate([y, ye])
    X_all = np.vstack([X["as-is"], Xe])
    idx_real = n + np.flatnonzero(ye == 0)
    idx_fake = n + np.flatnonzero(ye == 1)
    variants = {"images only": np.array([], int), "+ real frames": idx_real, "+ fake frames": idx_fake,
                "+ real and fake frames": np.concatenate([idx_real, idx_fake])}
    only = [v.strip() for v in os.environ.get("VIDEO_FRAMES_VARIANTS", "").split(",") if v.strip()]
    variants = {k: v for k, v in variants.items() if not only or k in only}
    print(f"{len(extra)} frames: {len(idx_real)} real from {len({r['source_repo'] for r in extra if r['label'] == 'real'})} "
          f"repositories, {len(idx_fake)} fake from {len({r['family'] for r in extra if r['label'] == 'fake'})} families", flush=True)

    groups = logo.real_source_groups(rows, 5, 0)
    src = np.array([logo._source(r) for r in rows])
    fam = np.array([logo._family(r) if y[i] else "" for i, r in enumerate(rows)])
    out: dict = {"frames": {"real": len(idx_real), "fake": len(idx_fake), "per_video": per_video,
                            "real_sources": sorted({r["source_repo"] for r in extra if r["label"] == "real"}),
                            "fake_families": sorted({r["family"] for r in extra if r["label"] == "fake"})},
                 "folds": [f.name for f in folds], "variants": {}}
    for name, add in variants.items():
        card = {c: {} for c in CONDS}
        grid = {c: np.full((len(folds), len(groups)), np.nan) for c in CONDS}
        for fi, fold in enumerate(folds):
            add_f = np.intersect1d(add, extra_train(fold, all_rows, n))  # as the trainer: no frame of a held-out kind
            probe = fit_expert(X_all, y_all, all_rows, np.concatenate([fold.train, add_f]), RIDGE_LAMBDAS, POWER)[0]
            for c in CONDS:
                card[c][fold.name] = float(metrics.auc(y[fold.test], probe.score(X[c][fold.test])))
            for g, sources in enumerate(groups):
                train, test = cell_split(y, src, fam, fold, sources)
                p = fit_expert(X_all, y_all, all_rows, np.concatenate([train, add_f]), RIDGE_LAMBDAS, POWER)[0]
                for c in CONDS:
                    grid[c][fi, g] = metrics.auc(y[test], p.score(X[c][test]))
            print(f"{name} | {fold.name}: card fold as-is {card['as-is'][fold.name]:.3f} jpeg90 "
                  f"{card['jpeg90'][fold.name]:.3f}; grid row jpeg90 {np.mean(grid['jpeg90'][fi]):.3f}", flush=True)
        out["variants"][name] = {
            "card": {c: {"mean": float(np.mean(list(v.values()))), "min": float(min(v.values())), "per_fold": v}
                     for c, v in card.items()},
            "grid": {c: {"mean": float(np.nanmean(a)), "rows": a.tolist()} for c, a in grid.items()}}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(out, indent=1) + "\n")
    from detectors.image.v2_card import video_frames_section

    print("\n" + "\n".join(video_frames_section(json_path)))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--shard", default="0/1")
    e.add_argument("--frames", type=int, default=4, choices=(4, 8), help="frames per video")
    v = sub.add_parser("evaluate")
    v.add_argument("--json", type=Path, default=RESULTS)
    v.add_argument("--frames", type=int, default=4, choices=(4, 8), help="frames per video")
    args = ap.parse_args()
    if args.cmd == "extract":
        extract(args.shard, args.frames)
    else:
        evaluate(args.json, args.frames)
