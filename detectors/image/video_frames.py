"""Frames of the corpus's videos as extra training pictures for the image detector.

Why: the image folds' held-out groups of real photos differ more than most fake families do
(``experiments/image/real_groups.py``): the corpus lacks real-picture diversity, and the
catalogue's videos (talking heads, lip-reading clips, street scenes; talking-head generators,
lip-sync, face swaps) are pictures the image detector otherwise never sees.
``experiments/image/video_frames.py`` measures what they buy under the card's folds.

A few frames per video (``AT``: fractions of its frame count) are decoded upright with square
pixels (``detectors.video.frames``) and written losslessly (PNG) to a derived-data folder, once.
Videos from a repository that also gives image rows are left out: their pictures sit in the
image folds' held-out groups, so training on their frames would leak. Each frame becomes an
image-like row: a real frame keeps its repository as source; a fake frame gets the family
``video:<family>`` so that no image family shares its name, and ``image_family`` says which
image family it is the same kind as (the video face swaps are face swaps), so a fold that holds
that family out drops them too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import cv2

from detectors.features.cache import default_cache_dir

AT = (0.2, 0.4, 0.6, 0.8)  # where in each video, as fractions of its frame count
VERSION = "v1"  # bump when AT or the decoding changes: frames are looked up by this folder
PREFIX = "video:"
SAME_KIND = {"faceswap": "faceswap"}  # video family -> the image family of the same kind


def default_frame_dir() -> Path:
    """``<feature cache>/video-frames/<VERSION>``: derived data, next to the features made from it."""
    return default_cache_dir() / "video-frames" / VERSION


def image_family(row: Mapping[str, str]) -> str:
    """The image family a frame row is the same kind as ('' when none): what a fold must hold out."""
    fam = str(row.get("family") or "")
    return SAME_KIND.get(fam.removeprefix(PREFIX), "") if fam.startswith(PREFIX) else ""


def frame_paths(row: Mapping[str, str], folder: Path, at: tuple[float, ...] = AT) -> list[Path]:
    return [folder / row["label"] / f"{row['sha256'][:16]}_{k}.png" for k in range(len(at))]


def write_frames(row: Mapping[str, str], folder: Path, at: tuple[float, ...] = AT) -> list[Path]:
    """The video's frames at ``at`` (fractions of its frame count) as PNG (kept when already written); raises a ``DetectionError``
    for a video that does not decode."""
    from detectors.video.frames import SnippetReader, probe_video

    out = frame_paths(row, folder, at)
    if all(p.exists() for p in out):
        return out
    index = probe_video(row["path"], max_seconds=3600.0, max_frames=len(at))
    n = index.total_frames
    with SnippetReader(index, threads=1) as reader:
        for p, a in zip(out, at, strict=True):
            got = reader.read(float(index.times[min(n - 1, int(a * n))]), 1)
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_suffix(".tmp.png")
            cv2.imwrite(str(tmp), cv2.cvtColor(got[0].rgb, cv2.COLOR_RGB2BGR))
            tmp.replace(p)
    return out


def frame_rows(video_rows: Iterable[Mapping[str, str]], image_sources: set[str], folder: Path | None = None,
               labels: tuple[str, ...] = ("real", "fake"), log: Callable[[str], None] = print,
               at: tuple[float, ...] = AT) -> list[dict[str, str]]:
    """Image-like rows for the frames of ``video_rows`` (``path`` resolved, as ``v2_data.load_rows``
    gives them) of the given labels, writing frames not yet written; videos from ``image_sources``
    are left out, and so is a video that does not decode (logged)."""
    from detectors.errors import DetectionError

    folder = folder or default_frame_dir()
    out: list[dict[str, str]] = []
    for r in video_rows:
        if r["label"] not in labels or r.get("source_repo") in image_sources:
            continue
        try:
            paths = write_frames(r, folder, at)
        except DetectionError as exc:
            log(f"video frames: {r.get('file')} skipped: {exc}")
            continue
        fam = PREFIX + (r.get("family") or "unknown") if r["label"] == "fake" else ""
        for k, p in enumerate(paths):
            out.append({"label": r["label"], "modality": "image", "kind": r.get("kind", ""),
                        "source_repo": r.get("source_repo", ""), "family": fam, "generator": fam,
                        "file": str(p), "path": str(p), "sha256": f"{r.get('sha256', '')}:{k}",
                        "video": r.get("file", "")})
    return out
