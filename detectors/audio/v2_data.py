"""Which corpus rows the audio v2 streams train and are measured on.

Audio rows of corpus v2's manifest, without the 8 kHz spoken digits (NOTES.md: a weak kind of
real speech that wrecks any grouped validation), with at most ``cap`` files per fake family and
per real source (seeded draw), so YourTTS (about a quarter of the fakes) and the big real corpora
do not dominate the heads.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from detectors.evaluation.dataset import corpus_dir, read_manifest

EXCLUDED_SOURCES = ("Jakobovski/free-spoken-digit-dataset",)
DEFAULT_CAP = 120
VIEW_SUBCAP = 20  # files per group for the re-encoded views (extraction time on 2 shared cores)


def group_key(row: dict) -> str:
    return ("fake:" + (row.get("family") or row.get("generator") or "unknown")) if row["label"] == "fake" \
        else ("real:" + (row.get("source_repo") or "unknown"))


def load_rows(manifest: Path | None = None, cap: int | None = DEFAULT_CAP, seed: int = 0,
              subcap: int | None = None) -> list[dict]:
    """Audio rows (with an absolute ``path``), digits left out, capped per family/source, stable order.

    ``subcap``: a further, nested draw of at most ``subcap`` of the capped rows per group (the
    smaller set the re-encoded views are measured on).
    """
    manifest = Path(manifest or corpus_dir() / "manifest.csv")
    rows = [r for r in read_manifest(manifest) if r.get("modality") == "audio" and r.get("source_repo") not in EXCLUDED_SOURCES]
    for r in rows:
        r["path"] = str(manifest.parent / r["file"])
    by: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r["sha256"] or r["file"]):
        by[group_key(r)].append(r)
    rng = np.random.default_rng(seed)
    out: list[dict] = []
    for key in sorted(by):
        g = by[key]
        if cap is not None and len(g) > cap:
            g = [g[i] for i in sorted(rng.choice(len(g), size=cap, replace=False))]
        out.extend(g)
    if subcap is not None:
        sub = np.random.default_rng(seed + 1)
        by = defaultdict(list)
        for r in out:
            by[group_key(r)].append(r)
        keep = {id(g[i]) for g in by.values() for i in (range(len(g)) if len(g) <= subcap else sub.choice(len(g), subcap, replace=False))}
        out = [r for r in out if id(r) in keep]
    return out


def labels(rows: list[dict]) -> np.ndarray:
    return np.array([1 if r["label"] == "fake" else 0 for r in rows], dtype=int)
