"""The views an image v2 stream scores: the whole image resized, native-resolution crops (centre
and corners), and each aligned face crop; plus the ``aug`` training view (a random re-encoding
chain applied to real and fake alike).

No single resize to 224 px: a resize removes the high-frequency traces a generator leaves, a
crop keeps them but sees a small part; faces need an aligned crop of their own (face swaps
change only the face). Which views matter is measured (``experiments/image/``), not assumed.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from detectors.faces import Face, FaceDetector, align_crop, resize_whole

SIZE = 224
CORNERS = ("tl", "tr", "bl", "br")
MAX_FACES = 3  # the largest faces; more rarely change a verdict and cost a backbone pass each
MAX_PIXELS = 50_000_000


@dataclass
class ImageViews:
    """224 px RGB uint8 inputs of one image, by view name, and the faces they came from."""

    whole: np.ndarray
    crops: dict[str, np.ndarray] = field(default_factory=dict)  # "centre", "tl", "tr", "bl", "br"
    faces: list[np.ndarray] = field(default_factory=list)
    face_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    width: int = 0
    height: int = 0

    def batch(self) -> tuple[list[str], list[np.ndarray]]:
        """Every input in one list (for one backbone call), with its view name."""
        names = ["whole", *self.crops, *(f"face{i}" for i in range(len(self.faces)))]
        return names, [self.whole, *self.crops.values(), *self.faces]


def native_crop(rgb: np.ndarray, where: str, size: int = SIZE) -> np.ndarray:
    """A size x size crop at native resolution ('centre' or a corner); a side under ``size`` is
    first scaled up to it (such an image has no native detail to keep)."""
    h, w = rgb.shape[:2]
    if min(h, w) < size:
        s = size / min(h, w)
        rgb = cv2.resize(rgb, (max(size, round(w * s)), max(size, round(h * s))), interpolation=cv2.INTER_CUBIC)
        h, w = rgb.shape[:2]
    if where == "centre":
        y0, x0 = (h - size) // 2, (w - size) // 2
    else:
        y0 = 0 if where[0] == "t" else h - size
        x0 = 0 if where[1] == "l" else w - size
    return np.ascontiguousarray(rgb[y0 : y0 + size, x0 : x0 + size])


def equalise_resolution(rgb: np.ndarray, short_side: int, quality: int = 90) -> np.ndarray:
    """The image as every source's file would look at one low resolution: downscaled (area) so
    its short side is at most ``short_side`` px, then JPEG-encoded at ``quality`` and decoded.

    Why: CLIP sees every image at 224 px, so a 140 px face crop arrives blurred and a 1024 px
    render sharp, and the corpus' real and fake sources differ in resolution in ways that flip
    between generator families. Equalising sharpness and compression first, for training and
    scoring alike, raised the held-out-family AUC of the projected-embedding probe (model card,
    ``experiments/image/resolution_view.py``).
    """
    from PIL import Image

    h, w = rgb.shape[:2]
    s = short_side / min(h, w)
    if s < 1:
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    data = encode(np.ascontiguousarray(rgb), "JPEG", {"quality": quality})
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def whole_view(rgb: np.ndarray, whole_short: int = 0) -> np.ndarray:
    """The whole-image input: resized to 224 px, after ``equalise_resolution`` when ``whole_short``."""
    return resize_whole(equalise_resolution(rgb, whole_short) if whole_short else rgb, SIZE)


def make_views(
    rgb: np.ndarray, faces: list[Face], crops: tuple[str, ...] = ("centre",), max_faces: int = MAX_FACES,
    whole_short: int = 0,
) -> ImageViews:
    """All views of an RGB uint8 image; ``crops`` picks the native crops ('centre' and corners);
    ``whole_short`` equalises the whole view's resolution (``equalise_resolution``), not the crops'."""
    h, w = rgb.shape[:2]
    views = ImageViews(whole=whole_view(rgb, whole_short), width=w, height=h)
    views.crops = {c: native_crop(rgb, c) for c in crops}
    for face in faces[:max_faces]:
        views.faces.append(align_crop(rgb, face, SIZE))
        views.face_boxes.append(face.box)
    return views


def pool(vectors: list[np.ndarray], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and max over views; NaN vectors when there is no view (e.g. no face)."""
    if not vectors:
        nan = np.full(dim, np.nan, np.float32)
        return nan, nan.copy()
    arr = np.stack(vectors).astype(np.float32)
    return arr.mean(axis=0), arr.max(axis=0)


def detect_faces(detector: FaceDetector, rgb: np.ndarray) -> list[Face]:
    """Faces, largest first (the shared Haar + dlib 5-point detector)."""
    return detector.detect(rgb)


# --- the `aug` training view ------------------------------------------------------------------


def augment_chain(rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str, dict]:
    """One random degradation chain: crop, resize, blur, noise, screenshot, then a container
    (JPEG / WebP at a random quality, or PNG). Returns pixels, the format to save and its options.

    The same distribution for real and fake, so no stream can learn the container, the
    resolution or the sharpness of a class.
    """
    h, w = rgb.shape[:2]
    if rng.random() < 0.5:  # crop 70-100 % per side
        cw, ch = max(16, int(w * rng.uniform(0.7, 1.0))), max(16, int(h * rng.uniform(0.7, 1.0)))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        rgb = rgb[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.7:  # resize: short side log-uniform in 160..1024, both directions, capped x2
        target = math.exp(rng.uniform(math.log(160), math.log(1024)))
        s = min(2.0, target / min(rgb.shape[:2]))
        nw, nh = max(16, round(rgb.shape[1] * s)), max(16, round(rgb.shape[0] * s))
        interp = cv2.INTER_AREA if s < 1 else int(rng.choice([cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4]))
        rgb = cv2.resize(rgb, (nw, nh), interpolation=interp)
    if rng.random() < 0.2:
        rgb = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < 0.2:
        noise = rng.normal(0, rng.uniform(1.0, 5.0), rgb.shape)
        rgb = np.clip(rgb.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.15:  # screenshot: shown at another scale (bilinear), captured losslessly
        s = rng.uniform(0.6, 1.5)
        nw, nh = max(16, round(rgb.shape[1] * s)), max(16, round(rgb.shape[0] * s))
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(rgb), "PNG", {}
    r = rng.random()
    if r < 0.6:
        return np.ascontiguousarray(rgb), "JPEG", {"quality": int(rng.integers(50, 100))}
    if r < 0.85:
        return np.ascontiguousarray(rgb), "WEBP", {"quality": int(rng.integers(50, 100))}
    return np.ascontiguousarray(rgb), "PNG", {}


def encode(rgb: np.ndarray, fmt: str, options: dict) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **options)
    return buf.getvalue()


def aug_view(src: Path, dst_dir: Path, rng: np.random.Generator) -> Path:
    """The registered ``aug`` view: a randomly degraded, re-encoded copy of ``src`` in ``dst_dir``."""
    from detectors.media import load_image

    rgb = load_image(src, MAX_PIXELS)
    out, fmt, opts = augment_chain(rgb, rng)
    ext = {"JPEG": ".jpg", "WEBP": ".webp", "PNG": ".png"}[fmt]
    dst = Path(dst_dir) / f"{Path(src).stem}-aug{ext}"
    dst.write_bytes(encode(out, fmt, opts))
    return dst


# --- the `sbi` training view: a self-blended face fake made from a real photo -------------------

_SBI_FACES: FaceDetector | None = None


def sbi_view(src: Path, dst_dir: Path, rng: np.random.Generator) -> Path:
    """A self-blended fake (``synth.self_blend``, SBI) of the largest face of a real ``src``, then
    the ``aug`` degradation chain. Raises ValueError when there is no face (no fake to make)."""
    from detectors.image.synth import self_blend
    from detectors.media import load_image

    global _SBI_FACES
    if _SBI_FACES is None:
        _SBI_FACES = FaceDetector()
        _SBI_FACES.load()
    rgb = load_image(src, MAX_PIXELS)
    faces = _SBI_FACES.detect(rgb)
    if not faces:
        raise ValueError("no face to self-blend")
    fake = self_blend(rgb, faces[0], rng)
    out, fmt, opts = augment_chain(fake, rng)
    ext = {"JPEG": ".jpg", "WEBP": ".webp", "PNG": ".png"}[fmt]
    dst = Path(dst_dir) / f"{Path(src).stem}-sbi{ext}"
    dst.write_bytes(encode(out, fmt, opts))
    return dst
