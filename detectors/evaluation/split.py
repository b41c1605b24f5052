"""Source-level train / val / test splits: load, validate, select rows, and generate.

A split assigns whole source repositories (the manifest's ``source_repo``) to one part per
modality, so no generator, speaker set or camera ever appears on two sides. Training uses
"train", calibration and thresholds "val", reported numbers "test". The committed default is
``models/split.json``; ``make_split`` (``deepfake-eval split``) generates one from a manifest.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from detectors.settings import DEFAULT_MODEL_PATH

MODALITIES = ("image", "audio", "video")
PARTS = ("train", "val", "test")
DEFAULT_SPLIT_PATH = DEFAULT_MODEL_PATH / "split.json"


class SplitError(ValueError):
    """The split file is malformed or puts one source on two sides."""


def validate_split(split: Mapping[str, Any]) -> None:
    """Raise ``SplitError`` unless every modality maps train/val/test to disjoint lists of sources."""
    found = [m for m in MODALITIES if m in split]
    if not found:
        raise SplitError(f"split has none of the modalities {MODALITIES}")
    for modality in found:
        parts = split[modality]
        if not isinstance(parts, Mapping):
            raise SplitError(f"split[{modality!r}] must be an object of parts")
        unknown = set(parts) - set(PARTS)
        if unknown:
            raise SplitError(f"split[{modality!r}] has unknown parts {sorted(unknown)}; expected {PARTS}")
        seen: dict[str, str] = {}
        for part in PARTS:
            sources = parts.get(part, [])
            if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
                raise SplitError(f"split[{modality!r}][{part!r}] must be a list of source names")
            for source in sources:
                if source in seen and seen[source] != part:
                    raise SplitError(
                        f"{modality}: source {source!r} is in both {seen[source]!r} and {part!r}"
                    )
                if source in seen:
                    raise SplitError(f"{modality}: source {source!r} listed twice in {part!r}")
                seen[source] = part


def load_split(path: str | Path = DEFAULT_SPLIT_PATH) -> dict:
    """Read and validate a split file (default ``models/split.json``)."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise SplitError(f"{path}: not valid JSON: {exc}") from exc
    validate_split(data)
    return data


def sources_for(split: Mapping[str, Any], modality: str, part: str) -> set[str]:
    """The sources of one modality in one part ("train", "val", "test", or "all")."""
    parts = split.get(modality, {})
    if part == "all":
        return {s for p in PARTS for s in parts.get(p, [])}
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {PARTS} or 'all'")
    return set(parts.get(part, []))


def part_of(split: Mapping[str, Any], modality: str, source: str) -> str | None:
    """Which part a source belongs to for a modality; None when the split does not list it."""
    for part in PARTS:
        if source in split.get(modality, {}).get(part, []):
            return part
    return None


def rows_for(
    manifest_rows: Iterable[Mapping[str, str]], split: Mapping[str, Any], modality: str, part: str
) -> list[Mapping[str, str]]:
    """The manifest rows of one modality whose source is in ``part`` (rows from unlisted sources drop out)."""
    wanted = sources_for(split, modality, part)
    return [r for r in manifest_rows if r["modality"] == modality and r["source_repo"] in wanted]


def check_against_manifest(split: Mapping[str, Any], manifest_rows: Iterable[Mapping[str, str]]) -> list[str]:
    """Problems a reader should know about: manifest sources the split leaves out, listed sources
    with no files, and sources whose media sit in different parts for different modalities
    (the video detector runs the image and audio detectors, so such a source can leak)."""
    present: dict[str, set[str]] = defaultdict(set)
    for r in manifest_rows:
        present[r["modality"]].add(r["source_repo"])
    problems: list[str] = []
    for modality in MODALITIES:
        listed = sources_for(split, modality, "all")
        for source in sorted(present.get(modality, set()) - listed):
            problems.append(f"{modality}: source {source!r} is in the manifest but in no part of the split")
        if modality in present:
            for source in sorted(listed - present[modality]):
                problems.append(f"{modality}: source {source!r} is in the split but has no {modality} files")
    problems.extend(cross_modality_conflicts(split))
    return problems


def cross_modality_conflicts(split: Mapping[str, Any]) -> list[str]:
    """Sources assigned to different parts in different modalities (allowed, but worth knowing)."""
    where: dict[str, dict[str, str]] = defaultdict(dict)
    for modality in MODALITIES:
        for part in PARTS:
            for source in split.get(modality, {}).get(part, []):
                where[source][modality] = part
    out = []
    for source, parts in sorted(where.items()):
        if len(set(parts.values())) > 1:
            desc = ", ".join(f"{m} {p}" for m, p in parts.items())
            out.append(f"source {source!r} sits in different parts across modalities ({desc})")
    return out


def _source_counts(rows: Iterable[Mapping[str, str]]) -> dict[str, dict[str, np.ndarray]]:
    """modality -> source -> [n_real, n_fake]."""
    counts: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for r in rows:
        c = counts[r["modality"]].setdefault(r["source_repo"], np.zeros(2, dtype=np.int64))
        c[1 if r["label"] == "fake" else 0] += 1
    return counts


def _family_matrix(rows: Iterable[Mapping[str, str]], modality: str, sources: list[str]) -> np.ndarray:
    """(n_sources, n_families): fake files per generator family (``family`` column, else ``kind``)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        if r["modality"] == modality and r["label"] == "fake":
            counts[r.get("family") or r.get("kind") or "unknown"][r["source_repo"]] += 1
    fams = sorted(counts)
    return np.array([[counts[f].get(s, 0) for f in fams] for s in sources], dtype=np.int64).reshape(len(sources), len(fams))


def _cost(assign: np.ndarray, counts: np.ndarray, targets: np.ndarray, family_weight: float = 1.0) -> float:
    """How far one modality's assignment is from the target shares, plus penalties.

    counts: (n_sources, 2 + n_families): real files, fake files, then fake files per family;
    assign: part index per source. Squared error of each part's share of the real and of the fake
    files against its target share; +1 for each part that lacks a label the modality has (when the
    sources allow it); +5 for an empty part; plus ``family_weight`` x the same squared error per
    family, weighted by the family's share of the fakes (so each part sees the families in
    proportion where the sources allow: a test part of one family makes a poor headline table).
    """
    totals = counts.sum(axis=0)
    n_fake = max(int(totals[1]), 1)
    cost = 0.0
    for k in range(len(targets)):
        in_k = assign == k
        mine = counts[in_k].sum(axis=0)
        if not in_k.any():
            cost += 5.0
            continue
        for label in (0, 1):
            if totals[label] == 0:
                continue
            cost += (mine[label] / totals[label] - targets[k]) ** 2
            if mine[label] == 0 and (counts[:, label] > 0).sum() >= len(targets):
                cost += 1.0
        if family_weight and counts.shape[1] > 2:
            fam_tot = totals[2:]
            used = fam_tot > 0
            shares = mine[2:][used] / fam_tot[used]
            cost += family_weight * float(np.sum(fam_tot[used] / n_fake * (shares - targets[k]) ** 2))
    return cost


def _local_search(
    n_units: int, cost_fn: Callable[[np.ndarray], float], part_ids: list[int], rng: np.random.Generator, restarts: int,
    fixed: Mapping[int, int] | None = None,
) -> np.ndarray:
    """Lowest-cost assignment of units to parts: random starts, then move one unit at a time while it
    helps. Units in ``fixed`` (unit -> part) never move."""
    fixed = dict(fixed or {})
    best, best_cost = None, np.inf
    for _ in range(max(1, restarts)):
        assign = rng.choice(part_ids, size=n_units)
        for u, k in fixed.items():
            assign[u] = k
        cost = cost_fn(assign)
        improved = True
        while improved:
            improved = False
            for u in rng.permutation(n_units):
                if u in fixed:
                    continue
                keep = assign[u]
                for k in part_ids:
                    if k == keep:
                        continue
                    assign[u] = k
                    trial = cost_fn(assign)
                    if trial < cost - 1e-12:
                        cost, keep, improved = trial, k, True
                assign[u] = keep
        if cost < best_cost:
            best, best_cost = assign.copy(), cost
    return best


def make_split(
    manifest_rows: Iterable[Mapping[str, str]],
    seed: int = 0,
    val: float = 0.2,
    test: float = 0.3,
    restarts: int = 100,
    consistent: bool = True,
    description: str = "",
    keep_test: Mapping[str, Any] | None = None,
    family_weight: float = 1.0,
) -> dict:
    """Assign whole sources to train / val / test, aiming at the given shares of real and fake files.

    A seeded local search (random starts, then single-source moves while the cost drops; see
    ``_cost``), so the result is reproducible. A source with both real and fake files goes wholly
    to one part. With ``consistent`` a source shared by several modalities lands in the same part
    in all of them (the video detector runs the image and audio models, so this avoids a leak).
    """
    if not (0 <= val < 1 and 0 < test < 1 and val + test < 1):
        raise ValueError("need 0 <= val, 0 < test and val + test < 1")
    rows = list(manifest_rows)
    targets = np.array([1.0 - val - test, val, test])
    counts = _source_counts(rows)
    modalities = [m for m in MODALITIES if m in counts]
    rng = np.random.default_rng(seed)
    part_ids = [0, 1, 2] if val > 0 else [0, 2]
    test_id = PARTS.index("test")
    held: dict[str, set[str]] = {m: sources_for(keep_test, m, "test") if keep_test else set() for m in modalities}

    def matrix(m: str) -> np.ndarray:
        names = sorted(counts[m])
        return np.hstack([np.stack([counts[m][s] for s in names]), _family_matrix(rows, m, names)])

    chosen: dict[str, dict[str, int]] = {}
    if consistent:
        units = sorted({s for m in modalities for s in counts[m]})
        unit_index = {s: i for i, s in enumerate(units)}
        per_mod = {m: (np.array([unit_index[s] for s in sorted(counts[m])]), matrix(m)) for m in modalities}

        def total_cost(assign: np.ndarray) -> float:
            return sum(_cost(assign[idx], c, targets, family_weight) for idx, c in per_mod.values())

        fixed = {unit_index[s]: test_id for m in modalities for s in held[m] if s in unit_index}
        best = _local_search(len(units), total_cost, part_ids, rng, restarts, fixed)
        chosen = {m: dict(zip(sorted(counts[m]), best[per_mod[m][0]], strict=True)) for m in modalities}
    else:
        for m in modalities:
            names = sorted(counts[m])
            c = matrix(m)
            fixed = {i: test_id for i, s in enumerate(names) if s in held[m]}
            best = _local_search(len(names), lambda a, c=c: _cost(a, c, targets, family_weight), part_ids, rng,
                                 restarts, fixed)
            chosen[m] = dict(zip(names, best, strict=True))

    split: dict[str, Any] = {
        "description": description
        or "Generated source-level split (deepfake-eval split): whole sources per part, per modality.",
        "params": {"seed": seed, "val": val, "test": test, "restarts": restarts, "consistent": consistent,
                   "family_weight": family_weight, "kept_test": {m: sorted(v) for m, v in held.items() if v}},
    }
    for m in modalities:
        split[m] = {part: sorted(s for s, k in chosen[m].items() if PARTS[k] == part) for part in PARTS}
    validate_split(split)
    return split


def split_summary(split: Mapping[str, Any], manifest_rows: Iterable[Mapping[str, str]]) -> list[dict]:
    """Files per modality x part x label, for printing next to a split."""
    counts = _source_counts(manifest_rows)
    out = []
    for m in MODALITIES:
        if m not in split:
            continue
        for part in PARTS:
            srcs = sources_for(split, m, part)
            total = sum((counts[m][s] for s in srcs if s in counts[m]), np.zeros(2, dtype=np.int64))
            out.append({"modality": m, "part": part, "sources": len(srcs), "real": int(total[0]), "fake": int(total[1])})
    return out


def write_split(split: Mapping[str, Any], path: str | Path) -> None:
    """Write a split as indented JSON (validated first)."""
    validate_split(split)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(split, indent=2) + "\n")
