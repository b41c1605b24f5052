"""Image preprocessing shared by every image detector: decode, faces, forensic features at native
resolution, and the model inputs ([whole image resized] + [aligned face crops])."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from detectors.base import Prepared, ProgressFn, no_progress
from detectors.faces import IMAGE_INPUT_SIZE, Face, FaceDetector, align_crop, resize_whole
from detectors.image import forensics
from detectors.image.views import whole_view
from detectors.media import MediaRef, load_image

MAX_FACES = 8
MIN_SIDE = 64  # below this there is too little detail for a verdict
MIN_STD = 2.0  # an almost uniform picture carries no evidence


@dataclass
class ImageEvidence:
    """Everything ``postprocess`` needs besides the model scores."""

    width: int
    height: int
    format: str
    faces: list[Face] = field(default_factory=list)
    faces_found: int = 0
    forensics: forensics.ForensicReport = field(default_factory=forensics.ForensicReport)
    notes: list[str] = field(default_factory=list)
    inconclusive: str | None = None


def prepare_rgb(
    rgb: np.ndarray,
    face_detector: FaceDetector,
    fmt: str = "",
    jpeg_luma: np.ndarray | None = None,
    jpeg_qtable: np.ndarray | None = None,
    max_faces: int = MAX_FACES,
    timings: dict[str, float] | None = None,
    progress: ProgressFn = no_progress,
    whole_short: int = 0,
    face_crops: bool = True,
) -> tuple[list[np.ndarray], ImageEvidence]:
    """Model inputs and evidence for an RGB uint8 image (no model calls); ``whole_short`` > 0 makes
    the whole-image input at equalised resolution (``views.whole_view``), as image-clip's heads read it.
    ``face_crops=False``: the faces are found (evidence) but not cropped (a model without face heads)."""
    timings = timings if timings is not None else {}
    h, w = rgb.shape[:2]
    ev = ImageEvidence(width=w, height=h, format=fmt)
    if min(h, w) < MIN_SIDE:
        ev.inconclusive = f"the image is {w}x{h} px; below {MIN_SIDE} px on the short side there is too little detail to judge"
        return [], ev
    if float(rgb.std()) < MIN_STD:
        ev.inconclusive = "the image is almost uniform (no texture or detail to analyse)"
        return [], ev
    t = time.perf_counter()
    faces = face_detector.detect(rgb)
    ev.faces_found = len(faces)
    if len(faces) > max_faces:
        ev.notes.append(f"{len(faces)} faces found; the {max_faces} largest were analysed")
        faces = faces[:max_faces]
    ev.faces = faces
    timings["faces"] = time.perf_counter() - t
    progress("faces", 1.0, {"faces": len(faces)})
    t = time.perf_counter()
    ev.forensics = forensics.analyse(rgb, [f.box for f in faces], jpeg_luma, jpeg_qtable)
    ev.notes.extend(ev.forensics.notes)
    timings["forensics"] = time.perf_counter() - t
    progress("forensics", 1.0, {})
    t = time.perf_counter()
    whole = whole_view(rgb, whole_short) if whole_short else resize_whole(rgb, IMAGE_INPUT_SIZE)
    inputs = [whole] + ([align_crop(rgb, f, IMAGE_INPUT_SIZE) for f in faces] if face_crops else [])
    timings["crops"] = time.perf_counter() - t
    return inputs, ev


def prepare_ref(
    ref: MediaRef, max_pixels: int, face_detector: FaceDetector, progress: ProgressFn = no_progress
) -> Prepared:
    """Decode ``ref`` and prepare it; the evidence goes in ``payload['evidence']``."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    rgb = load_image(ref.path, max_pixels)
    luma, qtable = forensics.read_jpeg_luma(ref.path) if ref.format == "jpeg" else (None, None)
    timings["decode"] = time.perf_counter() - t
    progress("decode", 1.0, {"width": rgb.shape[1], "height": rgb.shape[0]})
    inputs, ev = prepare_rgb(rgb, face_detector, ref.format, luma, qtable, timings=timings, progress=progress)
    return Prepared(ref=ref, model_inputs=inputs, payload={"evidence": ev}, timings=timings)
