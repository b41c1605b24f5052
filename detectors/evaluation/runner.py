"""Score items with the service's own in-process pipeline, one result row per file and view.

Views: "original" (the files as they are) and "reencoded" (each file first re-encoded to one
format, see ``reencode``). A file the service rejects (a ``DetectionError``: corrupt, too large,
unsupported ...) becomes an error row and the run goes on.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from detectors.errors import DetectionError
from detectors.evaluation.dataset import Item
from detectors.evaluation.reencode import reencode
from detectors.pipeline import Analyzer, detector_name

VIEWS = ("original", "reencoded")


@dataclass
class ResultRow:
    """What one file scored in one view (``fake_probability`` None when the detector gave none)."""

    file: str
    modality: str
    kind: str
    source: str
    label: int
    view: str
    verdict: str | None = None  # fake / real / inconclusive; None on error
    fake_probability: float | None = None
    threshold: float | None = None  # fakeAbove of the operating points
    real_below: float | None = None  # realBelow of the operating points
    verdict_reason: str | None = None
    model_used: str | None = None
    seconds: float | None = None  # wall time of analyze_file (sniff + decode + model + fusion)
    error: str | None = None  # the DetectionError code
    error_message: str | None = None

    @property
    def inconclusive(self) -> bool:
        return self.verdict == "inconclusive"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def detectors_used(analyzer: Analyzer, modalities: Iterable[str]) -> dict[str, dict]:
    """Load the detectors these modalities need (video also runs image and audio) and describe them.

    Loading here keeps model-load time out of the per-file timings; the load time is reported.
    """
    needed: list[str] = []
    for m in modalities:
        for d in (("video", "image", "audio") if m == "video" else (m,)):
            if d not in needed:
                needed.append(d)
    info = {}
    for m in needed:
        start = time.perf_counter()
        det = analyzer.detector(m)  # type: ignore[arg-type]
        entry = dict(det.info())
        entry["registered_name"] = detector_name(analyzer.settings, m)  # type: ignore[arg-type]
        entry["load_seconds"] = round(time.perf_counter() - start, 3)
        info[m] = entry
    return info


def score_file(analyzer: Analyzer, item: Item, path: Path, view: str) -> ResultRow:
    """Analyse one file; a ``DetectionError`` becomes an error row."""
    row = ResultRow(item.file, item.modality, item.kind, item.source, item.label, view)
    start = time.perf_counter()
    try:
        result = analyzer.analyze_file(path, item.modality, source=item.file)  # type: ignore[arg-type]
    except DetectionError as exc:
        row.error, row.error_message = exc.code, exc.message
        return row
    row.seconds = round(time.perf_counter() - start, 4)
    row.verdict = result.verdict
    row.fake_probability = result.fake_probability
    row.threshold = result.threshold
    row.real_below = result.operating_points.real_below if result.operating_points else None
    row.verdict_reason = result.verdict_reason
    row.model_used = result.model_used
    return row


def score_items(
    analyzer: Analyzer,
    items: list[Item],
    views: Iterable[str] = VIEWS,
    progress: bool = True,
) -> list[ResultRow]:
    """Score every item in every view; re-encoded copies live in a temporary folder, removed after."""
    from tqdm import tqdm

    views = list(views)
    rows: list[ResultRow] = []
    total = len(items) * len(views)
    with tempfile.TemporaryDirectory(prefix="deepfake-eval-") as tmp, tqdm(
        total=total, desc="evaluating", unit="file", disable=not progress, dynamic_ncols=True
    ) as bar:
        for view in views:
            bar.set_postfix_str(view)
            for i, item in enumerate(items):
                if view == "original":
                    rows.append(score_file(analyzer, item, item.path, view))
                else:
                    rows.append(_score_reencoded(analyzer, item, Path(tmp), f"{i:06d}"))
                bar.update(1)
    return rows


def _score_reencoded(analyzer: Analyzer, item: Item, tmp: Path, stem: str) -> ResultRow:
    """Re-encode one file, score the copy, delete it (disk stays small on long runs)."""
    try:
        copy = reencode(item.path, item.modality, tmp, stem, analyzer.settings)
    except DetectionError as exc:
        row = ResultRow(item.file, item.modality, item.kind, item.source, item.label, "reencoded")
        row.error, row.error_message = f"reencode_{exc.code}", exc.message
        return row
    try:
        return score_file(analyzer, item, copy, "reencoded")
    finally:
        copy.unlink(missing_ok=True)
