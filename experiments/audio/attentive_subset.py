"""The attentive head (``v2_model.AttentiveHead``: attention pooling over the 16 time chunks of
Whisper state 2), cross-validated at last, on the hard-family subset of ``subset_probe.py``.

    .venv/bin/python experiments/audio/attentive_subset.py [--n-boot 50]

Same 560 files and 15 folds as ``subset_probe.py`` / ``vocoded_reals.py`` (features from the cache
``vocoded_reals.py extract`` fills); heads trained on the other families and the training real
sources, as-is: the shipped recipe (states 1-3, fused), the attentive head alone, and the shipped
heads fused with it (non-negative fusion on inner out-of-fold scores). The head is a small network
trained by SGD, seeded per fold (``logo_eval``). Compare rows with each other only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import family_eer_lines, save  # noqa: E402
from subset_probe import subset_rows  # noqa: E402

from detectors.audio.v2_data import labels  # noqa: E402
from detectors.audio.v2_train import Config, HeadSpec, load_features, logo_eval  # noqa: E402
from detectors.evaluation import logo  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-boot", type=int, default=50)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    rows = subset_rows()
    y = labels(rows)
    feats = {"whisper": load_features([r["path"] for r in rows], ["whisper"], "as-is")["whisper"]}
    folds = logo.logo_folds(rows, min_fakes=20)
    shipped = Config().heads
    res = {"shipped recipe": logo_eval(shipped, feats, y, rows, folds, n_boot=a.n_boot)}
    att = HeadSpec("attentive-l2", "whisper", ["l2_seq"], kind="attentive")
    res["attentive head"] = logo_eval([att], feats, y, rows, folds, fuse=False, n_boot=a.n_boot)
    res["shipped + attentive"] = logo_eval([*shipped, att], feats, y, rows, folds, n_boot=a.n_boot)
    lines = [f"Subset of `subset_probe.py`: {len(rows)} files ({int(y.sum())} fake), {len(folds)} folds, as-is", "",
             *family_eer_lines(res, folds)]
    save("attentive_subset", "\n".join(lines), {"rows": len(rows), "results": res})


if __name__ == "__main__":
    main()
