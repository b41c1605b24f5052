"""Side-by-side per-family tables for the audio experiments' LOGO results, and where they are saved."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results"


def family_eer_lines(res: Mapping[str, Mapping], folds: Sequence, mark: Callable[[str], str] = lambda name: "") -> list[str]:
    """One column per result (its fused rows, else its only head), one row per held-out family:
    EER per family, then the mean EER, mean AUC and the number of families above 30 %."""
    by = [{row["fold"]: row for row in (r["as-is"].get("fused") or next(iter(r["as-is"].values())))} for r in res.values()]
    lines = ["| held-out family | " + " | ".join(res) + " |", "|---|" + "---|" * len(res)]
    for f in folds:
        lines.append(f"| {f.name}{mark(f.name)} | "
                     + " | ".join(f"{100 * b[f.name]['eer']:.1f} %" if f.name in b else "–" for b in by) + " |")
    return lines + [
        "| **mean EER** | " + " | ".join(f"**{100 * np.mean([r['eer'] for r in b.values()]):.1f} %**" for b in by) + " |",
        "| mean AUC | " + " | ".join(f"{np.mean([r['auc'] for r in b.values()]):.3f}" for b in by) + " |",
        "| families above 30 % | " + " | ".join(str(sum(r["eer"] > 0.30 for r in b.values())) for b in by) + " |", ""]


def save(name: str, text: str, payload: Mapping) -> None:
    """Print ``text`` and write it as results/<name>.md, ``payload`` as results/<name>.json."""
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.md").write_text(text)
    (OUT / f"{name}.json").write_text(json.dumps(payload, indent=1, default=float))
