"""Per held-out family table of the shipped recipe (nested_variants.json) beside the previous recipe and metadata.

    .venv/bin/python experiments/audio/card_nested_family.py
"""

from __future__ import annotations

import json
from pathlib import Path

R = Path(__file__).parent / "results"


def main() -> None:
    nv = json.loads((R / "nested_variants.json").read_text())["results"]
    old = json.loads((R / "default.json").read_text())["results"]["as-is"]
    ship = {r["fold"]: r for r in nv["l1-3 with logistic l2"]}
    sel = {r["fold"]: r for r in nv["selected (nested)"]}
    prev = {r["fold"]: r for r in nv["default l1-3"]}
    meta = {r["fold"]: r for r in old["metadata"]}
    print("| held-out family | reals | fakes | shipped AUC [95% CI] | shipped EER [95% CI] | selection procedure EER | "
          "previous recipe (ridge states 1-3) EER | metadata EER |")
    print("|---|---|---|---|---|---|---|---|")
    for f, r in ship.items():
        print(f"| {f} | {r['n_real']} | {r['n_fake']} | {r['auc']:.3f} [{r['auc_ci'][0]:.2f}, {r['auc_ci'][1]:.2f}] | "
              f"{100 * r['eer']:.1f} % [{100 * r['eer_ci'][0]:.0f}, {100 * r['eer_ci'][1]:.0f}] | {100 * sel[f]['eer']:.1f} % | "
              f"{100 * prev[f]['eer']:.1f} % | {100 * meta[f]['eer']:.1f} % |")


if __name__ == "__main__":
    main()
