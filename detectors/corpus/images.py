"""Image caveat actions: split sample grids into tiles, keep the generated cells of composites, crop
watermark bands.

Two ways to find tiles. ``grid``: a fixed rows x cols division (for sheets without gutters, e.g.
the SD 1.5 cheat-sheet 2x2 WebP grids), each tile then trimmed of uniform borders (thin gutters).
``xycut``: recursive splitting at full-length uniform lines (gutters, white page background),
for irregular sheets with gutters and caption rows; pieces that are too small, too thin
(caption text) or nearly uniform (blank cells) are dropped. Either way a ``select`` rule can keep
only some tiles (the generated ones of a composite), and ``crop_bottom`` can cut a band off each
tile (per-tile badges). Outputs keep the source container: WebP is written lossless, PNG as PNG,
JPEG at quality 95 (the crop must not add its own compression trace).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from detectors.corpus.caveats import Action
from detectors.corpus.transforms import Output, Result

UNIFORM_STD = 6.0  # a line whose pixels vary less than this (0-255) is background/gutter
MIN_TILE = 64  # px: smaller pieces are labels, icons or slivers


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0


def _uniform_lines(a: np.ndarray, axis: int) -> np.ndarray:
    """Booleans per row (axis=0) or column (axis=1): is the line one flat colour?"""
    std = a.std(axis=1 if axis == 0 else 0).max(axis=-1)
    return std < UNIFORM_STD


def trim(a: np.ndarray, box: Box, max_frac: float = 1.0) -> Box:
    """``box`` without its flat-coloured border rows/columns (gutters, frames), at most ``max_frac``
    of the box per side (so a picture with a flat sky is not eaten into)."""
    sub = a[box.y0:box.y1, box.x0:box.x1].astype(np.float32)
    rows, cols = _uniform_lines(sub, 0), _uniform_lines(sub, 1)
    if rows.all() or cols.all():
        return box
    top = int(np.argmax(~rows))
    bottom = len(rows) - int(np.argmax(~rows[::-1]))
    left = int(np.argmax(~cols))
    right = len(cols) - int(np.argmax(~cols[::-1]))
    my, mx = int(max_frac * box.h), int(max_frac * box.w)
    top, bottom = min(top, my), max(bottom, box.h - my)
    left, right = min(left, mx), max(right, box.w - mx)
    return Box(box.x0 + left, box.y0 + top, box.x0 + right, box.y0 + bottom)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of the False runs of ``mask`` (content between separators)."""
    runs, start = [], None
    for i, m in enumerate(mask):
        if not m and start is None:
            start = i
        elif m and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(mask)))
    return runs


def xycut(a: np.ndarray, box: Box | None = None, min_gap: int = 2, depth: int = 0) -> list[Box]:
    """Leaf boxes of recursive splitting at uniform full-length lines (row-major order)."""
    box = trim(a, box or Box(0, 0, a.shape[1], a.shape[0]))
    if depth > 8 or box.w < MIN_TILE or box.h < MIN_TILE:
        return [box]
    sub = a[box.y0:box.y1, box.x0:box.x1].astype(np.float32)
    for axis in (0, 1):  # rows first (horizontal gutters), then columns
        sep = _uniform_lines(sub, axis)
        # separators shorter than min_gap are ignored (flat lines inside pictures)
        runs = _runs(sep)
        merged: list[tuple[int, int]] = []
        for s, e in runs:
            if merged and s - merged[-1][1] < min_gap:
                merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        if len(merged) > 1:
            out: list[Box] = []
            for s, e in merged:
                child = Box(box.x0, box.y0 + s, box.x1, box.y0 + e) if axis == 0 else \
                    Box(box.x0 + s, box.y0, box.x0 + e, box.y1)
                out += xycut(a, child, min_gap, depth + 1)
            return out
    return [box]


def grid_boxes(a: np.ndarray, rows: int, cols: int) -> list[Box]:
    """rows x cols equal cells (row-major), each trimmed of flat borders (gutters: at most 6 % a side)."""
    h, w = a.shape[:2]
    boxes = []
    for r in range(rows):
        for c in range(cols):
            cell = Box(round(c * w / cols), round(r * h / rows), round((c + 1) * w / cols), round((r + 1) * h / rows))
            boxes.append(trim(a, cell, max_frac=0.06))
    return boxes


def _is_picture(a: np.ndarray, b: Box, min_side: int) -> bool:
    """Big enough, not a caption strip, not a blank cell."""
    if b.w < min_side or b.h < min_side or max(b.w, b.h) > 4 * min(b.w, b.h):
        return False
    return float(a[b.y0:b.y1, b.x0:b.x1].std()) > 12.0


def select(boxes: list[Box], rule: str) -> list[Box]:
    """Keep the generated cells: 'all', 'drop-first-col', 'last-row', or 'cols:2,3' (0-based, by x order)."""
    if rule == "all" or not boxes:
        return boxes
    xs = sorted({b.x0 for b in boxes})
    if rule == "drop-first-col":
        first = min(b.x1 for b in boxes)  # right edge of the leftmost column
        return [b for b in boxes if b.x0 >= first]
    if rule == "last-row":
        top = max(b.y0 for b in boxes)
        return [b for b in boxes if b.y1 > top]
    if rule.startswith("cols:"):
        want = {int(i) for i in rule[5:].split(",")}
        cols = [x for i, x in enumerate(xs) if i in want]
        return [b for b in boxes if b.x0 in cols]
    raise ValueError(f"unknown select rule {rule!r}")


def _encode(im, fmt: str) -> bytes:  # noqa: ANN001 - PIL image
    buf = io.BytesIO()
    if fmt == "WEBP":
        im.save(buf, "WEBP", lossless=True, quality=0, method=0)  # fastest lossless setting
    elif fmt == "JPEG":
        im.save(buf, "JPEG", quality=95, subsampling=0)
    else:
        im.save(buf, "PNG", optimize=False)
    return buf.getvalue()


def _name(base: str, tag: str, fmt: str) -> str:
    stem = base.rsplit(".", 1)[0] if "." in base.rsplit("/", 1)[-1] else base
    ext = {"WEBP": ".webp", "JPEG": ".jpg"}.get(fmt, ".png")
    return f"{stem}.{tag}{ext}"


def apply(action: Action, data: bytes, base: str) -> Result:
    """Run an image action (grid, xycut, crop) on the bytes of one file."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as src:
        src_fmt = src.format or "PNG"
        im = src.convert("RGB") if src.mode not in ("RGB", "L") else src.copy()
    fmt = src_fmt if src_fmt in ("WEBP", "JPEG") else "PNG"
    a = np.asarray(im.convert("RGB"))
    p = dict(action.params)
    crop_bottom = float(p.get("crop_bottom", 0.0))
    crop_right = float(p.get("crop_right", 0.0))
    if action.op == "crop":
        w, h = im.size
        box = Box(round(float(p.get("left", 0)) * w), round(float(p.get("top", 0)) * h),
                  round(w * (1 - crop_right)), round(h * (1 - crop_bottom)))
        return Result([Output(_name(base, "crop", fmt), _encode(im.crop((box.x0, box.y0, box.x1, box.y1)), fmt),
                              action.note or "cropped")])
    if action.op == "grid":
        boxes = []
        for x0, y0, x1, y1, rows, cols in p.get("regions", ((0, 0, a.shape[1], a.shape[0], 0, 0),)):
            sub = Box(x0, y0, min(x1, a.shape[1]), min(y1, a.shape[0]))
            if rows and cols:
                boxes += [Box(b.x0 + sub.x0, b.y0 + sub.y0, b.x1 + sub.x0, b.y1 + sub.y0)
                          for b in grid_boxes(a[sub.y0:sub.y1, sub.x0:sub.x1], rows, cols)]
            elif "tile" in p:  # square tiles of a known size
                t = int(p["tile"])
                boxes += grid_boxes(a, max(1, round(a.shape[0] / t)), max(1, round(a.shape[1] / t)))
            elif "rows" in p:
                rows_ = int(p["rows"])
                cols_ = int(p["cols"]) if p["cols"] != "auto" else max(1, round(a.shape[1] * rows_ / a.shape[0]))
                boxes += grid_boxes(a, rows_, cols_)
            else:
                raise ValueError("grid needs regions, tile or rows/cols")
    elif action.op == "xycut":
        boxes = []
        for x0, y0, x1, y1 in p.get("regions", ((0, 0, a.shape[1], a.shape[0]),)):
            boxes += xycut(a, Box(x0, y0, min(x1, a.shape[1]), min(y1, a.shape[0])))
    else:
        raise ValueError(f"unknown image action {action.op}")
    min_side = int(p.get("min_side", MIN_TILE))
    boxes = [b for b in boxes if _is_picture(a, b, min_side)]
    n_found = len(boxes)
    boxes = select(boxes, str(p.get("select", "all")))
    expect = p.get("expect")
    if expect is not None and n_found != int(expect):
        return Result(drop=f"composite not separable: found {n_found} tiles, expected {expect}")
    if not boxes:
        return Result(drop="composite not separable: no tile found")
    outputs = []
    what = action.note or ("tile" if action.op == "grid" else "cell")
    for i, b in enumerate(boxes, 1):
        b2 = Box(b.x0, b.y0, b.x1 - round(b.w * crop_right), b.y1 - round(b.h * crop_bottom))
        tile = im.crop((b2.x0, b2.y0, b2.x1, b2.y1))
        decision = f"{what} {i}/{len(boxes)} ({b2.w}x{b2.h} at {b2.x0},{b2.y0})"
        if crop_bottom or crop_right:
            decision += "; watermark band cropped"
        outputs.append(Output(_name(base, f"tile{i:02d}", fmt), _encode(tile, fmt), decision))
    return Result(outputs)
