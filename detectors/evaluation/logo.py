"""Leave-one-generator-family-out (LOGO) folds: the field's measure of generalisation.

For each generator family (StyleGAN, SD 1.x, FLUX, face swap, YourTTS, HiFi-GAN ...) a fold
trains on every other family and tests on the held-out one, against real media from sources
that are held out too, so neither the generator nor the recording/photo chain of the test reals
was seen in training. Families with fewer than ``min_fakes`` files are pooled per kind
("other:tts", "other:diffusion" ...) so every fold has enough fakes for an AUC with an interval.

Rows are manifest rows (mappings) with ``label`` ("real"/"fake"), ``family`` (fakes), ``kind``
and ``source_repo`` (or ``source``). Every function here works on row indices, so callers keep
their features in arrays aligned with the rows.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.evaluation import metrics


@dataclass(frozen=True)
class Fold:
    """One held-out family (or pooled group of small families) and the rows on each side."""

    name: str
    families: tuple[str, ...]
    train: np.ndarray
    test: np.ndarray
    test_real_sources: tuple[str, ...] = field(default_factory=tuple)


def refold(folds: Sequence[Fold], rows: Sequence[Mapping[str, str]], train_mask: np.ndarray,
           test_mask: np.ndarray) -> list[Fold]:
    """The same held-out groups (each fold's fake families and real sources) on other ``rows``:
    held out where ``test_mask``, trained on where ``train_mask`` and in no held-out group. Folds
    made on one draw (e.g. at most 120 files per group) then train on another (every file) and
    test on the same files, whatever the other draw's group sizes would have made the folds."""
    fam = np.array([_family(r) if _is_fake(r) else "" for r in rows])
    src = np.array([_source(r) for r in rows])
    fake = np.array([_is_fake(r) for r in rows], dtype=bool)
    out = []
    for f in folds:
        held = (fake & np.isin(fam, list(f.families))) | (~fake & np.isin(src, list(f.test_real_sources)))
        out.append(Fold(f.name, f.families, np.flatnonzero(~held & train_mask), np.flatnonzero(held & test_mask),
                        f.test_real_sources))
    return out


def union_draws(train_rows: Sequence[Mapping], test_rows: Sequence[Mapping], key: str = "path"
                ) -> tuple[list[Mapping], np.ndarray, np.ndarray]:
    """Two draws of one corpus as one row list (``train_rows``, then the test rows it lacks, matched
    by ``key``) with a mask for each draw: the input of ``refold``."""
    in_train = {r[key] for r in train_rows}
    in_test = {r[key] for r in test_rows}
    rows = list(train_rows) + [r for r in test_rows if r[key] not in in_train]
    return rows, np.array([r[key] in in_train for r in rows]), np.array([r[key] in in_test for r in rows])


def _family(row: Mapping[str, str]) -> str:
    return row.get("family") or row.get("generator") or row.get("kind") or "unknown"


def _source(row: Mapping[str, str]) -> str:
    return row.get("source_repo") or row.get("source") or "unknown"


def _is_fake(row: Mapping[str, str]) -> bool:
    return str(row["label"]).strip().lower() in ("fake", "1")


def fold_families(rows: Sequence[Mapping[str, str]], min_fakes: int = 20) -> dict[str, tuple[str, ...]]:
    """Fold name -> the fake families it holds out; small families pooled per kind."""
    counts: Counter[str] = Counter()
    kind_of: dict[str, str] = {}
    for r in rows:
        if _is_fake(r):
            fam = _family(r)
            counts[fam] += 1
            kind_of.setdefault(fam, r.get("kind") or "unknown")
    folds: dict[str, list[str]] = {}
    pooled: dict[str, list[str]] = defaultdict(list)
    for fam, n in sorted(counts.items()):
        if n >= min_fakes:
            folds[fam] = [fam]
        else:
            pooled[f"other:{kind_of[fam]}"].append(fam)
    for name, fams in sorted(pooled.items()):
        if sum(counts[f] for f in fams) >= max(5, min_fakes // 4):
            folds[name] = fams
        else:  # too few even pooled: one last catch-all fold
            folds.setdefault("other", []).extend(fams)
    return {k: tuple(v) for k, v in folds.items()}


def real_source_groups(rows: Sequence[Mapping[str, str]], n_groups: int = 5, seed: int = 0) -> list[list[str]]:
    """Real sources partitioned into ``n_groups`` groups of similar file counts (deterministic)."""
    counts: Counter[str] = Counter(_source(r) for r in rows if not _is_fake(r))

    def tie(src: str) -> str:
        return hashlib.sha256(f"{seed}:{src}".encode()).hexdigest()

    groups: list[list[str]] = [[] for _ in range(max(1, n_groups))]
    sizes = [0] * len(groups)
    for src in sorted(counts, key=lambda s: (-counts[s], tie(s))):
        g = int(np.argmin(sizes))
        groups[g].append(src)
        sizes[g] += counts[src]
    return groups


def logo_folds(
    rows: Sequence[Mapping[str, str]], min_fakes: int = 20, n_real_groups: int = 5, seed: int = 0
) -> list[Fold]:
    """One fold per family: test = its fakes + held-out reals; train = everything else.

    The held-out reals are one of ``n_real_groups`` groups of real sources (rotating over the
    folds) plus the reals of every repository the held-out fakes come from (a demo page's
    reference recordings share its recording chain). Nothing in test is in train.
    """
    fold_map = fold_families(rows, min_fakes)
    groups = real_source_groups(rows, n_real_groups, seed)
    fam_of = [_family(r) if _is_fake(r) else None for r in rows]
    src_of = [_source(r) for r in rows]
    fake_mask = np.array([_is_fake(r) for r in rows], dtype=bool)
    folds = []
    for i, (name, fams) in enumerate(fold_map.items()):
        held = set(fams)
        fake_test = np.array([f in held for f in fam_of], dtype=bool)
        fake_repos = {src_of[j] for j in np.flatnonzero(fake_test)}
        real_sources = set(groups[i % len(groups)]) | fake_repos
        real_test = ~fake_mask & np.array([s in real_sources for s in src_of], dtype=bool)
        test = fake_test | real_test
        held_reals = sorted({src_of[j] for j in np.flatnonzero(real_test)})
        folds.append(Fold(name, tuple(fams), np.flatnonzero(~test), np.flatnonzero(test), tuple(held_reals)))
    return folds


def run_logo(
    labels: np.ndarray,
    folds: Sequence[Fold],
    fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    n_boot: int = 200,
) -> list[dict]:
    """Score each fold with ``fit_predict(train_idx, test_idx) -> test scores``; one metrics row a fold.

    The rows carry AUC and EER with bootstrap intervals and the counts; ``summary_row`` adds the
    mean over folds. Scores may be any monotone score (AUC/EER need no calibration).
    """
    y = np.asarray(labels, dtype=int)
    out = []
    for fold in folds:
        yt = y[fold.test]
        if len(np.unique(yt)) < 2 or len(np.unique(y[fold.train])) < 2:
            continue
        p = np.asarray(fit_predict(fold.train, fold.test), dtype=np.float64)
        rate, _ = metrics.eer(yt, p)
        out.append({
            "fold": fold.name,
            "n_real": int((yt == 0).sum()),
            "n_fake": int((yt == 1).sum()),
            "auc": metrics.auc(yt, p),
            "auc_ci": list(metrics.bootstrap_ci(metrics.auc, yt, p, n=n_boot)),
            "eer": rate,
            "eer_ci": list(metrics.bootstrap_ci(metrics.eer, yt, p, n=n_boot)),
        })
    return out


def summary_row(fold_rows: Sequence[Mapping]) -> dict:
    """Mean AUC / EER over folds, and the worst fold of each."""
    if not fold_rows:
        return {"fold": "mean", "n_folds": 0}
    aucs = np.array([r["auc"] for r in fold_rows], dtype=float)
    eers = np.array([r["eer"] for r in fold_rows], dtype=float)
    return {
        "fold": "mean",
        "n_folds": len(fold_rows),
        "auc": float(np.nanmean(aucs)),
        "eer": float(np.nanmean(eers)),
        "min_auc": float(np.nanmin(aucs)),
        "max_eer": float(np.nanmax(eers)),
    }


def format_logo_table(fold_rows: Sequence[Mapping], title: str = "") -> str:
    """A markdown table: one row per held-out family, then the mean."""
    lines = [f"**{title}**", ""] if title else []
    lines += ["| held-out family | reals | fakes | AUC [95% CI] | EER [95% CI] |", "|---|---|---|---|---|"]
    for r in fold_rows:
        lines.append(
            f"| {r['fold']} | {r['n_real']} | {r['n_fake']} | {r['auc']:.3f} [{r['auc_ci'][0]:.2f}, {r['auc_ci'][1]:.2f}]"
            f" | {100 * r['eer']:.1f} % [{100 * r['eer_ci'][0]:.0f}, {100 * r['eer_ci'][1]:.0f}] |"
        )
    s = summary_row(fold_rows)
    if s.get("n_folds"):
        lines.append(
            f"| **mean of {s['n_folds']}** | | | **{s['auc']:.3f}** (min {s['min_auc']:.3f}) |"
            f" **{100 * s['eer']:.1f} %** (max {100 * s['max_eer']:.1f} %) |"
        )
    return "\n".join(lines)
