"""The card's held-out folds split by which reals a family is tested against: its own page's, or others'.

    .venv/bin/python experiments/audio/own_reals.py

Why: each fold tests the held-out family's fakes against two kinds of held-out reals
(``logo.logo_folds``): one rotating group of real-speech corpora, and the real recordings of the
repositories the family's fakes come from (a demo page's reference or ground-truth clips, which
share its recording chain, loudness and often its speakers). A family above 30 % EER may fail
against both, or only against its own page's reals (the hardest and fairest pairing: same chain,
so only the synthesis can tell them apart). No new fits: the shipped recipe's held-out scores per
fold (its heads and fusion as ``band_views.py table`` and ``silence_trim.py table`` fuse them;
run ``nuisance_projection.py run`` and ``band_views.py fit --logistic --views as-is,...`` first),
with the EER computed three ways: against every held-out real (the card's figure), against the
group's reals only, and against the own repositories' reals only (where there are at least 10).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from nested_variants import card_rows  # noqa: E402

OUT = Path(__file__).parent / "results"
MIN_OWN = 10


def main() -> None:
    import band_views
    from nested_variants import fuse_and_select, saved_head, scores_beside_ridge

    from detectors.evaluation import logo, metrics

    rows, y, folds = card_rows()
    z = scores_beside_ridge(band_views.SCORES, "as-is")
    shipped = {"shipped": ["as-is:l1", "as-is:log2", "as-is:l3"]}

    score = fuse_and_select(y, rows, folds, shipped, saved_head(z, "test"), saved_head(z, "oof"))[0]["shipped"]
    src = np.array([logo._source(r) for r in rows])
    groups = logo.real_source_groups(rows, 5, 0)
    lines = ["| held-out family | own reals | group reals | fakes | EER, every held-out real (card) | vs the group's reals | vs its own repositories' reals |",
             "|---|---|---|---|---|---|---|"]
    every, grp, own = [], [], []
    for fi, f in enumerate(folds):
        te = f.test
        s, yt = score[fi, te], y[te]
        fake_repos = set(src[te][yt == 1])
        own_mask = (yt == 0) & np.isin(src[te], sorted(fake_repos))
        grp_mask = (yt == 0) & np.isin(src[te], groups[fi % len(groups)]) & ~own_mask
        fakes = yt == 1

        def eer(reals: np.ndarray, yt=yt, s=s, fakes=fakes) -> float:
            keep = reals | fakes
            return metrics.eer(yt[keep], s[keep])[0]

        e_all, e_grp = eer(own_mask | grp_mask), eer(grp_mask)
        e_own = eer(own_mask) if own_mask.sum() >= MIN_OWN else float("nan")
        every.append(e_all)
        grp.append(e_grp)
        own.append(e_own)
        cell = "–" if np.isnan(e_own) else f"{100 * e_own:.1f} %"
        lines.append(f"| {f.name} | {int(own_mask.sum())} | {int(grp_mask.sum())} | {int(fakes.sum())} | "
                     f"{100 * e_all:.1f} % | {100 * e_grp:.1f} % | {cell} |")
    every, grp, own = (np.array(v) for v in (every, grp, own))
    has = np.isfinite(own)
    summary = [
        f"{len(y)} files, {len(folds)} folds; the shipped recipe's held-out scores (ridge 1, logistic 2, ridge 3, fused per fold).",
        "",
        "| reals tested against | folds | mean EER | folds > 30 % |",
        "|---|---|---|---|",
        f"| every held-out real (the card) | {len(every)} | {100 * every.mean():.1f} % | {int((every > 0.3).sum())} |",
        f"| the rotating group's reals only | {len(grp)} | {100 * grp.mean():.1f} % | {int((grp > 0.3).sum())} |",
        f"| folds with >= {MIN_OWN} own reals: every held-out real | {int(has.sum())} | {100 * every[has].mean():.1f} % | {int((every[has] > 0.3).sum())} |",
        f"| the same folds: the group's reals only | {int(has.sum())} | {100 * grp[has].mean():.1f} % | {int((grp[has] > 0.3).sum())} |",
        f"| the same folds: their own repositories' reals only | {int(has.sum())} | {100 * own[has].mean():.1f} % | {int((own[has] > 0.3).sum())} |",
        "",
    ]
    text = "\n".join(summary + lines)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "own_reals.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
