"""Does video-v2's fused score reproduce the metadata shortcut? And why does the lip-sync fold fail?

    .venv/bin/python experiments/video/shortcuts.py \
        --heldout ~/.cache/deepfake-detection/video-v2-heldout.csv --out experiments/video/shortcuts.json

Reads the held-out (leave-one-family-out) scores that ``deepfake-train video --recipe v2 --heldout``
wrote: every score of a clip comes from models that never saw its generator family (nor, for a
real clip, its source group). Nothing here trains or chooses anything.

1. Metadata: the metadata-only baseline separates corpus v2's videos at AUC 0.78 (LOGO). If the
   fused score were the same shortcut, it would (a) correlate with the metadata baseline's score
   and (b) lose its AUC inside strata where resolution and frame rate are equal. Strata: frame
   height (<= 300, <= 600, <= 1100, > 1100 px) x frame rate (25, 30, other). Reported per stratum
   (>= 3 clips of each class) and as the within-stratum pair AUC: over every (real, fake) pair
   of the same stratum, how often the fake scores higher (ties count half).
2. Lip-sync: each lip-sync clip's held-out scores per stream, and where they fall among the
   held-out scores of the reals (percentile), with its size, length and face-track counts.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

HEIGHT_EDGES = (300, 600, 1100)


def pair_auc(y: np.ndarray, s: np.ndarray, strata: np.ndarray) -> tuple[float, int]:
    """AUC over the (real, fake) pairs that share a stratum; also the number of such pairs."""
    wins, pairs = 0.0, 0
    for k in np.unique(strata):
        m = strata == k
        f, r = s[m & (y == 1)], s[m & (y == 0)]
        if len(f) and len(r):
            d = f[:, None] - r[None, :]
            wins += float((d > 0).sum() + 0.5 * (d == 0).sum())
            pairs += d.size
    return (wins / pairs if pairs else float("nan")), pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--heldout", type=Path, default=Path.home() / ".cache/deepfake-detection/video-v2-heldout.csv")
    ap.add_argument("--out", type=Path, default=Path("experiments/video/shortcuts.json"))
    args = ap.parse_args()
    from scipy.stats import spearmanr

    from detectors.evaluation import metrics
    from detectors.video.v2_data import load_video_rows
    from detectors.video.v2_train import load_vectors

    with open(args.heldout, newline="") as fh:
        held = list(csv.DictReader(fh))
    rows, paths = load_video_rows()
    by_file = {r["file"]: i for i, r in enumerate(rows)}
    idx = [by_file[h["file"]] for h in held]
    vectors = load_vectors([paths[i] for i in idx], "as-is", cached_only=True)
    y = np.array([1 if h["label"] == "fake" else 0 for h in held])
    col = {k: np.array([float(h[k]) for h in held]) for k in held[0] if "|" in k}
    height = np.array([float(v["meta"][1]) for v in vectors])  # log1p(height)
    height = np.expm1(height)
    fps = np.array([float(v["meta"][2]) for v in vectors])
    fps_bucket = np.where(np.abs(fps - 25) < 0.6, "25", np.where(np.abs(fps - 30) < 0.6, "30", "other"))
    h_bucket = np.digitize(height, HEIGHT_EDGES)
    h_name = np.array([("<=300", "<=600", "<=1100", ">1100")[b] for b in h_bucket])
    strata = np.array([f"h{a} fps{b}" for a, b in zip(h_name, fps_bucket, strict=True)])
    out: dict = {"n": len(y)}
    names = {"fused": "as-is|fused", "face": "as-is|face", "frame": "as-is|frame", "metadata": "as-is|metadata",
             "fused re-encoded": "re-encoded|fused", "metadata re-encoded": "re-encoded|metadata"}
    names = {k: v for k, v in names.items() if v in col}
    out["spearman_fused_vs_metadata"] = {
        "all": float(spearmanr(col[names["fused"]], col[names["metadata"]]).statistic),
        "reals": float(spearmanr(col[names["fused"]][y == 0], col[names["metadata"]][y == 0]).statistic),
        "fakes": float(spearmanr(col[names["fused"]][y == 1], col[names["metadata"]][y == 1]).statistic),
    }
    out["pooled_auc"] = {k: metrics.auc(y, col[v]) for k, v in names.items()}
    out["within_stratum_pair_auc"] = {}
    for k, v in names.items():
        a, n_pairs = pair_auc(y, col[v], strata)
        out["within_stratum_pair_auc"][k] = a
        out["n_pairs_within_strata"] = n_pairs
    out["n_pairs_all"] = int((y == 1).sum() * (y == 0).sum())
    per = []
    for k in sorted(set(strata)):
        m = strata == k
        nr, nf = int((m & (y == 0)).sum()), int((m & (y == 1)).sum())
        row = {"stratum": k, "n_real": nr, "n_fake": nf}
        if nr >= 3 and nf >= 3:
            row.update({f"auc {n}": metrics.auc(y[m], col[v][m]) for n, v in names.items()})
        per.append(row)
    out["strata"] = per
    # lip-sync clips
    reals = y == 0
    lip = []
    streams = [k.split("|")[1] for k in col if k.startswith("as-is|") and not k.split("|")[1].startswith("variant")]
    for j, h in enumerate(held):
        if h["family"] != "lipsync":
            continue
        v = vectors[j]
        c = np.asarray(v["counts"], float)
        entry = {"source_repo": h["source_repo"], "width": int(float(h["width"] or 0)), "height": int(float(h["height"] or 0)),
                 "duration": float(h["duration"] or 0), "face_crops": int(c[0]), "tracked": int(c[1]),
                 "audio_rms": round(float(c[3]), 4)}
        for s in streams:
            x = col[f"as-is|{s}"]
            entry[f"pct {s}"] = round(float((x[reals] < x[j]).mean() + 0.5 * (x[reals] == x[j]).mean()), 3)
        lip.append(entry)
    out["lipsync_clips"] = lip
    m_lip = np.array([h["family"] == "lipsync" for h in held])
    out["lipsync_vs_all_reals_auc"] = {s: metrics.auc(y[m_lip | reals], col[f"as-is|{s}"][m_lip | reals]) for s in streams}
    args.out.write_text(json.dumps(out, indent=1, default=float) + "\n")
    print(json.dumps(out, indent=1, default=lambda o: round(float(o), 3)))


if __name__ == "__main__":
    main()
