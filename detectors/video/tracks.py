"""Faces through time: landmarks across a snippet, small context crops, and tracks across samples.

A face is *detected* (Haar + dlib, ``detectors.faces``) once per snippet, on its first frame. In
the snippet's following frames only the 5 landmarks are re-fitted inside the same box (a few ms
each), which is what landmark jitter is measured on. Across snippets, faces are linked into
tracks by overlap and size; a scene cut ends every track.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from detectors.faces import Face, FaceDetector

CONTEXT_SCALE = 2.0  # context crop side, in face-box sides: the face fills the central half
CONTEXT_SIZE = 96  # pixels per side of the stored context crops (they cross process boundaries)
MAX_FACES = 3  # faces scored per sampled frame (largest first)
MAX_CONTEXT_FACES = 2  # faces per sampled frame that get temporal context crops
LANDMARK_FACE_SIZE = 96  # face width (pixels) at which snippet landmarks are fitted


def padded_crop(rgb: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """rgb[y0:y0+h, x0:x0+w], with mirrored pixels where the window leaves the image."""
    ih, iw = rgb.shape[:2]
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y0 + h - ih), max(0, x0 + w - iw)
    sub = rgb[max(0, y0) : min(ih, y0 + h), max(0, x0) : min(iw, x0 + w)]
    if sub.size == 0:
        return np.zeros((h, w) + rgb.shape[2:], dtype=rgb.dtype)
    if top or left or bottom or right:
        sub = cv2.copyMakeBorder(sub, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    return sub


def context_window(box: tuple[int, int, int, int], scale: float = CONTEXT_SCALE) -> tuple[int, int, int]:
    """(x0, y0, side) of the square window ``scale`` face-sides wide around the face box."""
    x, y, w, h = box
    side = max(2, int(round(max(w, h) * scale)))
    return int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2)), side


def context_crop(rgb: np.ndarray, window: tuple[int, int, int], size: int = CONTEXT_SIZE) -> np.ndarray:
    """The window resampled to size x size RGB uint8 (area averaging when shrinking)."""
    x0, y0, side = window
    region = padded_crop(rgb, x0, y0, side, side)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(region, (size, size), interpolation=interp), dtype=np.uint8)


def snippet_landmarks(detector: FaceDetector, grays: list[np.ndarray], face: Face) -> np.ndarray | None:
    """5x2 landmarks in every frame of a snippet, in source pixels, fitted at a fixed face scale.

    Each frame's context window (the same window for the whole snippet) is resampled so the face
    is ``LANDMARK_FACE_SIZE`` pixels wide before the landmarks are fitted inside the first
    frame's box: landmark noise then does not depend on the video's resolution, and frame-to-frame
    differences come from the image, not from a moving box. Returns (frames, 5, 2) float32, or
    None without a landmark model.
    """
    x0, y0, side = context_window(face.box)
    crop_side = int(round(LANDMARK_FACE_SIZE * CONTEXT_SCALE))
    s = crop_side / side
    x, y, w, h = face.box
    box = (int(round((x - x0) * s)), int(round((y - y0) * s)), max(1, int(round(w * s))), max(1, int(round(h * s))))
    points = []
    for gray in grays:
        region = padded_crop(gray, x0, y0, side, side)
        interp = cv2.INTER_AREA if side > crop_side else cv2.INTER_LINEAR
        small = cv2.resize(region, (crop_side, crop_side), interpolation=interp)
        lm = detector.landmarks(small, box)
        if lm is None:
            return None
        points.append(np.asarray(lm, dtype=np.float32) / s + np.array([x0, y0], dtype=np.float32))
    return np.stack(points)


class FaceFollower:
    """Landmarks over a run of consecutive frames, one frame at a time (nothing is kept).

    The box follows the landmarks' centre from frame to frame, so a moving head stays framed.
    """

    def __init__(self, detector: FaceDetector, box: tuple[int, int, int, int]) -> None:
        self.detector = detector
        self.box = box
        self._centre: np.ndarray | None = None

    def step(self, gray: np.ndarray) -> np.ndarray | None:
        """5x2 landmarks in ``gray`` (None without a landmark model)."""
        lm = self.detector.landmarks(gray, self.box)
        if lm is None:
            return None
        centre = lm.mean(axis=0)
        if self._centre is not None:
            dx, dy = centre - self._centre
            x, y, w, h = self.box
            self.box = (int(round(x + dx)), int(round(y + dy)), w, h)
        self._centre = centre
        return lm.astype(np.float32)


@dataclass
class TrackLink:
    """Where a face was seen: the sample's position and the face's index within that sample."""

    sample: int
    face: int
    time: float
    box: tuple[int, int, int, int]


@dataclass
class Track:
    """One face followed across sampled snippets (never across a scene cut)."""

    track_id: int
    links: list[TrackLink] = field(default_factory=list)

    @property
    def last(self) -> TrackLink:
        return self.links[-1]


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match_score(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """How likely two boxes (seconds apart) show the same face: overlap, else near and same size; 0 = no."""
    size_a, size_b = max(a[2], a[3]), max(b[2], b[3])
    ratio = size_a / max(size_b, 1)
    if not 0.6 <= ratio <= 1.0 / 0.6:
        return 0.0
    iou = _iou(a, b)
    if iou >= 0.2:
        return 1.0 + iou
    ca = np.array([a[0] + a[2] / 2, a[1] + a[3] / 2])
    cb = np.array([b[0] + b[2] / 2, b[1] + b[3] / 2])
    dist = float(np.linalg.norm(ca - cb)) / max((size_a + size_b) / 2, 1)
    return 1.0 - dist if dist < 0.75 else 0.0


def link_tracks(
    samples: list[tuple[float, list[tuple[int, int, int, int]]]], cut_times: list[float]
) -> list[Track]:
    """Greedy linking of per-sample face boxes into tracks; a scene cut between two samples ends all tracks.

    ``samples``: (time, boxes) in time order. Returns tracks in order of first appearance.
    """
    cuts = sorted(cut_times)
    tracks: list[Track] = []
    active: list[Track] = []
    prev_time = -np.inf
    for s, (t, boxes) in enumerate(samples):
        if any(prev_time < c <= t + 1e-6 for c in cuts):
            active = []
        prev_time = t
        pairs = sorted(
            ((match_score(tr.last.box, box), ti, fi) for ti, tr in enumerate(active) for fi, box in enumerate(boxes)),
            reverse=True,
        )
        used_t: set[int] = set()
        used_f: set[int] = set()
        for score, ti, fi in pairs:
            if score <= 0 or ti in used_t or fi in used_f:
                continue
            active[ti].links.append(TrackLink(s, fi, t, boxes[fi]))
            used_t.add(ti)
            used_f.add(fi)
        for fi, box in enumerate(boxes):
            if fi not in used_f:
                tr = Track(track_id=len(tracks), links=[TrackLink(s, fi, t, box)])
                tracks.append(tr)
                active.append(tr)
    return tracks
