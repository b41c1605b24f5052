"""Do the shipped image detector's end-to-end scores match the cached features its heads were fitted on?

    .venv/bin/python experiments/image/detector_consistency.py --n 200

Why: the heads, fusion, calibration and operating points of ``image-clip`` are fitted on cached
features of each image's whole view at equalised resolution (``extract_whole.py --whole-short 128``),
while the service decodes the upload, runs the detector's own front end (``prepare_rgb``: the same
equalisation, face detection for the evidence) and the ONNX encoder again. If the two paths differ
(resampling, colour conversion, EXIF orientation, the encoder's batch), the calibrated probability
and the verdicts in deployment are not the ones the card measured.

Protocol: a fixed random draw (seed 0) of the card's 3,022 rows; per image the calibrated
probability from the cached as-is features (``V2Model.probability`` of its heads' scores) and the
``fakeProbability`` of ``ClipImageDetector`` end to end. Reported: correlation, largest and mean
absolute difference, verdict agreement. The model saw these images: consistency, not accuracy.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    from probe_scale import cached_rows, cached_whole
    from scipy.stats import pearsonr

    from detectors.image.clip_detector import ClipImageDetector
    from detectors.media import make_media_ref

    rows = cached_rows(300)[0]
    pick = sorted(np.random.default_rng(0).choice(len(rows), size=min(args.n, len(rows)), replace=False))
    paths = [rows[i]["path"] for i in pick]
    det = ClipImageDetector()
    det.load()
    m = det.model
    feats, ok = cached_whole(paths, views=("as-is",), whole_short=det.whole_short)
    cached = m.probability({h: m.head_score(h, feats["as-is"]) for h in m.fusion_weights})
    out, skipped = [], 0
    for p, c, good in zip(paths, cached, ok, strict=True):
        r = det.analyze(make_media_ref(p))
        if not good or r.fake_probability is None:
            skipped += 1
            continue
        out.append((float(c), float(r.fake_probability), r.verdict))
    c, e = np.array([o[0] for o in out]), np.array([o[1] for o in out])
    ops = m.operating_points

    def verdict(p: float) -> str:
        return "fake" if p >= ops.fake_above else "real" if p < ops.real_below else "inconclusive"

    agree = np.mean([verdict(a) == v for a, (_, _, v) in zip(c, out, strict=True)])
    d = np.abs(e - c)
    text = "\n".join([
        "| images | Pearson r | mean abs difference in p | largest | verdict agrees |", "|---|---|---|---|---|",
        f"| {len(out)} | {pearsonr(c, e)[0]:.4f} | {d.mean():.4f} | {d.max():.4f} | {100 * agree:.0f} % |", "",
        f"{skipped} of {len(paths)} drawn images skipped (no cached features or no probability)."])
    print(text)
    (Path(__file__).parent / "results" / "detector_consistency.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
