"""``deepfake-train image``: train the default image model, fit fusion and calibration, write the card.

1. Forensic-feature ranges from the train-split real photos (native resolution).
2. Training crops: train-split real photos (augmented), fakes made from them (self-blended
   faces, re-sampling traces) and the train-split labelled fakes, all through the same
   augmentation (size normalisation, crops, flips, JPEG/PNG/WebP round trips).
3. Frozen ImageNet MobileNetV2 features -> logistic-regression head (C chosen on val sources).
4. Val sources, as-is and re-encoded to JPEG q90, through the detector's own preprocessing:
   fusion weights, Platt calibration and the threshold.
5. Metrics on val and on the held-out test sources (as-is, JPEG q90, resized to 256 px + q90),
   per fake kind, into ``metrics.json`` and ``MODEL_CARD.md``.

Extracted features are cached (``--cache``), so a rerun with other head settings takes seconds.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import pickle
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from detectors.settings import PROJECT_ROOT

CACHE_VERSION = "img-v4"
MAX_PIXELS = 50_000_000
CONDITIONS = ("as-is", "jpeg-q90", "resized256-jpeg-q90")
FIT_CONDITIONS = ("as-is", "jpeg-q90")


@dataclass(frozen=True)
class Item:
    file: Path
    label: int  # 1 = fake
    kind: str
    source: str
    split: str
    license: str


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def read_items(data: Path, split_path: Path) -> list[Item]:
    """Image rows of the manifest with their source-level split (sources in no split are dropped)."""
    split = json.loads(split_path.read_text())["image"]
    side = {src: name for name, srcs in split.items() for src in srcs}
    items = []
    with open(data / "manifest.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["modality"] != "image" or row["source_repo"] not in side:
                continue
            items.append(
                Item(
                    file=data / row["file"],
                    label=int(row["label"] == "fake"),
                    kind=row["kind"],
                    source=row["source_repo"],
                    split=side[row["source_repo"]],
                    license=row["license"],
                )
            )
    return items


class Cache:
    """Pickle files keyed by a hash of what produced them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, *key: object) -> Path:
        h = hashlib.sha1(repr((CACHE_VERSION, *key)).encode()).hexdigest()[:20]
        return self.root / f"{h}.pkl"

    def get(self, *key: object):
        p = self.path(*key)
        if p.exists():
            with open(p, "rb") as fh:
                return pickle.load(fh)
        return None

    def put(self, value, *key: object) -> None:
        tmp = self.path(*key).with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(self.path(*key))


def _file_key(p: Path) -> tuple[str, int]:
    st = p.stat()
    return (str(p), st.st_size)


# --- 1. forensic ranges ----------------------------------------------------------------------


def measure_ranges(items: list[Item], faces_of, cache: Cache):
    """Ranges over train-split real photos as they are and after ordinary re-saving, so that
    a benign JPEG q90 save or a shrink is not, by itself, an anomaly."""
    from detectors.image import forensics
    from detectors.image.anomalies import FeatureRanges
    from detectors.media import load_image

    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for it in items:
            for cond in CONDITIONS:
                key = ("forensics", cond, _file_key(it.file))
                rep = cache.get(*key)
                if rep is None:
                    path = _condition_file(it.file, cond, Path(tmpdir))
                    rgb = load_image(path, MAX_PIXELS)
                    luma, q = forensics.read_jpeg_luma(str(path))
                    s = rgb.shape[1] / load_image(it.file, MAX_PIXELS).shape[1] if cond != "as-is" else 1.0
                    boxes = [tuple(int(round(v * s)) for v in f.box) for f in faces_of(it)]
                    rep = forensics.analyse(rgb, boxes, luma, q)
                    cache.put(rep, *key)
                rows.append(rep.image)
                rows.extend(rep.faces)
    sources = sorted({it.source for it in items})
    return FeatureRanges.fit(
        rows, source=f"{len(items)} train-split real images from {', '.join(sources)}; as-is, JPEG q90, 256 px + JPEG q90"
    )


# --- 2. training crops -----------------------------------------------------------------------


def training_set(items: list[Item], faces_of, model, args, cache: Cache) -> dict[str, np.ndarray]:
    """Features, labels, groups and kinds of every augmented training crop."""
    from detectors.faces import align_crop, resize_whole
    from detectors.image import synth
    from detectors.media import load_image

    key = ("trainset", args.seed, args.real_variants, args.sbi_variants, args.resample_variants,
           args.fake_variants, [_file_key(it.file) for it in items])
    cached = cache.get(*key)
    if cached is not None:
        cached["from_cache"] = True
        return cached
    rng = np.random.default_rng(args.seed)
    crops: list[np.ndarray] = []
    meta: list[tuple[int, int, str, str]] = []  # label, group, kind, input type
    feats: list[np.ndarray] = []

    def add(rgb: np.ndarray, faces, label: int, group: int, kind: str, whole: bool = True) -> None:
        if whole:
            crops.append(resize_whole(rgb))
            meta.append((label, group, kind, "whole"))
        if faces:
            crops.append(align_crop(rgb, faces[0]))
            meta.append((label, group, kind, "face"))
        if len(crops) >= 64:
            feats.append(model.features(crops))
            crops.clear()

    t = time.perf_counter()
    for gi, it in enumerate(items):
        rgb = load_image(it.file, MAX_PIXELS)
        faces = faces_of(it)
        if it.label == 0:
            for _ in range(args.real_variants):
                add(*synth.augment(rgb, faces, rng), 0, gi, "real")
            for _ in range(args.sbi_variants if faces else 0):
                fake = synth.self_blend(rgb, faces[0], rng)
                img, f2 = synth.augment(fake, faces[:1], rng)
                add(img, f2, 1, gi, "self-blend", whole=False)
            for _ in range(args.resample_variants):
                add(*synth.augment(synth.resample_trace(rgb, rng), faces, rng), 1, gi, "resample")
        else:
            for _ in range(args.fake_variants):
                add(*synth.augment(rgb, faces, rng), 1, gi, it.kind)
        if gi % 50 == 0:
            log(f"  training crops: {gi + 1}/{len(items)} images, {sum(len(f) for f in feats) + len(crops)} crops, "
                f"{time.perf_counter() - t:.0f} s")
    if crops:
        feats.append(model.features(crops))
    out = {
        "x": np.concatenate(feats).astype(np.float32),
        "y": np.array([m[0] for m in meta]),
        "group": np.array([m[1] for m in meta]),
        "kind": np.array([m[2] for m in meta]),
        "input": np.array([m[3] for m in meta]),
    }
    cache.put(out, *key)
    return out


# --- 4/5. evaluation data through the detector's own preprocessing ----------------------------


def _condition_file(src: Path, condition: str, tmp: Path) -> Path:
    """The file as the detector would receive it under ``condition``."""
    if condition == "as-is":
        return src
    from PIL import Image

    with Image.open(src) as im:
        rgb = im.convert("RGB")
    if condition == "resized256-jpeg-q90":
        w, h = rgb.size
        s = 256 / min(w, h)
        if s < 1:
            rgb = rgb.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
    out = tmp / (src.stem + f".{condition}.jpg")
    rgb.save(out, format="JPEG", quality=90)
    return out


def evaluation_set(items: list[Item], condition: str, faces, model, cache: Cache) -> list[dict]:
    """Per item: evidence (faces, forensics) and backbone features of its model inputs."""
    from detectors.image.prepare import prepare_ref
    from detectors.media import make_media_ref

    out = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for i, it in enumerate(items):
            key = ("eval", condition, _file_key(it.file))
            rec = cache.get(*key)
            if rec is None:
                path = _condition_file(it.file, condition, Path(tmpdir))
                prepared = prepare_ref(make_media_ref(path, "image"), MAX_PIXELS, faces)
                x = model.features(prepared.model_inputs) if prepared.model_inputs else np.zeros((0, 1))
                rec = {"evidence": prepared.payload["evidence"], "x": x.astype(np.float32), "timings": prepared.timings}
                cache.put(rec, *key)
            out.append(rec)
            if i % 100 == 0:
                log(f"  {condition}: {i + 1}/{len(items)}")
    return out


# --- 3. head ---------------------------------------------------------------------------------


def fit_head(train: dict[str, np.ndarray], c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from detectors.image.model import LinearHead

    scaler = StandardScaler().fit(train["x"])
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=4000)
    lr.fit(scaler.transform(train["x"]), train["y"])
    return LinearHead(
        mean=scaler.mean_, scale=np.where(scaler.scale_ > 0, scaler.scale_, 1.0), coef=lr.coef_[0],
        intercept=float(lr.intercept_[0]), meta={},
    )


def grouped_cv(train: dict[str, np.ndarray], c: float, folds: int = 4) -> dict[str, float]:
    """Out-of-fold AUC per fake kind on the training crops, folds grouped by source image
    (in-distribution: how well the head learns its own training kinds)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    oof = np.zeros(len(train["y"]))
    for tr, te in GroupKFold(folds).split(train["x"], train["y"], train["group"]):
        head = fit_head({"x": train["x"][tr], "y": train["y"][tr]}, c)
        oof[te] = head.logits(train["x"][te])
    out = {"all": round(float(roc_auc_score(train["y"], oof)), 4)}
    for kind in np.unique(train["kind"]):
        m = (train["kind"] == kind) | (train["kind"] == "real")
        if kind != "real" and len(np.unique(train["y"][m])) == 2:
            out[str(kind)] = round(float(roc_auc_score(train["y"][m], oof[m])), 4)
    return out


def input_auc(head, recs: list[dict], items: list[Item]) -> float:
    """AUC of the head over every model input (whole and faces) of validation images."""
    from sklearn.metrics import roc_auc_score

    s, y = [], []
    for rec, it in zip(recs, items, strict=True):
        if rec["x"].shape[0] and rec["x"].shape[1] > 1:
            s.extend(head.logits(rec["x"]).tolist())
            y.extend([it.label] * rec["x"].shape[0])
    return float(roc_auc_score(y, s)) if len(set(y)) == 2 else float("nan")


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="deepfake-train image", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=PROJECT_ROOT.parent / "shared" / "data" / "train")
    ap.add_argument("--out", type=Path, default=PROJECT_ROOT / "models" / "image")
    ap.add_argument("--split", type=Path, default=PROJECT_ROOT / "models" / "split.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "deepfake-image-cache")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--real-variants", type=int, default=2)
    ap.add_argument("--sbi-variants", type=int, default=2)
    ap.add_argument("--resample-variants", type=int, default=1)
    ap.add_argument("--fake-variants", type=int, default=2)
    ap.add_argument("--c-grid", type=str, default="0.0003,0.001,0.003,0.01,0.03")
    ap.add_argument("--limit", type=int, default=0, help="at most this many images per split and label (smoke tests)")
    return ap.parse_args(argv)


V1_ONLY_OPTIONS = ("--data", "--split", "--limit", "--real-variants", "--sbi-variants", "--resample-variants",
                   "--fake-variants", "--c-grid", "--cache", "--threads")


def main(argv: list[str] | None = None) -> int:
    """``deepfake-train image``: the v2 recipe (``detectors.image.v2_train``) by default; the v1
    recipe (``image-default``) with ``--recipe v1`` or any of its own options (``--data`` ...)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--recipe" in args:
        i = args.index("--recipe")
        recipe = args[i + 1] if i + 1 < len(args) else ""
        del args[i : i + 2]
    else:
        recipe = "v1" if any(a.split("=")[0] in V1_ONLY_OPTIONS for a in args) else "v2"
    if recipe == "v1":
        return main_v1(args)
    if recipe != "v2":
        raise SystemExit(f"unknown --recipe {recipe!r}: v1 or v2")
    from detectors.image.v2_train import main as main_v2

    return main_v2(args)


def main_v1(argv: list[str] | None = None) -> int:
    """The v1 recipe: MobileNetV2 head + forensic features on a source-level split (image-default)."""
    import torch

    from detectors.faces import FaceDetector
    from detectors.image.anomalies import RANGES_FILE
    from detectors.image.detector import DefaultImageDetector, fusion_inputs
    from detectors.image.fusion import FUSION_FILE, fit_fusion
    from detectors.image.model import HEAD_FILE, ImageModel

    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    items = read_items(args.data, args.split)
    if args.limit:
        kept, count = [], {}
        for it in items:
            k = (it.split, it.label)
            if count.get(k, 0) < args.limit:
                kept.append(it)
                count[k] = count.get(k, 0) + 1
        items = kept
    by_split = {s: [it for it in items if it.split == s] for s in ("train", "val", "test")}
    for s, its in by_split.items():
        log(f"{s}: {sum(1 - i.label for i in its)} real, {sum(i.label for i in its)} fake, "
            f"sources {sorted({i.source for i in its})}")
    cache = Cache(args.cache)
    args.out.mkdir(parents=True, exist_ok=True)
    detector = FaceDetector()
    detector.load()
    face_memo: dict[Path, list] = {}

    def faces_of(it: Item):
        if it.file not in face_memo:
            key = ("faces", _file_key(it.file))
            f = cache.get(*key)
            if f is None:
                from detectors.media import load_image

                f = detector.detect(load_image(it.file, MAX_PIXELS))
                cache.put(f, *key)
            face_memo[it.file] = f
        return face_memo[it.file]

    # 1. ranges
    log("forensic ranges on train-split real photos")
    ranges = measure_ranges([it for it in by_split["train"] if it.label == 0], faces_of, cache)
    ranges.save(args.out / RANGES_FILE)

    # 2. training crops
    model = ImageModel.load(None, threads=args.threads)
    log("training crops and features")
    train = training_set(by_split["train"], faces_of, model, args, cache)
    log(f"  {len(train['y'])} crops: " + ", ".join(f"{k} {int((train['kind'] == k).sum())}" for k in np.unique(train["kind"])))

    # 4a. evaluation sets (features are head-independent, so they are needed for choosing C too)
    evals: dict[tuple[str, str], list[dict]] = {}
    for split in ("val", "test"):
        for cond in CONDITIONS:
            log(f"{split} / {cond}: preprocessing and features")
            evals[(split, cond)] = evaluation_set(by_split[split], cond, detector, model, cache)

    # 3. head, C chosen on the val sources
    grid = [float(c) for c in args.c_grid.split(",")]
    aucs = {}
    for c in grid:
        head = fit_head(train, c)
        aucs[c] = np.mean([input_auc(head, evals[("val", cond)], by_split["val"]) for cond in FIT_CONDITIONS])
        log(f"  C={c}: val input AUC {aucs[c]:.3f}")
    best_c = max(grid, key=lambda c: (np.nan_to_num(aucs[c], nan=-1), -c))
    head = fit_head(train, best_c)
    train_cv = grouped_cv(train, best_c)
    log(f"  train-split grouped CV AUC (in-distribution): {train_cv}")
    version = f"{datetime.now(UTC).strftime('%Y%m%d')}-seed{args.seed}"
    head.meta = {
        "version": version,
        "backbone": "MobileNetV2 ImageNet (torchvision mobilenet_v2-b0353104.pth), frozen, stages 3/6/13/18 pooled",
        "C": best_c,
        "val_input_auc_by_C": {str(k): round(float(v), 4) for k, v in aucs.items()},
        "train_crops": int(len(train["y"])),
        "seed": args.seed,
    }
    head.save(args.out / HEAD_FILE)

    # 4b. fusion + calibration on val
    def components(recs: list[dict]) -> list[dict]:
        rows = []
        for rec in recs:
            ev = rec["evidence"]
            if ev.inconclusive or rec["x"].shape[0] == 0:
                rows.append({})
                continue
            scores = head.logits(rec["x"]).tolist()
            fi = ranges.score(ev.forensics.image)
            ff = [ranges.score(f) for f in ev.forensics.faces]
            rows.append(fusion_inputs(scores, len(ev.faces), fi, ff))
        return rows

    fit_rows, fit_y = [], []
    for cond in FIT_CONDITIONS:
        for row, it in zip(components(evals[("val", cond)]), by_split["val"], strict=True):
            if row:
                fit_rows.append(row)
                fit_y.append(it.label)
    fusion = fit_fusion(fit_rows, np.array(fit_y), fitted_on="val sources " + ", ".join(sorted({i.source for i in by_split["val"]}))
                        + " (as-is and JPEG q90)")
    fusion.save(args.out / FUSION_FILE)
    log(f"fusion: with face {fusion.with_face}, without {fusion.without_face}, threshold {fusion.threshold:.3f}")

    # 5. metrics through the detector's own postprocess
    det = DefaultImageDetector(model_dir=args.out)
    det.load()
    metrics = evaluate(det, evals, by_split, head)
    fusion.metrics = {k: v for k, v in metrics.items() if k.startswith("val")}
    fusion.save(args.out / FUSION_FILE)
    timing = {k: float(np.median([r["timings"].get(k, 0.0) for r in evals[("test", "as-is")]])) for k in
              ("decode", "faces", "forensics", "crops")}
    record = {
        "version": version,
        "command": "deepfake-train image " + " ".join(sys.argv[1:] if argv is None else argv),
        "seed": args.seed,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "head": head.meta,
        "fusion": {"with_face": fusion.with_face, "without_face": fusion.without_face,
                   "threshold": fusion.threshold, "fitted_on": fusion.fitted_on},
        "train_grouped_cv_auc": train_cv,
        "train_crops_by_kind": {str(k): int((train["kind"] == k).sum()) for k in np.unique(train["kind"])},
        "data": {s: {"real": sum(1 - i.label for i in its), "fake": sum(i.label for i in its),
                     "sources": sorted({i.source for i in its})} for s, its in by_split.items()},
        "licenses": sorted({f"{i.source}: {i.license}" for i in items}),
        "median_preprocess_s_test": timing,
        "metrics": metrics,
        "wall_s": round(time.perf_counter() - t0, 1),
        "features_from_cache": bool(train.get("from_cache", False)),
    }
    (args.out / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
    from detectors.image.card import write_model_card

    write_model_card(args.out / "MODEL_CARD.md", record)
    log(f"done in {record['wall_s']:.0f} s; test as-is: {metrics.get('test/as-is/all')}")
    return 0


def evaluate(det, evals: dict, by_split: dict, head) -> dict:
    """Metrics per split, condition and fake kind, from the detector's postprocess."""
    from detectors.base import Prepared
    from detectors.image import metrics as M

    out: dict[str, dict] = {}
    for (split, cond), recs in evals.items():
        probs, labels, kinds, inconclusive = [], [], [], 0
        alarms: list[int] = []  # per real image: forensic anomalies of medium or high severity
        for rec, it in zip(recs, by_split[split], strict=True):
            prepared = Prepared(ref=None, payload={"evidence": rec["evidence"]})
            scores = head.logits(rec["x"]).tolist() if rec["x"].shape[0] and rec["x"].shape[1] > 1 else []
            res = det.postprocess(prepared, scores)
            if res.verdict == "inconclusive":
                inconclusive += 1
                continue
            if it.label == 0:
                alarms.append(sum(1 for a in res.anomalies if a.normal_range is not None and a.severity != "low"))
            probs.append(res.fake_probability)
            labels.append(it.label)
            kinds.append(it.kind)
        p, y, k = np.array(probs), np.array(labels), np.array(kinds)
        thr = det.fusion.threshold
        allm = M.summary(p, y, thr)
        allm["inconclusive"] = inconclusive
        if alarms:
            allm["real_with_forensic_anomaly"] = round(float(np.mean(np.array(alarms) > 0)), 4)
        out[f"{split}/{cond}/all"] = allm
        for kind in sorted(set(kinds) - {"real-photo"}):
            m = (y == 0) | (k == kind)
            out[f"{split}/{cond}/{kind}"] = M.summary(p[m], y[m], thr)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
