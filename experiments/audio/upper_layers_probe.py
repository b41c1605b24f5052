"""Are Whisper states 4-6 worth running? A LOGO probe on the rows whose all-layer features are cached.

    .venv/bin/python experiments/audio/upper_layers_probe.py

The previous session cached every encoder state (``whisper-base-layers``) for 2,961 of the 5,639
capped rows (the first groups in order: fake families a-s and some real sources) before switching
to the cheaper states-0-3 stream. On exactly those rows, with the core's folds over them
(``logo_folds``, min_fakes 20), this compares the shipped recipe (ridge heads on states 1-3,
non-negative fusion on inner out-of-fold scores) with heads on states 4-6 alone and with all six
fused. It only decides whether extracting states 4-6 for the other rows is worth the encoder
time (blocks 4-6 double it); it is not a result on the whole corpus.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from detectors.audio.v2_data import labels, load_rows
from detectors.audio.v2_train import LAYER_KEYS, HeadSpec, logo_eval, summary_table
from detectors.evaluation import logo
from detectors.features.cache import FeatureCache, derived_key

OUT = Path(__file__).parent / "results"


def main() -> None:
    cache = FeatureCache()
    rows, got = [], []
    for r in load_rows():
        g = cache.get("whisper-base-layers", "1", derived_key(r["sha256"], "as-is", 0))
        if g is not None:
            rows.append(r)
            got.append(g)
    y = labels(rows)
    feats = {"whisper": {k: np.stack([np.asarray(g[k], dtype=np.float32) for g in got])
                         for i in range(7) for k in LAYER_KEYS[f"l{i}"]}}
    folds = logo.logo_folds(rows, min_fakes=20)
    head = {i: HeadSpec(f"whisper-l{i}", "whisper", LAYER_KEYS[f"l{i}"]) for i in range(7)}
    res = {}
    for name, layers in (("states 1-3 (shipped)", (1, 2, 3)), ("states 4-6", (4, 5, 6)),
                         ("states 1-6", (1, 2, 3, 4, 5, 6))):
        r = logo_eval([head[i] for i in layers], feats, y, rows, folds, n_boot=50)["as-is"]
        res[name] = r
        print(name, "\n", summary_table({"as-is": r}), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [f"{len(rows)} files ({int(y.sum())} fake), {len(folds)} folds: the rows with every state cached.", ""]
    for name, r in res.items():
        lines += [f"### {name}", "", summary_table({"as-is": r}), ""]
    (OUT / "upper_layers_probe.md").write_text("\n".join(lines))
    (OUT / "upper_layers_probe.json").write_text(json.dumps({"rows": len(rows), "folds": len(folds), "results": res},
                                                            indent=1, default=float))


if __name__ == "__main__":
    main()
