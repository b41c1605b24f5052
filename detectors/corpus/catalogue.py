"""The source catalogue: one row per labelled group of files in a repository at a pinned commit.

Three CSVs with two glob dialects (see ``shared/data/catalogue/README.md``):
``image_video.csv`` and ``faceswap.csv`` use shell semantics (``*``/``?`` stop at ``/``);
``audio.csv`` uses git pathspecs in default mode (``*``/``?`` also match ``/``, and a pattern
without wildcards also matches everything below a folder of that name) and counts only audio
extensions.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

TABLES = ("image_video", "faceswap", "audio")  # also the stable processing order
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".opus")


@dataclass(frozen=True)
class CatalogueRow:
    """One catalogue row; ``group`` ('image_video:12') is its stable id (1-based data-row number)."""

    table: str
    number: int
    repo: str
    commit: str
    path_glob: str
    label: str
    modality: str
    kind: str
    generator: str
    n_files: int
    license: str
    label_evidence: str

    @property
    def group(self) -> str:
        return f"{self.table}:{self.number}"

    @property
    def dialect(self) -> str:
        return "pathspec" if self.table == "audio" else "shell"

    def matches(self, path: str) -> bool:
        """Whether ``path`` (a file path in the repository) belongs to this row."""
        if self.dialect == "shell":
            return shell_match(path, self.path_glob)
        return pathspec_match(path, self.path_glob) and path.lower().endswith(AUDIO_EXTENSIONS)


def shell_match(path: str, pattern: str) -> bool:
    """Shell glob: each ``/``-separated part matched on its own, so wildcards never cross ``/``."""
    parts, pats = path.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(fnmatchcase(a, p) for a, p in zip(parts, pats, strict=True))


def pathspec_match(path: str, pattern: str) -> bool:
    """Git pathspec, default mode: fnmatch over the whole path (``*`` crosses ``/``) or a folder prefix."""
    prefix = pattern.rstrip("/")
    return fnmatchcase(path, pattern) or path == prefix or path.startswith(prefix + "/")


def read_catalogue(folder: str | Path, tables: tuple[str, ...] = TABLES) -> list[CatalogueRow]:
    """Every row of the catalogue's CSVs, in table order then row order."""
    folder = Path(folder)
    rows: list[CatalogueRow] = []
    for table in tables:
        path = folder / f"{table}.csv"
        if not path.is_file():
            continue
        with open(path, newline="") as fh:
            for i, r in enumerate(csv.DictReader(fh), start=1):
                rows.append(
                    CatalogueRow(
                        table=table,
                        number=i,
                        repo=r["repo"].strip(),
                        commit=r["commit"].strip(),
                        path_glob=r["path_glob"].strip(),
                        label=r["label"].strip(),
                        modality=(r.get("modality") or "audio").strip(),
                        kind=r["kind"].strip(),
                        generator=(r.get("generator") or "").strip(),
                        n_files=int(r["n_files"]),
                        license=(r.get("license") or "").strip(),
                        label_evidence=(r.get("label_evidence") or "").strip(),
                    )
                )
    return rows
