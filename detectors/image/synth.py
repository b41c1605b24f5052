"""Training-time fakes made from real photos, and augmentations applied to every class.

- ``self_blend``: Self-Blended Images (Shiohara & Yamasaki, CVPR 2022): a face is blended onto
  itself after a slight colour, sharpness, scale and position change, with a soft mask, so the
  only cue is the blending itself (the trace every face swap leaves).
- ``resample_trace``: what generators' decoders leave: content re-synthesised at a lower
  resolution and up-sampled (interpolation or zero insertion + a smoothing kernel), often with
  the sensor noise gone.
- ``augment``: size normalisation (so a class cannot be told by its resolution), crops, flips
  and a random container (JPEG at a random quality, PNG, WebP): applied to real and fake alike.
"""

from __future__ import annotations

import io
import math

import cv2
import numpy as np

from detectors.faces import Face

_INTERPOLATIONS = (cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4)


def _scale_face(face: Face, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> Face:
    x, y, w, h = face.box
    box = (int(round(x * sx + dx)), int(round(y * sy + dy)), max(1, int(round(w * sx))), max(1, int(round(h * sy))))
    lm = None if face.landmarks is None else face.landmarks * np.array([sx, sy], np.float32) + np.array([dx, dy], np.float32)
    return Face(box=box, score=face.score, landmarks=lm)


def _flip_face(face: Face, width: int) -> Face:
    x, y, w, h = face.box
    lm = None
    if face.landmarks is not None:
        lm = face.landmarks.copy()
        lm[:, 0] = width - 1 - lm[:, 0]
    return Face(box=(width - x - w, y, w, h), score=face.score, landmarks=lm)


# --- fakes -----------------------------------------------------------------------------------


def blend_mask(shape: tuple[int, int], face: Face, rng: np.random.Generator) -> np.ndarray:
    """A soft, randomly deformed elliptical face mask (float32 0..1)."""
    h, w = shape
    x, y, bw, bh = face.box
    cx, cy = x + bw / 2.0, y + bh * (0.5 + rng.uniform(-0.04, 0.08))
    if face.landmarks is not None:
        cx = float(face.landmarks[:, 0].mean())
    ax = bw * rng.uniform(0.32, 0.46)
    ay = bh * rng.uniform(0.40, 0.56)
    mask = np.zeros((h, w), np.uint8)
    pts = []
    for t in np.linspace(0, 2 * math.pi, 24, endpoint=False):
        r = 1.0 + rng.uniform(-0.08, 0.08)
        pts.append((cx + ax * r * math.cos(t), cy + ay * r * math.sin(t)))
    cv2.fillPoly(mask, [np.round(np.array(pts)).astype(np.int32)], 1)
    k = max(3, int(min(bw, bh) * rng.uniform(0.05, 0.25))) | 1
    soft = cv2.GaussianBlur(mask.astype(np.float32), (k, k), 0)
    return soft * rng.choice([1.0, rng.uniform(0.5, 1.0)])


def self_blend(rgb: np.ndarray, face: Face, rng: np.random.Generator) -> np.ndarray:
    """A self-blended fake of ``rgb`` around ``face`` (SBI)."""
    src = rgb.astype(np.float32)
    # colour / brightness / contrast shift
    src = src * rng.uniform(0.9, 1.1, size=3) + rng.uniform(-12, 12, size=3)
    src = (src - src.mean()) * rng.uniform(0.9, 1.1) + src.mean()
    # sharpness: blur or unsharp mask
    if rng.random() < 0.5:
        src = cv2.GaussianBlur(src, (0, 0), rng.uniform(0.5, 1.5))
    else:
        blur = cv2.GaussianBlur(src, (0, 0), 1.0)
        src = src + rng.uniform(0.3, 1.0) * (src - blur)
    # resolution change (a swapped face is usually rendered at another resolution)
    if rng.random() < 0.5:
        f = rng.uniform(0.35, 0.8)
        h, w = src.shape[:2]
        small = cv2.resize(src, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
        src = cv2.resize(small, (w, h), interpolation=int(rng.choice(_INTERPOLATIONS[1:])))
    # slight geometric misalignment about the face centre
    x, y, bw, bh = face.box
    m = cv2.getRotationMatrix2D((x + bw / 2, y + bh / 2), rng.uniform(-2, 2), rng.uniform(0.96, 1.04))
    m[:, 2] += rng.uniform(-0.03, 0.03, size=2) * np.array([bw, bh])
    src = cv2.warpAffine(src, m, (rgb.shape[1], rgb.shape[0]), borderMode=cv2.BORDER_REFLECT)
    mask = blend_mask(rgb.shape[:2], face, rng)[..., None]
    out = src * mask + rgb.astype(np.float32) * (1 - mask)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def resample_trace(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Re-synthesis at a lower resolution and up-sampling back, as generators' decoders do."""
    h, w = rgb.shape[:2]
    img = rgb.astype(np.float32)
    if rng.random() < 0.5:  # generated content lacks sensor noise
        img = cv2.bilateralFilter(img, 5, rng.uniform(10, 40), rng.uniform(2, 6))
    factor = float(rng.choice([1.5, 2.0, 2.0, 3.0, 4.0]))
    sw, sh = max(8, int(round(w / factor))), max(8, int(round(h / factor)))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.3 and factor == 2.0:
        # zero insertion + a random smoothing kernel (a transposed convolution's checkerboard)
        up = np.zeros((sh * 2, sw * 2, 3), np.float32)
        up[::2, ::2] = small * 4
        k = cv2.getGaussianKernel(5, rng.uniform(0.6, 1.2))
        kern = (k @ k.T).astype(np.float32)
        kern += rng.normal(0, 0.01, kern.shape).astype(np.float32)
        kern /= kern.sum()
        up = cv2.filter2D(up, -1, kern)
        out = cv2.resize(up, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        out = cv2.resize(small, (w, h), interpolation=int(rng.choice(_INTERPOLATIONS)))
    if rng.random() < 0.5:  # decoders often sharpen
        blur = cv2.GaussianBlur(out, (0, 0), 1.0)
        out = out + rng.uniform(0.2, 0.8) * (out - blur)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --- augmentation ----------------------------------------------------------------------------


def encode_roundtrip(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Save and reload in a random container: JPEG (random quality), PNG or WebP."""
    from PIL import Image

    r = rng.random()
    buf = io.BytesIO()
    img = Image.fromarray(rgb)
    if r < 0.7:
        img.save(buf, format="JPEG", quality=int(rng.integers(60, 101)))
    elif r < 0.85:
        img.save(buf, format="WEBP", quality=int(rng.integers(70, 101)))
    else:
        img.save(buf, format="PNG")
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.uint8)


def augment(
    rgb: np.ndarray,
    faces: list[Face],
    rng: np.random.Generator,
    short_side: tuple[float, float] = (112, 768),
) -> tuple[np.ndarray, list[Face]]:
    """Crop, flip, size normalisation (short side drawn log-uniformly; only ever shrunk) and
    a random container round trip. Faces are mapped through the geometry."""
    h, w = rgb.shape[:2]
    if faces and rng.random() < 0.35:
        # a tight crop around the face (as in face datasets), for every class alike
        fx, fy, fw, fh = faces[0].box
        grow = rng.uniform(1.05, 1.6)
        side = max(fw, fh) * grow
        cx, cy = fx + fw / 2 + rng.uniform(-0.05, 0.05) * fw, fy + fh / 2 + rng.uniform(-0.05, 0.1) * fh
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
        if x1 - x0 >= 32 and y1 - y0 >= 32:
            rgb = rgb[y0:y1, x0:x1]
            faces = [_scale_face(f, 1.0, 1.0, -x0, -y0) for f in faces[:1]]
            h, w = rgb.shape[:2]
    # crop 85-100 % per side, keeping the first face inside when there is one
    cw, ch = int(w * rng.uniform(0.85, 1.0)), int(h * rng.uniform(0.85, 1.0))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    if faces:
        fx, fy, fw, fh = faces[0].box
        x0 = int(np.clip(x0, max(0, fx + fw - cw), max(0, min(fx, w - cw))))
        y0 = int(np.clip(y0, max(0, fy + fh - ch), max(0, min(fy, h - ch))))
    rgb = rgb[y0 : y0 + ch, x0 : x0 + cw]
    faces = [_scale_face(f, 1.0, 1.0, -x0, -y0) for f in faces]
    if rng.random() < 0.5:
        rgb = np.ascontiguousarray(rgb[:, ::-1])
        faces = [_flip_face(f, rgb.shape[1]) for f in faces]
    target = math.exp(rng.uniform(math.log(short_side[0]), math.log(short_side[1])))
    s = target / min(rgb.shape[:2])
    if s < 1.0:
        nw, nh = max(16, int(round(rgb.shape[1] * s))), max(16, int(round(rgb.shape[0] * s)))
        sx, sy = nw / rgb.shape[1], nh / rgb.shape[0]
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        faces = [_scale_face(f, sx, sy) for f in faces]
    return encode_roundtrip(rgb, rng), faces
