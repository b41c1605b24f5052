"""Do the shipped detector's end-to-end scores match the scores its heads were fitted and calibrated on?

    .venv/bin/python experiments/audio/window_consistency.py --n 300

Why: the heads, the fusion, the Platt map and the operating points are fitted on features of each
file's first window of up to 30 s (no voice activity detection), while the detector scores speech
windows of 10 s (silero-vad, at most 32) and averages their fused log-odds. If the two disagree, the
calibrated probability and the verdicts in deployment are not the ones the card measured.

Protocol: a fixed random draw of corpus v2 rows (seed 0); for each file the fused log-odds from the
cached training features (``AudioV2Model.fused`` on ``whisper_features``) and from
``WhisperAudioDetector`` end to end (decode, VAD, windows, infer). Reported: Pearson and Spearman
correlation, mean and spread of the difference, and how often the verdict (real / inconclusive /
fake at the stored operating points) agrees; by file duration (up to 10 s: one window; longer).
The shipped model saw these files in training, so this measures consistency, not accuracy.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def verdict(p: float, real_below: float, fake_above: float) -> str:
    return "fake" if p >= fake_above else "real" if p < real_below else "inconclusive"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    from scipy.stats import pearsonr, spearmanr

    from detectors.audio.v2_data import load_rows
    from detectors.audio.v2_train import load_features
    from detectors.audio.whisper_detector import WhisperAudioDetector
    from detectors.media import make_media_ref

    rows = load_rows()
    pick = np.random.default_rng(0).choice(len(rows), size=min(args.n, len(rows)), replace=False)
    rows = [rows[i] for i in sorted(pick)]
    paths = [r["path"] for r in rows]
    feats = load_features(paths, ["whisper"], "as-is")
    det = WhisperAudioDetector()
    det.load()
    m = det.model
    ops = m.operating_points
    train = m.fused(m.stream_scores(feats))
    out = []
    for r, t in zip(rows, train, strict=True):
        prep = det.preprocess(make_media_ref(r["path"]))
        if not prep.model_inputs:
            continue
        e = float(np.mean(det.infer(prep.model_inputs)))
        out.append((float(t), e, float(prep.payload["duration"]), r["label"]))
    t, e, d = (np.array([o[i] for o in out]) for i in range(3))
    pt, pe = m.probability(t), m.probability(e)
    vt = [verdict(p, ops.real_below, ops.fake_above) for p in pt]
    ve = [verdict(p, ops.real_below, ops.fake_above) for p in pe]
    lines = ["| files | duration | Pearson r | Spearman r | mean difference (end to end - training) | sd | verdict agrees |",
             "|---|---|---|---|---|---|---|"]
    for name, mask in (("all", np.ones(len(t), bool)), ("<= 10 s", d <= 10), ("> 10 s", d > 10)):
        if mask.sum() < 3:
            continue
        agree = np.mean([a == b for a, b, k in zip(vt, ve, mask, strict=True) if k])
        lines.append(f"| {int(mask.sum())} | {name} | {pearsonr(t[mask], e[mask])[0]:.3f} | {spearmanr(t[mask], e[mask])[0]:.3f} | "
                     f"{np.mean(e[mask] - t[mask]):+.3f} | {np.std(e[mask] - t[mask]):.3f} | {100 * agree:.0f} % |")
    skipped = len(rows) - len(out)
    text = "\n".join(lines + ["", f"{skipped} of {len(rows)} drawn files gave no speech window (the detector answers inconclusive)."])
    print(text)
    (Path(__file__).parent / "results" / "window_consistency.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
