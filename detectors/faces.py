"""Face detection (OpenCV Haar cascade), 5-point landmarks (dlib) and aligned face crops.

Shared by the image detector and the video detector: both send ``align_crop`` outputs to the
image model, so a face from a video frame and a face from a photo are cropped the same way.
Everything works on RGB uint8 arrays in source pixels and is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_INPUT_SIZE = 224
DETECT_MAX_SIDE = 512  # faces are found on a copy no larger than this (speed); boxes map back
MIN_FACE_FRACTION = 0.06  # smallest face searched for, as a fraction of the short side of the copy
MIN_FACE_PIXELS = 20
PAD_FRACTION = 0.2
HAAR_CASCADE = "haarcascade_frontalface_default.xml"


@dataclass
class Face:
    """One face: box (x, y, w, h) and 5 landmarks (dlib order) in source pixels."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray | None = None  # 5x2 float32 (x, y): two corners per eye, then the nose base

    def eye_centres(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(left-in-image, right-in-image) eye centres, or None without landmarks."""
        if self.landmarks is None or len(self.landmarks) < 4:
            return None
        a = self.landmarks[0:2].mean(axis=0)
        b = self.landmarks[2:4].mean(axis=0)
        return (a, b) if a[0] <= b[0] else (b, a)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _contains(outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> bool:
    """True when most of ``inner`` lies inside ``outer`` (Haar's nested duplicate boxes)."""
    x2, y2 = inner[0] + inner[2], inner[1] + inner[3]
    iw = max(0, min(outer[0] + outer[2], x2) - max(outer[0], inner[0]))
    ih = max(0, min(outer[1] + outer[3], y2) - max(outer[1], inner[1]))
    return iw * ih >= 0.7 * inner[2] * inner[3]


class FaceDetector:
    """Haar-cascade face boxes plus dlib 5-point landmarks; load once, call ``detect`` per image."""

    def __init__(self, max_side: int = DETECT_MAX_SIDE, min_neighbors: int = 5) -> None:
        self.max_side = max_side
        self.min_neighbors = min_neighbors
        self._cascade: cv2.CascadeClassifier | None = None
        self._predictor = None

    @property
    def loaded(self) -> bool:
        return self._cascade is not None

    def load(self) -> None:
        """Load the Haar cascade (opencv) and the 5-point shape predictor (face-recognition-models)."""
        if self._cascade is not None:
            return
        import dlib
        import face_recognition_models

        path = Path(cv2.data.haarcascades) / HAAR_CASCADE
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise RuntimeError(f"cannot load the Haar cascade {path}")
        self._predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
        self._cascade = cascade

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an RGB uint8 image, largest first; boxes and landmarks in source pixels."""
        if self._cascade is None:
            self.load()
        assert self._cascade is not None
        gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        h, w = gray.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else gray
        small = cv2.equalizeHist(small)
        # A border lets the cascade find faces that fill the frame (tight crops, passport photos).
        pad = int(round(PAD_FRACTION * max(small.shape[:2])))
        small = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        min_side = max(MIN_FACE_PIXELS, int(MIN_FACE_FRACTION * min(small.shape[:2])))
        boxes, _, weights = self._cascade.detectMultiScale3(
            small,
            scaleFactor=1.1,
            minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side),
            outputRejectLevels=True,
        )
        found: list[tuple[tuple[int, int, int, int], float]] = []
        for (x, y, bw, bh), wt in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(weights).reshape(-1), strict=True):
            x0, y0 = max(0.0, (x - pad) / scale), max(0.0, (y - pad) / scale)
            x1, y1 = min(float(w), (x - pad + bw) / scale), min(float(h), (y - pad + bh) / scale)
            if x1 - x0 < 0.5 * bw / scale or y1 - y0 < 0.5 * bh / scale:
                continue  # mostly in the padding
            box = (int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0)))
            found.append((box, float(wt)))
        # Largest first, then position: deterministic order; drop overlapping and nested duplicates.
        found.sort(key=lambda f: (-f[0][2] * f[0][3], f[0][1], f[0][0]))
        kept: list[tuple[tuple[int, int, int, int], float]] = []
        for box, wt in found:
            if any(_iou(box, k) > 0.3 or _contains(k, box) for k, _ in kept):
                continue
            kept.append((box, wt))
        return [Face(box=box, score=wt, landmarks=self.landmarks(gray, box)) for box, wt in kept]

    def landmarks(self, gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
        """dlib 5-point landmarks inside ``box`` on the full-resolution grey image."""
        if self._predictor is None:
            return None
        import dlib

        x, y, w, h = box
        shape = self._predictor(np.ascontiguousarray(gray), dlib.rectangle(x, y, x + w, y + h))
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float32)
        return pts if len(pts) == 5 else None


def align_crop(
    rgb: np.ndarray, face: Face, size: int = IMAGE_INPUT_SIZE, margin: float = 0.3
) -> np.ndarray:
    """A size x size RGB uint8 crop around ``face`` (box plus ``margin`` per side), eyes levelled.

    The region is first resampled with area averaging (no aliasing when a large face shrinks),
    then rotated about the face centre so the eyes lie on a horizontal line.
    """
    x, y, w, h = face.box
    cx, cy = x + w / 2.0, y + h / 2.0
    side = max(w, h) * (1.0 + 2.0 * margin)
    angle = 0.0
    eyes = face.eye_centres()
    if eyes is not None:
        (lx, ly), (rx, ry) = eyes
        angle = math.degrees(math.atan2(ry - ly, rx - lx))
    # A square large enough to rotate without empty corners.
    big = side * math.sqrt(2.0)
    big_px = int(math.ceil(size * math.sqrt(2.0)))
    x0, y0 = int(round(cx - big / 2)), int(round(cy - big / 2))
    n = max(1, int(round(big)))
    region = _crop_padded(rgb, x0, y0, n, n)
    interp = cv2.INTER_AREA if n > big_px else cv2.INTER_CUBIC
    region = cv2.resize(region, (big_px, big_px), interpolation=interp)
    c = big_px / 2.0
    m = cv2.getRotationMatrix2D((c, c), angle, 1.0)
    m[0, 2] -= c - size / 2.0
    m[1, 2] -= c - size / 2.0
    out = cv2.warpAffine(region, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return np.ascontiguousarray(out, dtype=np.uint8)


def _crop_padded(rgb: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """rgb[y0:y0+h, x0:x0+w], black where the window leaves the image (mirroring would invent faces)."""
    ih, iw = rgb.shape[:2]
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y0 + h - ih), max(0, x0 + w - iw)
    sub = rgb[max(0, y0) : min(ih, y0 + h), max(0, x0) : min(iw, x0 + w)]
    if sub.size == 0:
        return np.zeros((h, w, 3), dtype=np.uint8)
    if top or left or bottom or right:
        sub = cv2.copyMakeBorder(sub, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return sub


def resize_whole(rgb: np.ndarray, size: int = IMAGE_INPUT_SIZE) -> np.ndarray:
    """The whole image as a size x size model input (area resampling; aspect not kept)."""
    h, w = rgb.shape[:2]
    interp = cv2.INTER_AREA if max(h, w) > size else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(rgb, (size, size), interpolation=interp), dtype=np.uint8)
