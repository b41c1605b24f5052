"""Markdown tables for models/audio/MODEL_CARD.md from a training report (``training.json``).

    .venv/bin/python experiments/audio/card_tables.py models/audio/whisper/training.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from detectors.audio.v2_train import summary_table
from detectors.evaluation.logo import format_logo_table


def main() -> None:
    rep = json.loads(Path(sys.argv[1]).read_text())
    print(f"### As-is, {rep['rows']} files ({rep['fakes']} fake), {rep.get('folds')} folds: summary\n")
    both = {"as-is": {**rep["as-is"]["as-is"], **rep["as-is-metadata"]["as-is"]}}
    print(summary_table(both) + "\n")
    v = rep["views"]
    print(f"### As-is and re-encoded, nested draw of {v['rows']} files ({v['fakes']} fake, {v['subcap']} per group), "
          f"{v['folds']} folds: summary\n")
    merged = {view: {**v["default"][view], **v["baselines"].get(view, {})} for view in v["default"]}
    print(summary_table(merged) + "\n")
    for name, fr in rep["as-is"]["as-is"].items():
        print(format_logo_table(fr, f"Per held-out family, {name}, as-is ({rep['rows']} files)") + "\n")
    print("### Operating points (fitted on out-of-fold scores)\n")
    print("```\n" + json.dumps(rep["operating_points"], indent=1) + "\n```")


if __name__ == "__main__":
    main()
