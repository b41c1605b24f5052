"""Turn result rows into per-modality x per-kind metrics, a text table, a JSON report and plots.

Groups, per view and modality: "all" (every file of the modality), and one per kind. A fake
kind is scored against ALL the real files of the modality in the subset (so "gan-face" AUC asks:
does a GAN face score above the real photos?); a real-only kind is scored alone (its accuracy is
the true-negative rate). Inconclusive files are counted; they enter the metrics only when the
detector still reported a fake probability.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.evaluation import plots
from detectors.evaluation.metrics import summarize
from detectors.evaluation.runner import ResultRow

ALL_KINDS = "all"


def _operating_threshold(rows: Sequence[ResultRow]) -> tuple[float, list[str]]:
    """The stored threshold the detector reported (one per modality); NaN when none was reported."""
    values = sorted({r.threshold for r in rows if r.threshold is not None})
    if not values:
        return math.nan, ["no operating threshold reported: accuracy/precision/recall undefined"]
    if len(values) == 1:
        return float(values[0]), []
    return float(statistics.median(values)), [f"detector reported several thresholds {values}; used the median"]


def group_metrics(
    own: Sequence[ResultRow],
    metric_rows: Sequence[ResultRow],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Counts and timings over ``own`` (the group's files); metrics over ``metric_rows``."""
    ok = [r for r in own if r.error is None]
    inconclusive = [r for r in ok if r.inconclusive]
    excluded = [r for r in inconclusive if r.fake_probability is None]
    scored = [r for r in metric_rows if r.error is None and r.fake_probability is not None]
    threshold, notes = _operating_threshold([r for r in metric_rows if r.error is None])
    y = np.array([r.label for r in scored], dtype=int)
    p = np.array([r.fake_probability for r in scored], dtype=np.float64)
    metrics = summarize(y, p, threshold if math.isfinite(threshold) else 0.5, n_boot=n_boot, seed=seed)
    if not math.isfinite(threshold):
        for key in ("accuracy", "precision", "recall", "f1", "fpr", "fnr"):
            metrics[key] = math.nan
        metrics["threshold"] = math.nan
    seconds = [r.seconds for r in ok if r.seconds is not None]
    out: dict[str, Any] = {
        "files": len(own),
        "errors": len(own) - len(ok),
        "inconclusive": len(inconclusive),
        "inconclusive_excluded": len(excluded),
        "seconds_per_file_mean": statistics.fmean(seconds) if seconds else math.nan,
        "seconds_per_file_median": statistics.median(seconds) if seconds else math.nan,
    }
    out.update(metrics)
    out.update(verdict_rates(ok))
    if excluded:
        notes.append(f"{len(excluded)} inconclusive file(s) without a fake probability left out of the metrics")
    if out["errors"]:
        notes.append(f"{out['errors']} file(s) failed (see results.jsonl)")
    out["notes"] = notes + metrics["notes"]
    return out


def verdict_rates(rows: Sequence[ResultRow]) -> dict[str, float]:
    """The verdict policy as the service applied it: shares of reals called fake, of fakes called
    real, and of each class left inconclusive (from the verdicts themselves, not recomputed)."""
    def share(label: int, verdict: str) -> float:
        group = [r for r in rows if r.label == label]
        return sum(r.verdict == verdict for r in group) / len(group) if group else math.nan

    return {"real_called_fake": share(0, "fake"), "fake_called_real": share(1, "real"),
            "real_inconclusive": share(0, "inconclusive"), "fake_inconclusive": share(1, "inconclusive")}


def build_groups(rows: Sequence[ResultRow], n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Metrics per view x modality x kind (``kind == "all"`` for the whole modality)."""
    groups = []
    views = list(dict.fromkeys(r.view for r in rows))
    for view in views:
        in_view = [r for r in rows if r.view == view]
        for modality in dict.fromkeys(r.modality for r in in_view):
            mod_rows = [r for r in in_view if r.modality == modality]
            reals = [r for r in mod_rows if r.label == 0]
            entries = [(ALL_KINDS, mod_rows, mod_rows, "every file")]
            for kind in sorted({r.kind for r in mod_rows}):
                own = [r for r in mod_rows if r.kind == kind]
                if any(r.label == 1 for r in own):
                    metric_rows = [r for r in own if r.label == 1] + reals
                    against = "its fakes vs all reals of the modality"
                else:
                    metric_rows, against = own, "these real files only"
                if len(own) == len(mod_rows):
                    continue  # one kind covers the whole modality (folder layout): the "all" row says it
                entries.append((kind, own, metric_rows, against))
            for kind, own, metric_rows, against in entries:
                g = {"view": view, "modality": modality, "kind": kind, "scored_against": against}
                g.update(group_metrics(own, metric_rows, n_boot=n_boot, seed=seed))
                groups.append(g)
    return groups


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _fmt_ci(value: float, ci: Sequence[float]) -> str:
    if math.isnan(value):
        return "–"
    if not ci or any(math.isnan(c) for c in ci):
        return _fmt(value)
    return f"{value:.3f} [{ci[0]:.2f}-{ci[1]:.2f}]"


TABLE_COLUMNS = ("modality", "kind", "files", "real", "fake", "AUC [95% CI]", "EER [95% CI]", "thr", "acc",
                 "prec", "rec", "real->fake", "fake->real", "ECE", "inconcl", "err", "s/file")


def table_rows(groups: Iterable[dict[str, Any]], view: str) -> list[list[str]]:
    """One text row per group of a view, in ``TABLE_COLUMNS`` order."""
    out = []
    for g in groups:
        if g["view"] != view:
            continue
        inc = str(g["inconclusive"]) + (f" ({g['inconclusive_excluded']} out)" if g["inconclusive_excluded"] else "")
        out.append([
            g["modality"], g["kind"], str(g["files"]), str(g["n_real"]), str(g["n_fake"]),
            _fmt_ci(g["auc"], g["auc_ci"]), _fmt_ci(g["eer"], g["eer_ci"]), _fmt(g["threshold"], 2),
            # precision of a real-only set is 0 whenever anything is flagged: says nothing, so "–"
            _fmt(g["accuracy"]), _fmt(g["precision"] if g["n_fake"] else None), _fmt(g["recall"]),
            _fmt(g["real_called_fake"]), _fmt(g["fake_called_real"]), _fmt(g["ece"]), inc,
            str(g["errors"]), _fmt(g["seconds_per_file_mean"], 3),
        ])
    return out


def format_table(rows: Sequence[Sequence[str]], columns: Sequence[str] = TABLE_COLUMNS, markdown: bool = False) -> str:
    """A fixed-width text table (or a Markdown table for docs)."""
    if markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in rows])


VIEW_TITLES = {
    "reencoded": "re-encoded to one format (JPEG q90 / 16 kHz mono WAV / H.264 MP4) - the number to quote",
    "original": "original files (container and codec as found; can reward format shortcuts)",
}


def render_report(report: dict[str, Any], markdown: bool = False) -> str:
    """The stdout summary: header, then one table per view (the primary view first)."""
    views = sorted({g["view"] for g in report["groups"]}, key=lambda v: v != report["primary_view"])
    head = [
        f"deepfake-eval  data={report['data']}  subset={report['subset']}  split={report['split_file'] or '-'}",
        f"date={report['date']}  commit={(report.get('git') or {}).get('commit') or '-'}"
        + ("  (weights modified since that commit)" if (report.get("git") or {}).get("weights_modified_since_commit")
           else ""),
        "detectors: " + ", ".join(f"{m}={d.get('registered_name', d.get('name'))}" for m, d in report["detectors"].items()),
    ]
    parts = ["\n".join(head)]
    for view in views:
        title = f"== {view}: {VIEW_TITLES.get(view, view)}"
        parts.append(title + "\n" + format_table(table_rows(report["groups"], view), markdown=markdown))
    notes = sorted({f"{g['view']}/{g['modality']}/{g['kind']}: {n}" for g in report["groups"] for n in g["notes"]})
    if notes:
        parts.append("notes:\n" + "\n".join(f"  - {n}" for n in notes))
    if report.get("split_problems"):
        parts.append("split notes:\n" + "\n".join(f"  - {n}" for n in report["split_problems"]))
    parts.append("fake kinds are scored against all real files of the modality; thr = the detector's stored "
                 "fakeAbove operating point (acc/prec/rec: fake when p >= thr); real->fake / fake->real = shares "
                 "the service's own verdicts called wrongly (inconclusive is neither); CI = stratified bootstrap; "
                 "s/file = wall time per file in-process")
    return "\n\n".join(parts)


def _jsonable(value: Any) -> Any:
    """NaN/inf become null (strict JSON), numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(report: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(_jsonable(report), indent=2, allow_nan=False) + "\n")


def write_rows(rows: Iterable[ResultRow], path: str | Path) -> None:
    """Per-file results as JSON lines (for threshold studies and error analysis)."""
    with open(path, "w") as fh:
        for r in rows:
            fh.write(json.dumps(_jsonable(r.to_dict()), allow_nan=False) + "\n")


def _scored(rows: Iterable[ResultRow]) -> tuple[np.ndarray, np.ndarray]:
    ok = [r for r in rows if r.error is None and r.fake_probability is not None]
    return np.array([r.label for r in ok], dtype=int), np.array([r.fake_probability for r in ok], dtype=np.float64)


def plot_roc(rows: Sequence[ResultRow], modality: str, path: str | Path, primary_view: str) -> Path | None:
    """ROC curves of one modality: every view overall, plus each fake kind (vs all reals) in the primary view."""
    mod_rows = [r for r in rows if r.modality == modality]
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    kinds: list[str] = []
    for view in dict.fromkeys(r.view for r in mod_rows):
        view_rows = [r for r in mod_rows if r.view == view]
        curves[f"{view}, all"] = _scored(view_rows)
        fake_kinds = sorted({r.kind for r in view_rows if r.label == 1})
        if view == primary_view and len(fake_kinds) > 1:
            for kind in fake_kinds:
                kinds.append(f"{view}, {kind} vs reals")
                curves[kinds[-1]] = _scored(r for r in view_rows if r.label == 0 or r.kind == kind)
    return plots.roc_plot(curves, path, f"ROC - {modality}", bold=(f"{primary_view}, all",), dashed=kinds)


def plot_reliability(rows: Sequence[ResultRow], modality: str, path: str | Path, n_bins: int = 10) -> Path | None:
    """Reliability diagram of p(fake) per view, with the number of files per bin underneath."""
    mod_rows = [r for r in rows if r.modality == modality]
    sets = {view: _scored(r for r in mod_rows if r.view == view) for view in dict.fromkeys(r.view for r in mod_rows)}
    return plots.reliability_plot(sets, path, f"Reliability - {modality}", n_bins)
