"""Scene cuts from key-frame thumbnails: a cut is a key frame whose colour histogram differs
sharply from the key frame scanned before it.

Encoders (x264, libvpx ...) start a new group of pictures at a cut, so cuts are found among the
key frames, which decode on their own and cheaply. A cut that the encoder did not code as a key
frame is missed; a big change between two distant key frames (a long pan) can look like a cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

HIST_BINS = (16, 4, 4)  # hue, saturation, value
CUT_DISTANCE = 0.45  # Bhattacharyya distance above which two key frames belong to different shots


@dataclass
class SceneCut:
    """A key frame that starts a new shot: its time, frame index (-1 until indexed) and strength."""

    time: float
    index: int
    distance: float


def thumbnail_histogram(rgb: np.ndarray) -> np.ndarray:
    """Normalised HSV histogram of a small RGB uint8 image (flattened float32)."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(HIST_BINS), [0, 180, 0, 256, 0, 256])
    total = float(hist.sum())
    return (hist / total if total > 0 else hist).astype(np.float32).reshape(-1)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance between two normalised histograms (0 = same, 1 = disjoint)."""
    return float(cv2.compareHist(a.astype(np.float32), b.astype(np.float32), cv2.HISTCMP_BHATTACHARYYA))


def find_scene_cuts(thumbs: list[tuple[float, np.ndarray]], threshold: float = CUT_DISTANCE) -> list[SceneCut]:
    """Cuts among key-frame thumbnails given as (time, histogram) in time order."""
    ordered = sorted(thumbs, key=lambda th: th[0])
    cuts: list[SceneCut] = []
    for (_, prev), (t, cur) in zip(ordered, ordered[1:], strict=False):
        d = histogram_distance(prev, cur)
        if d >= threshold:
            cuts.append(SceneCut(time=float(t), index=-1, distance=round(d, 4)))
    return cuts
