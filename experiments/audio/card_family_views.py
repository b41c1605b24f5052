"""Per held-out family EER as-is, as 16 kHz WAV and as 32 kbit/s MP3 (nested 20-per-group draw), for the card.

    .venv/bin/python experiments/audio/card_family_views.py [results dir]

Reads the LOGO results of ``logo_probes.py --subcap 20`` (``default_s3_views20.json``: as-is, wav16k and
mp3-32k of the shipped recipe, else the first pass's ``default_views20.json`` + ``default_wav16k_views20.json``;
``v1_views20.json``: the v1 statistics as-is)
and prints one markdown row per fold: fused EER in each view, the v1 and metadata baselines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def by_fold(rows: list[dict]) -> dict[str, dict]:
    return {r["fold"]: r for r in rows}


def main() -> None:
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results"
    if (d / "default_s3_views20.json").exists():  # the second pass: all three views in one run
        mp3 = wav = json.loads((d / "default_s3_views20.json").read_text())["results"]
    else:
        mp3 = json.loads((d / "default_views20.json").read_text())["results"]
        wav = json.loads((d / "default_wav16k_views20.json").read_text())["results"]
    v1 = json.loads((d / "v1_views20.json").read_text())["results"]
    cols = [("fused as-is", by_fold(mp3["as-is"]["fused"])), ("fused 16 kHz WAV", by_fold(wav["wav16k"]["fused"])),
            ("fused MP3 32k", by_fold(mp3["mp3-32k"]["fused"])), ("v1 statistics as-is", by_fold(v1["as-is"]["v1-spectral-stats"])),
            ("metadata as-is", by_fold(mp3["as-is"]["metadata"])), ("metadata MP3 32k", by_fold(mp3["mp3-32k"]["metadata"]))]
    first = cols[0][1]
    print("| held-out family | reals / fakes | " + " | ".join(c for c, _ in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for fold, r in first.items():
        cells = []
        for _, b in cols:
            x = b.get(fold)
            cells.append(f"{100 * x['eer']:.1f} % [{100 * x['eer_ci'][0]:.0f}, {100 * x['eer_ci'][1]:.0f}]" if x else "–")
        print(f"| {fold} | {r['n_real']} / {r['n_fake']} | " + " | ".join(cells) + " |")
    n = len(first)
    means = []
    for _, b in cols:
        e = [b[f]["eer"] for f in first if f in b]
        means.append(f"**{100 * sum(e) / len(e):.1f} %** ({sum(x > 0.30 for x in e)} over 30 %)")
    print(f"| mean of {n} folds | | " + " | ".join(means) + " |")


if __name__ == "__main__":
    main()
