"""Does training on the ``aug`` view shrink the as-is -> MP3 32 kbit/s gap? (audio v2, second pass)

    .venv/bin/python experiments/audio/aug_training.py

On the nested 20-per-group draw (1,934 files, the core's folds, min_fakes 20), the shipped heads
(ridge on Whisper states 1-3, non-negative fusion) are trained per fold either on the training
rows as-is, or on the training rows as-is plus one ``aug`` copy of each (codec / band limit /
RawBoost / reverb / noise / loudness chain, real and fake alike, seed 0), and the held-out rows
are scored as-is and as 32 kbit/s MP3. The augmented copies of held-out rows are never used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from detectors.audio.v2_data import VIEW_SUBCAP, labels, load_rows
from detectors.audio.v2_train import Config, load_features, logo_eval, summary_table
from detectors.evaluation import logo

OUT = Path(__file__).parent / "results"


def main() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rows = load_rows(subcap=VIEW_SUBCAP)
    y = labels(rows)
    paths = [r["path"] for r in rows]
    folds = logo.logo_folds(rows, min_fakes=20)
    views = {v: load_features(paths, ["whisper"], v) for v in ("as-is", "mp3-32k", "aug")}
    heads = Config().heads
    test = {v: views[v] for v in ("as-is", "mp3-32k")}
    res = {
        "trained as-is": logo_eval(heads, views["as-is"], y, rows, folds, test, n_boot=100),
        "trained as-is + aug": logo_eval(heads, views["as-is"], y, rows, folds, test, n_boot=100,
                                         train_extra=(views["aug"], np.arange(len(y)))),
    }
    lines = [f"{len(rows)} files, {len(folds)} folds; heads {[h.name for h in heads]} + non-negative fusion.", ""]
    for name, r in res.items():
        lines += [f"### {name}", "", summary_table(r), ""]
    text = "\n".join(lines)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "aug_training.md").write_text(text)
    (OUT / "aug_training.json").write_text(json.dumps({"rows": len(rows), "folds": len(folds), "results": res},
                                                      indent=1, default=float))


if __name__ == "__main__":
    main()
