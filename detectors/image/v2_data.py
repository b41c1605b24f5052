"""The image rows of the corpus manifest the v2 trainer and experiments use, capped per group.

One generator or photo set dominates some classes (SD 1.5 grids, TPDNE faces); a cap per
(label, family or source) keeps every group in training without letting one decide the head,
and keeps feature extraction within the shared CPUs' budget. The cap keeps a deterministic,
content-ordered sample (sha256 order), so two runs pick the same files.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np

from detectors.evaluation.dataset import corpus_dir, read_manifest

SHARED_TRAIN = Path("/work/shared/data/train/manifest.csv")


def default_manifest() -> Path:
    """Corpus v2's manifest when it exists, else the shared training set's (development stand-in)."""
    m = corpus_dir() / "manifest.csv"
    return m if m.exists() else SHARED_TRAIN


def group_of(row: dict[str, str]) -> str:
    fam = row.get("family") or ""
    if row["label"] == "fake":
        return "fake:" + (fam or row.get("generator") or row.get("kind") or "unknown")
    return "real:" + (row.get("source_repo") or "unknown")


def load_rows(manifest: Path | None = None, cap: int | None = None, modality: str = "image") -> list[dict[str, str]]:
    """Rows of ``modality`` with ``path`` resolved, ``family`` filled (stand-in: kind for fakes
    of the shared set) and at most ``cap`` rows per group."""
    manifest = Path(manifest or default_manifest())
    root = manifest.parent
    rows = [r for r in read_manifest(manifest) if r.get("modality", modality) == modality]
    for r in rows:
        r["path"] = str(root / r["file"])
        if r["label"] == "fake" and not r.get("family"):
            r["family"] = r.get("generator") or r.get("kind") or "unknown"
    if cap:
        by_group: dict[str, list[dict[str, str]]] = defaultdict(list)
        for r in rows:
            by_group[group_of(r)].append(r)
        kept = []
        for g in sorted(by_group):
            members = sorted(by_group[g], key=lambda r: r.get("sha256") or hashlib.sha256(r["file"].encode()).hexdigest())
            kept += members[:cap]
        rows = sorted(kept, key=lambda r: r["file"])
    return rows


FORMATS = ("JPEG", "PNG", "WEBP")


def jpeg_quality(qtable: list[int] | None) -> float:
    """An estimate of the IJG quality (1-100) from a luma quantisation table; 0 when not a JPEG."""
    if not qtable:
        return 0.0
    std = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22,
           29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103,
           121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
    scale = 100.0 * sum(qtable) / sum(std)
    q = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return float(min(100.0, max(1.0, q)))


def metadata_features(path: str | Path, reencoded_jpeg_quality: int | None = None) -> np.ndarray:
    """The metadata-only baseline: width, height (log), aspect, format one-hot, JPEG quality.

    With ``reencoded_jpeg_quality`` the file is described as after the evaluation's re-encoding
    (same size, JPEG at that quality), without re-encoding it.
    """
    from PIL import Image

    with Image.open(path) as img:
        w, h = img.size
        fmt = img.format or ""
        q = jpeg_quality(list(img.quantization.get(0, [])) if fmt == "JPEG" and getattr(img, "quantization", None) else None)
    if reencoded_jpeg_quality is not None:
        fmt, q = "JPEG", float(reencoded_jpeg_quality)
    onehot = [float(fmt == f) for f in FORMATS] + [float(fmt not in FORMATS)]
    return np.array([np.log(w), np.log(h), np.log(w / h), *onehot, q], np.float32)


# Content strata for the confound check: reals are photos of many kinds, many fakes are faces or art.
# By the catalogue's description of each source (kind for fakes, the repository for reals); a source
# of mixed content (ML72's people/nature/food/city photos, the StyleGAN2 model zoo) counts by its
# majority and stays a coarse label, not a per-image one.
FACE_FAKE_KINDS = frozenset({"gan-face", "faceswap", "reenactment", "lipsync", "edited"})
SCENE_REAL_SOURCES = frozenset({"BIDS/BSDS500", "jbhuang0604/SelfExSR", "google/dreambooth", "ianare/exif-samples",
                                "ML72/AI-Image-Classifier-Playground", "NVlabs/SPADE"})


def content_of(row: dict[str, str]) -> str:
    """'face' (face-centred sources: face datasets, GAN faces, swaps, edits) or 'scene' (natural
    scenes, objects, generated scenes and art)."""
    if row["label"] == "fake":
        return "face" if row.get("kind") in FACE_FAKE_KINDS else "scene"
    return "scene" if row.get("source_repo") in SCENE_REAL_SOURCES else "face"
