"""The one manifest reader: labelled files from a CSV manifest or a ``<modality>/<real|fake>/...`` folder.

Every trainer and ``deepfake-eval`` read their data through here. Two manifest formats, one
reader: ``../shared/data/train/manifest.csv`` (file, label, modality, kind, source_repo,
source_path, source_commit, license, label_evidence) and the corpus v2 manifest written by
``deepfake-data build`` (the same plus generator, family, group, sha256, width, height, duration,
sample_rate, format, decision). A row names its file relative to the manifest's folder. Missing
columns read as empty. In the folder layout the kind is "unknown" and the source is the first
folder below ``<modality>/<label>/`` (files lying directly in the label folder get "unknown").

The corpus lives outside the repository: ``corpus_dir()`` is ``DEEPFAKE_CORPUS_DIR`` or
``~/.cache/deepfake-detection/corpus``; ``resolve_manifest("corpus")`` finds its manifest or says
how to build it.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.evaluation.split import MODALITIES, sources_for

LABELS = {"real": 0, "fake": 1}
UNKNOWN = "unknown"
REQUIRED_COLUMNS = ("file", "label", "modality")
SHARED_COLUMNS = ("file", "label", "modality", "kind", "source_repo", "source_path", "source_commit", "license",
                  "label_evidence")
CORPUS_COLUMNS = (*SHARED_COLUMNS, "generator", "family", "group", "sha256", "width", "height", "duration",
                  "sample_rate", "format", "decision")
MANIFEST_NAME = "manifest.csv"
DEFAULT_CORPUS_DIR = Path.home() / ".cache" / "deepfake-detection" / "corpus"
CORPUS = "corpus"  # the name that stands for corpus_dir() wherever a data path is taken


@dataclass(frozen=True)
class Item:
    """One labelled file: where it is, what it is, where it came from (and its manifest row)."""

    path: Path
    label: int  # 1 = fake, 0 = real
    modality: str
    kind: str
    source: str
    file: str  # as written in the manifest / relative to the folder (for reports)
    family: str = ""  # generator family (fakes of corpus v2; empty for reals and older manifests)
    generator: str = ""
    group: str = ""  # corpus group ("shared-train" for rows merged from ../shared/data/train)
    row: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def label_name(self) -> str:
        return "fake" if self.label else "real"

    def get(self, column: str, default: str = "") -> str:
        """A manifest column of this item ('' when the manifest has no such column)."""
        return (self.row.get(column) or default).strip()

    def as_row(self) -> dict[str, str]:
        """The fields the fold and probe code reads (``label``, ``family``, ``kind``, ``source_repo``)."""
        return {**self.row, "file": self.file, "label": self.label_name, "modality": self.modality,
                "kind": self.kind, "source_repo": self.source, "family": self.family, "generator": self.generator,
                "group": self.group}


class DatasetError(ValueError):
    """The data folder or manifest cannot be read as an evaluation set."""


def corpus_dir() -> Path:
    """Where corpus v2 lives: ``DEEPFAKE_CORPUS_DIR`` if set, else ``~/.cache/deepfake-detection/corpus``."""
    return Path(os.environ.get("DEEPFAKE_CORPUS_DIR") or DEFAULT_CORPUS_DIR).expanduser()


def resolve_manifest(data: str | Path | None = None) -> Path:
    """The manifest CSV behind a data argument: a CSV file, a folder holding ``manifest.csv``, or
    ``"corpus"`` / None for the corpus. Raises ``DatasetError`` (naming ``deepfake-data build`` for the
    corpus) when there is none."""
    if data is None or str(data) == CORPUS:
        path = corpus_dir() / MANIFEST_NAME
        if not path.is_file():
            raise DatasetError(
                f"no corpus at {corpus_dir()} (no {MANIFEST_NAME}): build it with "
                "`deepfake-data build --mirror DIR` (see docs/corpus.md), or set DEEPFAKE_CORPUS_DIR"
            )
        return path
    data = Path(data).expanduser()
    if data.is_dir() and (data / MANIFEST_NAME).is_file():
        return data / MANIFEST_NAME
    if data.is_file():
        return data
    raise DatasetError(f"{data}: no manifest CSV (and no folder with {MANIFEST_NAME})")


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """The rows of a manifest CSV (either format), checked for the columns every reader needs."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: manifest lacks columns {missing}")
        return list(reader)


def load_manifest(data: str | Path | None = None, modalities: Iterable[str] | None = None) -> list[Item]:
    """Items of a manifest (see ``resolve_manifest``), optionally of some modalities only."""
    path = resolve_manifest(data)
    items = items_from_rows(read_manifest(path), path.parent)
    wanted = set(modalities or MODALITIES)
    return [it for it in items if it.modality in wanted]


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
                family=(r.get("family") or "").strip(),
                generator=(r.get("generator") or "").strip(),
                group=(r.get("group") or "").strip(),
                row=dict(r),
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
    """Items from a manifest CSV, a folder holding ``manifest.csv``, ``"corpus"``, or a folder laid
    out as ``<modality>/<real|fake>/...``."""
    if str(data) == CORPUS:
        return load_manifest(CORPUS)
    data = Path(data).expanduser()
    if data.is_file() or (data / MANIFEST_NAME).is_file():
        return load_manifest(data)
    if data.is_dir():
        return items_from_folder(data)
    raise DatasetError(f"{data}: no such file or folder")


def group_of(item: Item) -> str:
    """The group a cap or a balance counts in: the family (else generator, kind) for fakes, the source for reals."""
    if item.label:
        return "fake:" + (item.family or item.generator or item.kind)
    return "real:" + item.source


def cap_per_group(items: Iterable[Item], cap: int) -> list[Item]:
    """At most ``cap`` items per ``group_of``, chosen by content order (sha256 column, else the file
    name's hash) so two runs keep the same files; the input order is kept. ``cap`` 0 keeps all."""
    import hashlib

    items = list(items)
    if not cap:
        return items
    groups: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[group_of(it)].append(i)
    keep: set[int] = set()
    for idx in groups.values():
        order = sorted(idx, key=lambda i: items[i].get("sha256") or hashlib.sha256(items[i].file.encode()).hexdigest())
        keep.update(order[:cap])
    return [it for i, it in enumerate(items) if i in keep]


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
