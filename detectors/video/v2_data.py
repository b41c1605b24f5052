"""Corpus v2's video rows for ``video-v2`` (the shared manifest, resolved to absolute paths)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

DEFAULT_CORPUS = Path.home() / ".cache" / "deepfake-detection" / "corpus"


def corpus_dir() -> Path:
    """``$DEEPFAKE_CORPUS_DIR`` or the default corpus folder."""
    return Path(os.environ.get("DEEPFAKE_CORPUS_DIR") or DEFAULT_CORPUS)


def load_video_rows(manifest: Path | None = None) -> tuple[list[dict], list[Path]]:
    """Video rows of the manifest (sorted by file) and their absolute paths.

    Every manifest row is in the corpus (excluded files are in ``excluded.csv``); ``decision`` says
    "kept" or how a caveat was handled (watermark band cropped, generated panel of a composite ...).
    """
    manifest = manifest or corpus_dir() / "manifest.csv"
    if not manifest.exists():
        raise FileNotFoundError(f"no corpus manifest at {manifest}: build it with `deepfake-data build`")
    with open(manifest, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("modality") == "video"]
    rows.sort(key=lambda r: r["file"])
    return rows, [manifest.parent / r["file"] for r in rows]
