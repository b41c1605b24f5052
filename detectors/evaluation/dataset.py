"""What to evaluate: labelled files from a CSV manifest or a ``<modality>/<real|fake>/...`` folder.

A manifest row names its file (relative to the manifest's folder), label, modality, kind
(gan-face, diffusion, tts ...) and source repository. In the folder layout the kind is
"unknown" and the source is the first folder below ``<modality>/<label>/`` (files lying
directly in the label folder get the source "unknown").
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.evaluation.split import MODALITIES, sources_for

LABELS = {"real": 0, "fake": 1}
UNKNOWN = "unknown"
REQUIRED_COLUMNS = ("file", "label", "modality")


@dataclass(frozen=True)
class Item:
    """One labelled file to score."""

    path: Path
    label: int  # 1 = fake, 0 = real
    modality: str
    kind: str
    source: str
    file: str  # as written in the manifest / relative to the folder (for reports)

    @property
    def label_name(self) -> str:
        return "fake" if self.label else "real"


class DatasetError(ValueError):
    """The data folder or manifest cannot be read as an evaluation set."""


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """The rows of a manifest CSV, checked for the columns the harness needs."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: manifest lacks columns {missing}")
        return list(reader)


def items_from_rows(rows: Iterable[Mapping[str, str]], root: Path) -> list[Item]:
    """Items from manifest rows; ``file`` is relative to ``root`` (the manifest's folder)."""
    items = []
    for i, r in enumerate(rows):
        label = r["label"].strip().lower()
        if label not in LABELS:
            raise DatasetError(f"row {i + 2}: label {r['label']!r} is neither 'real' nor 'fake'")
        modality = r["modality"].strip().lower()
        if modality not in MODALITIES:
            raise DatasetError(f"row {i + 2}: modality {r['modality']!r} is not one of {MODALITIES}")
        items.append(
            Item(
                path=root / r["file"],
                label=LABELS[label],
                modality=modality,
                kind=(r.get("kind") or "").strip() or UNKNOWN,
                source=(r.get("source_repo") or "").strip() or UNKNOWN,
                file=r["file"],
            )
        )
    return items


def items_from_folder(root: str | Path) -> list[Item]:
    """Every file under ``root/<modality>/<real|fake>/`` (hidden files skipped), sorted by path."""
    root = Path(root)
    items = []
    for modality in MODALITIES:
        for label, value in LABELS.items():
            base = root / modality / label
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*")):
                rel = path.relative_to(base)
                if not path.is_file() or any(part.startswith(".") for part in rel.parts):
                    continue
                source = rel.parts[0] if len(rel.parts) > 1 else UNKNOWN
                items.append(Item(path, value, modality, UNKNOWN, source, str(path.relative_to(root))))
    if not items:
        raise DatasetError(f"{root}: no files under <modality>/<real|fake>/ (modality one of {MODALITIES})")
    return items


def load_items(data: str | Path) -> list[Item]:
    """Items from a manifest CSV (a file) or a folder laid out as ``<modality>/<real|fake>/...``."""
    data = Path(data)
    if data.is_file():
        return items_from_rows(read_manifest(data), data.parent)
    if data.is_dir():
        return items_from_folder(data)
    raise DatasetError(f"{data}: no such file or folder")


def select(
    items: Iterable[Item],
    split: Mapping[str, Any] | None = None,
    subset: str = "all",
    modalities: Iterable[str] | None = None,
    limit_per_kind: int | None = None,
    seed: int = 0,
) -> list[Item]:
    """Items of the wanted modalities and split part, optionally at most N per (modality, kind, label).

    ``subset`` other than "all" needs a split. The per-kind limit draws a seeded random sample
    (manifests are sorted by source, so "the first N" would be one source only) and keeps the
    original order.
    """
    wanted = set(modalities or MODALITIES)
    chosen = [it for it in items if it.modality in wanted]
    if subset != "all":
        if split is None:
            raise DatasetError(f"--subset {subset} needs a split file")
        chosen = [it for it in chosen if it.source in sources_for(split, it.modality, subset)]
    if limit_per_kind:
        groups: dict[tuple[str, str, int], list[int]] = defaultdict(list)
        for i, it in enumerate(chosen):
            groups[(it.modality, it.kind, it.label)].append(i)
        rng = np.random.default_rng(seed)
        keep: set[int] = set()
        for key in sorted(groups):
            idx = groups[key]
            if len(idx) > limit_per_kind:
                idx = list(rng.choice(idx, size=limit_per_kind, replace=False))
            keep.update(int(i) for i in idx)
        chosen = [it for i, it in enumerate(chosen) if i in keep]
    return chosen
