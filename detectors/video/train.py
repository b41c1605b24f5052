"""``deepfake-train video``: fit the video fusion on the train split, calibrate on val, report on test.

For every labelled video it runs exactly the pipeline's steps (``preprocess`` -> ``temporal`` ->
the *current* image detector's ``infer`` on the face crops -> the current audio detector on the
sound track) and collects the fusion's inputs. Then:

- the fusion (standardised logistic regression, L2, balanced classes) is fitted on the train
  split's videos;
- its logit is Platt-calibrated (regularised: the validation split is a handful of videos) and
  the threshold is the EER point, both on the val split; so is the per-crop calibration that
  turns one face crop's raw image score into the per-frame / per-track probability;
- the "normal" range of each temporal feature is measured on the train split's real videos;
- AUC / EER are reported for train (resubstitution), val and test (never used for any choice).

- the verdict policy's two operating points are fitted on the val split's probabilities;
- with ``--reencode h264-low`` (or any video view) the test videos are scored re-encoded too.

Data comes through the one manifest reader (``--data corpus``: corpus v2, the default), parts
through the one source split (``models/split.json``), metrics through ``detectors.evaluation.metrics``,
re-encodings through the training core's views, and per-video features through the shared feature
cache (keyed by file sha256 and by the image/audio detectors' versions), so a second run on the
same corpus extracts nothing again. Writes ``fusion.json``, ``metrics.json`` and ``MODEL_CARD.md``
to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from detectors.calibration import Calibration, fit_operating_points
from detectors.evaluation import dataset
from detectors.evaluation import split as splits
from detectors.features.cache import FeatureCache, derived_key, file_key
from detectors.recipes.models import LocalModels, ModelName
from detectors.settings import PROJECT_ROOT, get_settings
from detectors.video.fusion import FACE_FEATURES, FUSION_FILE, FusionModel, real_ranges
from detectors.video.temporal import TEMPORAL_FEATURES

TEMPORAL_SET = ["landmark_jitter", "boundary_colour_flicker", "flow_boundary_jump", "box_consistency"]
# Candidate fusion inputs, declared before looking at val; the one whose train-fitted fusion ranks
# the val videos best is kept (ties: fewer inputs). Test plays no part in the choice.
CANDIDATE_SETS: dict[str, list[str]] = {
    "face": ["face_track_max"],
    "face-all": ["face_track_max", "face_score_mean", "face_score_q90"],
    "face+audio": ["face_track_max", "audio_logit", "lip_sync"],
    "face+temporal": ["face_track_max", *TEMPORAL_SET],
    "all": ["face_track_max", "face_score_mean", *TEMPORAL_SET, "audio_logit", "lip_sync"],
}
RANGED_FEATURES = list(TEMPORAL_FEATURES) + ["lip_sync"]
CACHE_VERSION = 3  # bump when extraction changes


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="deepfake-train video", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=dataset.CORPUS,
                    help="manifest CSV or its folder (read-only); 'corpus' (default): corpus v2 (DEEPFAKE_CORPUS_DIR)")
    ap.add_argument("--out", default=str(PROJECT_ROOT / "models" / "video"), help="where fusion.json goes")
    ap.add_argument("--split", default=str(PROJECT_ROOT / "models" / "split.json"), help="source-level split")
    ap.add_argument("--features", default="auto",
                    help="comma-separated fusion inputs, or 'auto': the candidate set that ranks val best")
    ap.add_argument("--C", type=float, default=0.3, help="inverse L2 strength of the fusion regression")
    ap.add_argument("--platt-C", type=float, default=1.0, help="inverse L2 strength of the calibration fits")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--image-detector", default=None,
                    help="registered image detector scoring the crops (default: the settings'); 'none' = no face scores")
    ap.add_argument("--audio-detector", default=None,
                    help="registered audio detector for the sound track (default: the settings'); 'none' = no audio")
    ap.add_argument("--cache", default=None, help="feature cache folder (default: DEEPFAKE_FEATURE_CACHE)")
    ap.add_argument("--no-logo", action="store_true", help="skip the leave-one-family-out table")
    ap.add_argument("--reencode", default="", help="also score the test videos in this video view (e.g. h264-low)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--limit", type=int, default=0,
                    help="use only the first N real and N fake videos of each split (smoke tests)")
    return ap.parse_args(argv)


def load_rows(data: str | Path, split_file: Path, limit: int = 0) -> list[dict]:
    """The manifest's video rows (one manifest reader) with their part of the source split; rows of
    sources the split does not list are dropped."""
    split = splits.load_split(split_file)
    rows = []
    for it in dataset.load_manifest(data, ["video"]):
        part = splits.part_of(split, "video", it.source)
        if part:
            rows.append({**it.as_row(), "path": str(it.path), "split": part, "y": it.label})
    if limit:
        kept: list[dict] = []
        for side in splits.PARTS:
            kept += [r for r in rows if r["split"] == side and r["y"] == 0][:limit]
            kept += [r for r in rows if r["split"] == side and r["y"] == 1][:limit]
        rows = kept
    return rows


def _detector_tag(det: Any) -> str:
    """What identifies a detector's outputs: its info (name, version ...) and a digest of the files in
    its model folder, so a retrained model never reuses cached scores of the previous one."""
    if det is None:
        return "none"
    info = {k: v for k, v in det.info().items() if k != "loaded"}
    digest = hashlib.sha1()
    folder = Path(getattr(det, "model_dir", "") or "")
    if folder.is_dir():
        for f in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix != ".md"):
            digest.update(f.name.encode())
            digest.update(f.read_bytes())
    info["weights_sha1"] = digest.hexdigest()[:16]
    return json.dumps(info, sort_keys=True, default=str)


class Extractor:
    """Runs the video recipe's steps with the current image and audio detectors, one file at a time.

    The face/temporal part and the sound-track part are cached separately, each keyed by the
    detector versions it depends on, so a new audio model does not re-run the video analysis.
    """

    def __init__(self, image_name: str | None, audio_name: str | None, threads: int) -> None:
        import torch

        from detectors.base import create
        from detectors.pipeline import detector_name

        settings = get_settings()
        self.settings = settings
        torch.set_num_threads(threads)
        self.video = create("video-default", settings=settings)
        self.video.load()
        self.image = None
        name = image_name or detector_name(settings, "image")
        if name != "none":
            self.image = create(name, settings=settings)
            self.image.load()
        self.audio = None
        name = audio_name or detector_name(settings, "audio")
        if name != "none":
            self.audio = create(name, settings=settings)
            self.audio.load()
        self.video_tag = hashlib.sha1(
            f"{CACHE_VERSION}|{settings.max_video_frames}|{_detector_tag(self.image)}".encode()
        ).hexdigest()[:12]
        self.audio_tag = hashlib.sha1(f"{CACHE_VERSION}|{_detector_tag(self.audio)}".encode()).hexdigest()[:12]
        self.models = _Models(self)

    def _detector(self, modality: str) -> Any:
        return {"video": self.video, "image": self.image, "audio": self.audio}[modality]

    def video_part(self, path: Path) -> dict:
        """Faces, temporal features and the image model's crop scores (audio left out): the video
        recipe's face step, as the service runs it."""
        from detectors.media import make_media_ref
        from detectors.recipes.base import VideoRecipe

        t = time.perf_counter()
        prepared, scores = VideoRecipe(self._detector).faces(make_media_ref(path, "video"), self.models)
        values = self.video.feature_values(prepared, [float(s) for s in scores], None)
        return {
            "values": {k: (None if v is None or not math.isfinite(float(v)) else float(v)) for k, v in values.items()},
            "crop_scores": [float(s) for s in scores],
            "faces": prepared.payload["summary"]["faces"],
            "seconds": round(time.perf_counter() - t, 2),
        }

    def audio_part(self, path: Path) -> dict:
        """The sound track through the audio recipe, as the service runs it (None without sound)."""
        from detectors.media import load_audio, make_media_ref
        from detectors.recipes.base import AudioRecipe

        if self.audio is None:
            return {"audio_p": None, "audio_verdict": None}
        ref = make_media_ref(path, "video")
        clip = load_audio(ref.path, self.settings.max_video_seconds + 1.0)
        if clip is None:
            return {"audio_p": None, "audio_verdict": None}
        result = AudioRecipe(self._detector).run_clip(clip, ref, self.models)
        return {"audio_p": result.fake_probability, "audio_verdict": result.verdict}


class _Models(LocalModels):
    """The named models with an optional image detector ('none': no face scores)."""

    def __init__(self, extractor: Extractor) -> None:
        super().__init__(extractor._detector)
        self.extractor = extractor

    def scores(self, model: ModelName, inputs: list[np.ndarray]) -> list[float]:
        if model == "image" and self.extractor.image is None:
            return []
        return super().scores(model, inputs)


def _pack(part: dict) -> dict[str, np.ndarray]:
    """A feature dict as arrays for the feature cache (None -> NaN)."""
    if "values" in part:
        names = sorted(part["values"])
        return {"names": np.array(names, dtype=str),
                "values": np.array([np.nan if part["values"][n] is None else part["values"][n] for n in names], float),
                "crop_scores": np.asarray(part["crop_scores"], float), "faces": np.array([part["faces"]], float),
                "seconds": np.array([part["seconds"]], float)}
    return {"audio_p": np.array([np.nan if part["audio_p"] is None else part["audio_p"]], float),
            "audio_verdict": np.array([part["audio_verdict"] or ""], dtype=str)}


def _unpack(arrays: dict[str, np.ndarray]) -> dict:
    if "names" in arrays:
        values = {str(n): (None if not math.isfinite(float(v)) else float(v))
                  for n, v in zip(arrays["names"], arrays["values"], strict=True)}
        return {"values": values, "crop_scores": [float(v) for v in arrays["crop_scores"]],
                "faces": int(arrays["faces"][0]), "seconds": float(arrays["seconds"][0])}
    p = float(arrays["audio_p"][0])
    return {"audio_p": p if math.isfinite(p) else None, "audio_verdict": str(arrays["audio_verdict"][0]) or None}


def extract_all(rows: list[dict], extractor: Extractor, cache: FeatureCache | None = None, view: str = "",
                log: Callable[[str], None] = print) -> list[dict]:
    """Features for every row through the shared feature cache (key: file sha256 [+ view]; version:
    the detector tags), re-encoding first when ``view`` names a video view."""
    from detectors.training.streams import view_fn

    cache = cache or FeatureCache()
    out = []
    for i, r in enumerate(rows):
        path = Path(r["path"])
        key = file_key(path) if not view else derived_key(file_key(path), view, 0)
        tmp = None

        def source(path: Path = path) -> Path:
            nonlocal tmp
            if not view:
                return path
            if tmp is None:
                tmp = Path(tempfile.mkdtemp(prefix="video-view-"))
            return view_fn("video", view)(path, tmp, np.random.default_rng(0))

        misses = cache.misses
        try:
            vpart = _unpack(cache.get_or_compute("video-train-video", extractor.video_tag, key,
                                                 lambda: _pack(extractor.video_part(source()))))
            apart = _unpack(cache.get_or_compute("video-train-audio", extractor.audio_tag, key,
                                                 lambda: _pack(extractor.audio_part(source()))))
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        if cache.misses > misses:
            log(f"[{i + 1}/{len(rows)}] {r['file']} ({r['split']}, {r['label']}{', ' + view if view else ''}): "
                f"{vpart['seconds']} s, {vpart['faces']} face crops, audio {apart['audio_verdict']}")
        item = {**r, **vpart, **apart}
        item["values"] = dict(item["values"])
        if item["audio_verdict"] not in (None, "inconclusive") and item["audio_p"] is not None:
            p = min(max(float(item["audio_p"]), 1e-4), 1 - 1e-4)
            item["values"]["audio_logit"] = math.log(p / (1 - p))
        out.append(item)
    return out


def design(items: list[dict], features: list[str]) -> np.ndarray:
    """Raw feature matrix with NaN for missing values."""
    return np.array([[np.nan if it["values"].get(f) is None else it["values"][f] for f in features] for it in items],
                    dtype=np.float64)


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale per column over the present values (scale 1 where constant or absent)."""
    mean = np.array([np.nanmean(c) if np.isfinite(c).any() else 0.0 for c in x.T])
    scale = np.array([np.nanstd(c) if np.isfinite(c).sum() > 1 else 1.0 for c in x.T])
    scale = np.where(scale > 1e-9, scale, 1.0)
    return mean, scale


def standardise(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = (x - mean) / scale
    return np.where(np.isfinite(z), z, 0.0)  # missing -> the training mean


def regularised_platt(scores: np.ndarray, labels: np.ndarray, c: float, fitted_on: str) -> Calibration:
    """Platt scaling with an L2 penalty (tiny validation sets separate perfectly) + EER threshold."""
    from sklearn.linear_model import LogisticRegression

    from detectors.calibration import eer_threshold

    s = np.asarray(scores, dtype=np.float64).reshape(-1, 1)
    y = np.asarray(labels, dtype=int)
    if len(np.unique(y)) < 2:
        raise ValueError(f"calibration on {fitted_on} needs both real and fake examples")
    lr = LogisticRegression(C=c)
    lr.fit(s, y)
    a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    method = "platt (L2)"
    if a < 0:
        # On these examples the score ranks the wrong way round. A calibration must not turn a
        # detector around; it becomes flat instead (p = the base rate, every verdict the same).
        rate = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
        a, b, method = 0.0, math.log(rate / (1 - rate)), "flat: the score ranks backwards on the calibration set"
    cal = Calibration(a=a, b=b, fitted_on=fitted_on, method=method)
    p = np.asarray(cal.probability(s[:, 0]))
    cal.threshold = round(eer_threshold(p, y), 6) if a > 0 else round(float(p[0]) + 1e-6, 6)
    return cal


def _metrics(y: np.ndarray, p: np.ndarray, threshold: float, ops: Any = None) -> dict:
    """AUC / EER (with intervals), ECE and accuracy at the threshold; with operating points also the
    verdict policy's rates (reals called fake, fakes called real, inconclusive)."""
    from detectors.calibration import operating_rates
    from detectors.evaluation.metrics import summarize

    out = summarize(y, p, threshold, n_boot=500)
    keep = ("n", "n_real", "n_fake", "auc", "auc_ci", "eer", "accuracy", "fpr", "fnr", "ece", "notes")
    out = {k: v for k, v in out.items() if k in keep}
    if ops is not None:
        out.update(operating_rates(p, y, ops.real_below, ops.fake_above))
    return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in out.items()}


def _fit_lr(train: list[dict], features: list[str], c: float, seed: int):
    """Standardised, balanced, L2 logistic regression on the features that have values on train."""
    from sklearn.linear_model import LogisticRegression

    usable = [f for f in features if np.isfinite(design(train, [f])).any()]
    x = design(train, usable)
    mean, scale = standardiser(x)
    lr = LogisticRegression(C=c, class_weight="balanced", random_state=seed, max_iter=1000)
    lr.fit(standardise(x, mean, scale), np.array([it["y"] for it in train]))

    def logits(group: list[dict]) -> np.ndarray:
        return standardise(design(group, usable), mean, scale) @ lr.coef_[0] + lr.intercept_[0]

    return usable, mean, scale, lr, logits


def fit(
    items: list[dict], feature_sets: dict[str, list[str]], c: float, platt_c: float, seed: int,
    crop_calibration: Calibration | None = None,
) -> tuple[FusionModel, dict]:
    """Fit each candidate feature set on train, keep the one ranking val best (ties: fewer inputs),
    calibrate it on val, measure on every split; returns the model and the metrics.

    ``crop_calibration`` (the image detector's own face calibration) maps one crop's raw score to
    the per-frame probability; without it that mapping is fitted on the val crops.
    """
    from detectors.evaluation.metrics import auc

    by = {s: [it for it in items if it["split"] == s] for s in ("train", "val", "test")}
    for s in ("train", "val"):
        ys = {it["y"] for it in by[s]}
        if ys != {0, 1}:
            raise ValueError(f"the {s} split needs real and fake videos, has labels {sorted(ys)}")
    y_val = np.array([it["y"] for it in by["val"]])
    candidates: dict[str, dict] = {}
    best = None
    for name, feats in sorted(feature_sets.items(), key=lambda kv: len(kv[1])):
        fitted = _fit_lr(by["train"], feats, c, seed)
        if not fitted[0]:
            continue
        val_auc = auc(y_val, fitted[4](by["val"]))
        entry = {"features": fitted[0], "val_auc": round(val_auc, 4)}
        if by["test"]:
            y_test = np.array([it["y"] for it in by["test"]])
            entry["test_auc_not_used_for_choice"] = round(auc(y_test, fitted[4](by["test"])), 4)
        candidates[name] = entry
        if best is None or val_auc > best[1] + 1e-9:
            best = (name, val_auc, fitted)
    if best is None:
        raise ValueError("no candidate feature set has values on the train split")
    chosen, _, (usable, mean, scale, lr, logits) = best
    dropped = sorted(set(feature_sets[chosen]) - set(usable))
    cal = regularised_platt(logits(by["val"]), y_val, platt_c, "val split: " + ", ".join(
        sorted({it["source_repo"] for it in by["val"]})))
    if crop_calibration is None:
        crop_s = np.array([s for it in by["val"] for s in it["crop_scores"]])
        crop_y = np.array([it["y"] for it in by["val"] for _ in it["crop_scores"]])
        if crop_s.size and len(np.unique(crop_y)) == 2:
            crop_calibration = regularised_platt(crop_s, crop_y, platt_c, "val split face crops")
        else:
            crop_calibration = Calibration(a=1.0, b=0.0, threshold=0.5, method="identity (no face crops on val)")
    reals = [it for it in by["train"] if it["y"] == 0]
    ranges = real_ranges({f: [it["values"].get(f) for it in reals] for f in RANGED_FEATURES})
    model = FusionModel(
        features=usable, mean=[round(float(v), 6) for v in mean], scale=[round(float(v), 6) for v in scale],
        coef=[round(float(v), 6) for v in lr.coef_[0]], intercept=round(float(lr.intercept_[0]), 6),
        calibration=cal, crop_calibration=crop_calibration, ranges=ranges,
    )
    p_val = np.array([model.probability(it["values"]) for it in by["val"]])
    model.operating_points = fit_operating_points(p_val, y_val, fitted_on=cal.fitted_on)
    crop_cal = crop_calibration
    metrics: dict[str, Any] = {"chosen": chosen, "candidates": candidates, "features_dropped_no_values": dropped}
    for s, group in by.items():
        if not group:
            continue
        y = np.array([it["y"] for it in group])
        p = np.array([model.probability(it["values"]) for it in group])
        metrics[s] = _metrics(y, p, cal.threshold, model.operating_points)
        metrics[s]["sources"] = sorted({it["source_repo"] for it in group})
        # Single cues on the same videos (higher = more fake; sign taken from the train split).
        singles = {}
        for f in usable:
            col = design(group, [f])[:, 0]
            ok = np.isfinite(col)
            if ok.sum() < 3 or len(np.unique(y[ok])) < 2:
                continue
            sign = 1.0 if lr.coef_[0][usable.index(f)] >= 0 else -1.0
            singles[f] = round(auc(y[ok], sign * col[ok]), 4)
        metrics[s]["single_feature_auc"] = singles
    crops = {}
    for s, group in by.items():
        cs = np.array([v for it in group for v in it["crop_scores"]])
        cy = np.array([it["y"] for it in group for _ in it["crop_scores"]])
        if cs.size and len(np.unique(cy)) == 2:
            crops[s] = _metrics(cy, np.asarray(crop_cal.probability(cs)), crop_cal.threshold)
    metrics["face_crops"] = crops
    metrics["per_video"] = {
        s: [{"file": it["file"], "label": it["label"], "p": round(model.probability(it["values"]), 4)} for it in g]
        for s, g in by.items()
    }
    return model, metrics


def logo_tables(items: list[dict], features: list[str], c: float, min_fakes: int = 5, n_real_groups: int = 4,
                cache: FeatureCache | None = None, n_boot: int = 200) -> dict[str, Any]:
    """Leave-one-family-out rows of the fusion's inputs (the same standardised L2 logistic model,
    missing inputs at the training mean), and of the metadata-only baseline under the same folds."""
    from detectors.evaluation import logo
    from detectors.evaluation.metadata import MetadataStream
    from detectors.training import head as heads
    from detectors.training.streams import extract

    rows = [{**it, "label": "fake" if it["y"] else "real"} for it in items]
    y = np.array([it["y"] for it in items])
    folds = logo.logo_folds(rows, min_fakes=min_fakes, n_real_groups=n_real_groups)
    meta = extract(MetadataStream("video"), [Path(it["path"]) for it in items], cache=cache, progress=False)
    out: dict[str, Any] = {"folds": [{"fold": f.name, "families": list(f.families), "test_real_sources":
                                      list(f.test_real_sources)} for f in folds]}
    for name, X in (("fusion", design(items, features)), ("metadata baseline", meta["meta"])):
        ls = heads.logo_scores({name: X}, y, rows, folds, Cs=(c,), n_inner=3, weighted=False)["as-is"]
        out[name] = heads.logo_rows(y, ls, n_boot=n_boot).get(name, [])
    return out


def image_face_calibration(image: Any) -> Calibration | None:
    """The image detector's own calibration of one face crop's score, when it has one that keeps the
    score's direction (a calibration that inverts the model is not used; val crops decide instead)."""
    fusion = getattr(image, "fusion", None)
    cal = getattr(fusion, "component_calibration", {}).get("face") if fusion is not None else None
    if cal is None or cal.a <= 0:
        return None
    out = Calibration.from_dict(cal.to_dict())
    out.fitted_on = f"{getattr(image, 'name', 'image detector')} face calibration: {cal.fitted_on}"
    return out


def _licences(rows: list[dict]) -> list[str]:
    seen: dict[str, str] = {}
    for r in rows:
        seen.setdefault(r["source_repo"], r.get("license", ""))
    return [f"{repo}: {lic}" for repo, lic in sorted(seen.items())]


def _logo_md(tables: dict | None) -> str:
    from detectors.evaluation.logo import format_logo_table

    if not tables:
        return "(not run: `--no-logo`)"
    text = "\n\n".join(format_logo_table(tables[k], title=k) for k in ("fusion", "metadata baseline") if tables.get(k))
    return text or "(no fold had real and fake videos on both sides: too few videos or families)"


def _ops_line(model: FusionModel) -> str:
    ops = model.operating_points
    if ops is None:
        return "none stored (an old file: the single threshold applies)"
    m = ops.measured
    return (f"real below **{ops.real_below:.3f}**, fake at or above **{ops.fake_above:.3f}**; on val "
            f"{100 * m.get('real_called_fake', float('nan')):.1f} % of reals called fake, "
            f"{100 * m.get('fake_called_real', float('nan')):.1f} % of fakes called real, "
            f"{100 * m.get('real_inconclusive', float('nan')):.0f} % / {100 * m.get('fake_inconclusive', float('nan')):.0f} % "
            "of reals / fakes inconclusive")


def model_card(model: FusionModel, metrics: dict, rows: list[dict], command: str, seed: int) -> str:
    """The MODEL_CARD.md text: data, split, command, seed, metrics, date, licences, limits."""
    def line(split: str) -> str:
        m = metrics.get(split, {})
        if not m:
            return f"| {split} | - | - | - | - | - |"
        ci = m.get("auc_ci") or [float("nan"), float("nan")]
        return (f"| {split} | {m['n']} ({m['n_real']} real / {m['n_fake']} fake) | {m['auc']} "
                f"[{ci[0]:.2f}, {ci[1]:.2f}] | {m['eer']} | {m['accuracy']} | {', '.join(m['sources'])} |")

    singles = "\n".join(
        f"| {f} | {metrics.get('train', {}).get('single_feature_auc', {}).get(f, '-')} | "
        f"{metrics.get('val', {}).get('single_feature_auc', {}).get(f, '-')} | "
        f"{metrics.get('test', {}).get('single_feature_auc', {}).get(f, '-')} | {c:+.3f} |"
        for f, c in zip(model.features, model.coef, strict=True)
    )
    cands = "\n".join(
        f"| {name} | {', '.join(c['features'])} | {c['val_auc']} | {c.get('test_auc_not_used_for_choice', '-')} |"
        for name, c in metrics.get("candidates", {}).items()
    )
    crops = metrics.get("face_crops", {})
    crop_line = ", ".join(f"{s} AUC {m['auc']} (n={m['n']})" for s, m in crops.items()) or "no face-crop scores"
    info = model.info
    return f"""# Video fusion (`video-default`) — model card

**What it is.** The video-level verdict of `video-default`: a standardised logistic regression over
{len(model.features)} inputs ({', '.join(model.features)}), Platt-calibrated. The face-crop scores come from
`{info.get('image_detector')}` and the sound-track probability from `{info.get('audio_detector')}`, as they were
when this file was trained; retrain (`deepfake-train video`) whenever either of them changes.

- Trained: {info.get('date')} (version `{info.get('version')}`), seed {seed}
- Command: `{command}`
- Data: `{info.get('data', '../shared/data/train/manifest.csv')}`, video rows only, split by source repository
  (`{info.get('split', 'models/split.json')}`): train = fit, val = calibration + operating points + per-crop
  calibration, test = report only.
- Verdict operating points (fitted on val, targets at most 5 % of reals called fake and 5 % of fakes called real):
  {_ops_line(model)}
- Threshold (EER point on val): {model.calibration.threshold:.4f}; calibration p = sigmoid({model.calibration.a:.3f} z +
  {model.calibration.b:.3f}), method "{model.calibration.method}", fitted with an L2 penalty because val holds only
  {metrics.get('val', {}).get('n', '?')} videos.
- Per-crop calibration (per-frame and per-track probabilities): a={model.crop_calibration.a:.3f},
  b={model.crop_calibration.b:.3f}, threshold {model.crop_calibration.threshold:.4f}, from
  "{model.crop_calibration.fitted_on}"; face crops labelled by their video: {crop_line}.

## Video-level results

| split | videos | AUC [95% bootstrap CI] | EER | accuracy at threshold | sources |
|---|---|---|---|---|---|
{line('train')}
{line('val')}
{line('test')}
{chr(10).join(line(k) for k in metrics if k.startswith('test '))}

Train is resubstitution (optimistic). Test sources were used for nothing else. With 5-30 videos per split
the intervals are wide: these numbers say whether the pipeline works, not how well it generalises.

## Choice of inputs (on val)

Each candidate set was fitted on train and ranked by its AUC on val; the best (ties: fewer inputs) was kept:
**{metrics.get('chosen')}**. Test AUCs are listed for transparency only; they played no part in the choice.

| candidate | inputs | val AUC | test AUC (not used) |
|---|---|---|---|
{cands}

## Single inputs (AUC of each input alone, signed by its fusion weight)

| input | train | val | test | fusion weight (standardised) |
|---|---|---|---|---|
{singles}

## Ranges on real videos (anomalies are raised only outside these)

Measured on the train split's real videos (min..max widened by 10 %):
{chr(10).join(f"- {k}: {lo:.4g} .. {hi:.4g}" for k, (lo, hi) in model.ranges.items())}

## Leave-one-generator-family-out (as-is)

Per held-out family: the fusion's inputs refitted on every other family (same model, C={info.get('C')}),
tested on the held-out family against real videos from held-out sources; the metadata-only baseline
(size, frame rate, duration, bit rate, sound, codec) under the same folds.

{_logo_md(metrics.get('logo'))}

## Data licences (per source repository)

{chr(10).join('- ' + x for x in _licences(rows))}

Media are not redistributed; only these weights (a few numbers) are.

## Limits

- {info.get('videos', {}).get('train', '?')} training videos from {len(metrics.get('train', {}).get('sources', []))}
  sources; the data's reals and fakes differ in resolution and framing by source, so any input that tracks
  resolution or source can look predictive on train.
- Fakes are mostly audio-driven talking heads (lip-synced by design), plus 3 face swaps on val; nothing here
  covers other manipulations.
- The audio detector's own calibration split may include sources that are in this test split (see its model
  card); the audio input is then not fully independent of the test numbers.
"""


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--recipe" in raw:  # --recipe v2: the video-v2 trainer (detectors/video/v2_train.py); v1: this one
        i = raw.index("--recipe")
        recipe = raw[i + 1] if i + 1 < len(raw) else ""
        if recipe == "v2":
            from detectors.video.v2_train import main as v2_main

            return v2_main(raw)
        if recipe != "v1":
            raise SystemExit(f"unknown --recipe {recipe!r}: v1 or v2")
        argv = raw[:i] + raw[i + 2 :]
    args = _args(argv)
    out = Path(args.out)
    try:
        manifest = dataset.resolve_manifest(args.data)
    except dataset.DatasetError as exc:
        print(f"deepfake-train video: {exc}", file=sys.stderr)
        return 2
    np.random.seed(args.seed)
    if args.features == "auto":
        feature_sets = dict(CANDIDATE_SETS)
    else:
        feature_sets = {"given": [f.strip() for f in args.features.split(",") if f.strip()]}
    features = sorted({f for fs in feature_sets.values() for f in fs})
    unknown = set(features) - set(FACE_FEATURES) - set(TEMPORAL_FEATURES) - {"audio_logit", "lip_sync"}
    if unknown:
        print(f"unknown features: {sorted(unknown)}", file=sys.stderr)
        return 2
    try:
        rows = load_rows(manifest, Path(args.split), args.limit)
    except (dataset.DatasetError, splits.SplitError) as exc:
        print(f"deepfake-train video: {exc}", file=sys.stderr)
        return 2
    extractor = Extractor(args.image_detector, args.audio_detector, args.threads)
    cache = FeatureCache(args.cache) if args.cache else FeatureCache()
    items = extract_all(rows, extractor, cache)
    model, metrics = fit(items, feature_sets, args.C, args.platt_C, args.seed, image_face_calibration(extractor.image))
    if args.reencode:
        test_rows = [r for r in rows if r["split"] == "test"]
        test_items = extract_all(test_rows, extractor, cache, view=args.reencode)
        if test_items:
            y = np.array([it["y"] for it in test_items])
            p = np.array([model.probability(it["values"]) for it in test_items])
            metrics[f"test {args.reencode}"] = _metrics(y, p, model.calibration.threshold, model.operating_points)
            metrics[f"test {args.reencode}"]["sources"] = sorted({r["source_repo"] for r in test_rows})
    if not args.no_logo:
        metrics["logo"] = logo_tables(items, model.features, args.C, cache=cache)
    today = dt.date.today().isoformat()
    model.info = {
        "version": f"v{today}",
        "date": today,
        "image_detector": "none" if extractor.image is None else extractor.image.name,
        "image_detector_info": _detector_tag(extractor.image),
        "audio_detector": "none" if extractor.audio is None else extractor.audio.name,
        "audio_detector_info": _detector_tag(extractor.audio),
        "max_video_frames": get_settings().max_video_frames,
        "C": args.C,
        "platt_C": args.platt_C,
        "seed": args.seed,
        "videos": {s: sum(1 for r in rows if r["split"] == s) for s in ("train", "val", "test")},
        "data": str(manifest),
        "split": str(args.split),
    }
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / FUSION_FILE)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    command = "deepfake-train video " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    (out / "MODEL_CARD.md").write_text(model_card(model, metrics, rows, command.strip(), args.seed))
    for s in ("train", "val", "test", f"test {args.reencode}"):
        if s in metrics:
            m = metrics[s]
            print(f"{s:5s} n={m['n']:3d} AUC={m['auc']} EER={m['eer']} acc={m['accuracy']}")
    print(f"operating points (val): real below {model.operating_points.real_below:.3f}, "
          f"fake at or above {model.operating_points.fake_above:.3f}")
    print(f"wrote {out / FUSION_FILE}, metrics.json, MODEL_CARD.md")
    return 0
