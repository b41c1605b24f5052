"""Face detection, landmarks and aligned crops (detectors.faces)."""

from __future__ import annotations

import csv
import math

import cv2
import numpy as np
import pytest

from detectors.faces import IMAGE_INPUT_SIZE, Face, FaceDetector, align_crop, resize_whole


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    det = FaceDetector()
    det.load()
    return det


def _real_face_files(shared_data, n: int = 6) -> list:
    with open(shared_data / "manifest.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source_repo"] == "twinkletwinklelittlestar70/eyes_that"]
    return [shared_data / r["file"] for r in rows if r["label"] == "real"][:n]


def test_no_face_in_flat_noise(detector):
    rng = np.random.default_rng(0)
    img = (rng.random((300, 400, 3)) * 40 + 100).astype(np.uint8)
    assert detector.detect(img) == []


def test_detects_real_faces_with_landmarks(detector, shared_data):
    from detectors.media import load_image

    hits = 0
    for path in _real_face_files(shared_data):
        rgb = load_image(path, 10_000_000)
        faces = detector.detect(rgb)
        if not faces:
            continue
        hits += 1
        f = faces[0]
        x, y, w, h = f.box
        assert 0 <= x and 0 <= y and x + w <= rgb.shape[1] and y + h <= rgb.shape[0]
        assert f.landmarks is not None and f.landmarks.shape == (5, 2)
        # Landmarks (eyes, nose) fall inside the (slightly enlarged) box.
        assert np.all(f.landmarks[:, 0] > x - 0.1 * w) and np.all(f.landmarks[:, 0] < x + 1.1 * w)
        assert np.all(f.landmarks[:, 1] > y - 0.1 * h) and np.all(f.landmarks[:, 1] < y + 1.1 * h)
    assert hits >= 5


def test_large_image_boxes_map_back_and_are_deterministic(detector, shared_data):
    from detectors.media import load_image

    rgb = load_image(_real_face_files(shared_data, 1)[0], 10_000_000)
    small = detector.detect(rgb)
    big_img = cv2.resize(rgb, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 1024 px: detected downscaled
    big = detector.detect(big_img)
    assert small and big
    assert detector.detect(big_img)[0].box == big[0].box
    bx, by, bw, bh = big[0].box
    sx, sy, sw, sh = small[0].box
    assert abs(bw / 4 - sw) < 0.25 * sw and abs(bx / 4 - sx) < 0.25 * sw and abs(by / 4 - sy) < 0.25 * sh


def _eye_image(angle_deg: float) -> tuple[np.ndarray, Face]:
    """A grey canvas with two dark 'eyes' on a line tilted by ``angle_deg``, and its Face."""
    img = np.full((400, 400, 3), 200, np.uint8)
    c = np.array([200.0, 200.0])
    d = np.array([math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))]) * 40
    left, right = c - d, c + d
    for p in (left, right):
        cv2.circle(img, (int(round(p[0])), int(round(p[1]))), 6, (0, 0, 0), -1)
    lm = np.array([left - [5, 0], left + [5, 0], right - [5, 0], right + [5, 0], c + [0, 40]], np.float32)
    return img, Face(box=(140, 140, 120, 120), score=1.0, landmarks=lm)


@pytest.mark.parametrize("angle", [-25.0, 0.0, 18.0])
def test_align_crop_levels_the_eyes(angle):
    img, face = _eye_image(angle)
    crop = align_crop(img, face, size=IMAGE_INPUT_SIZE)
    assert crop.shape == (IMAGE_INPUT_SIZE, IMAGE_INPUT_SIZE, 3) and crop.dtype == np.uint8
    dark = crop[..., 0] < 80
    n, _, stats, cents = cv2.connectedComponentsWithStats(dark.astype(np.uint8))
    blobs = [cents[i] for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] > 20]
    assert len(blobs) == 2
    (x1, y1), (x2, y2) = sorted(blobs, key=lambda b: b[0])
    assert abs(y1 - y2) < 2.0  # level
    assert abs((x1 + x2) / 2 - IMAGE_INPUT_SIZE / 2) < 3.0  # centred


def test_align_crop_without_landmarks_and_at_the_border():
    img = np.zeros((100, 100, 3), np.uint8)
    img[:, :50] = 255
    crop = align_crop(img, Face(box=(0, 0, 60, 60), score=1.0, landmarks=None), size=64)
    assert crop.shape == (64, 64, 3)
    assert resize_whole(img, 32).shape == (32, 32, 3)
