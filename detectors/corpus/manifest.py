"""The corpus's CSV files: columns, and writes that are atomic and leave unchanged files untouched."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

MANIFEST_COLUMNS = (
    "file", "label", "modality", "kind", "source_repo", "source_path", "source_commit", "license",
    "label_evidence", "generator", "family", "group", "sha256", "width", "height", "duration",
    "sample_rate", "format", "decision",
)
EXCLUDED_COLUMNS = (
    "source_repo", "source_path", "source_commit", "group", "label", "modality", "kind", "generator",
    "sha256", "reason",
)
GROUP_COLUMNS = (
    "group", "repo", "commit", "path_glob", "label", "modality", "kind", "generator", "n_files",
    "matched", "present", "kept_files", "status",
)


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: "" if r.get(c) is None else r.get(c) for c in columns})
    return buf.getvalue()


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically (temp file + rename) unless the file already holds it. True if written."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
