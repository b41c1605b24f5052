"""Forensic features of an image, computed on native-resolution pixels (never on a resized copy).

Each function returns plain floats; ``anomalies.py`` turns a value into an anomaly only when it
falls outside the range measured on real photos (stored beside the weights). The groups follow
the usage guide: edges, colour, texture, frequency domain, compression; plus per-face
consistency (a pasted, blended face differs from its surroundings in noise, sharpness and
compression history).

Expensive global measures look at a central window of at most ``WINDOW`` x ``WINDOW`` source
pixels: cropping keeps the high-frequency evidence that resizing would destroy.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

WINDOW = 1024
BLOCK = 32  # block size for local (consistency) statistics
ELA_QUALITY = 90
_HP = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)  # Immerkaer's noise kernel
_NOISE_SCALE = 1.4826 / 6.0  # MAD -> sigma, over the kernel gain (sqrt of 36)


@dataclass
class ForensicReport:
    """Feature values of the whole image and of each face (same order as the faces)."""

    image: dict[str, float] = field(default_factory=dict)
    faces: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Luma (BT.601) as float32, in 0..255."""
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def central_window(arr: np.ndarray, size: int = WINDOW, multiple: int = 8) -> np.ndarray:
    """A central crop of at most ``size`` pixels per side, aligned to the 8x8 JPEG grid."""
    h, w = arr.shape[:2]
    ch, cw = min(h, size), min(w, size)
    y0 = ((h - ch) // 2) // multiple * multiple
    x0 = ((w - cw) // 2) // multiple * multiple
    return arr[y0 : y0 + ch, x0 : x0 + cw]


def _block_view(a: np.ndarray, block: int) -> np.ndarray:
    """(rows, cols, block, block) view of the top-left part of ``a`` that tiles exactly."""
    h, w = a.shape[0] // block * block, a.shape[1] // block * block
    return a[:h, :w].reshape(h // block, block, w // block, block).swapaxes(1, 2)


def noise_residual(gray: np.ndarray) -> np.ndarray:
    """High-pass residual whose magnitude estimates sensor noise (Immerkaer 1996)."""
    return cv2.filter2D(gray, cv2.CV_32F, _HP, borderType=cv2.BORDER_REFLECT)


def noise_level(residual: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Robust noise sigma from a residual (median of magnitudes, so edges barely count)."""
    vals = np.abs(residual[mask]) if mask is not None else np.abs(residual)
    return float(_NOISE_SCALE * np.median(vals)) if vals.size else float("nan")


# --- edges -----------------------------------------------------------------------------------


def edge_features(gray: np.ndarray) -> dict[str, float]:
    """Edge density (Canny, thresholds from the median) and blockwise edge-strength consistency."""
    g8 = np.clip(gray, 0, 255).astype(np.uint8)
    med = float(np.median(g8))
    lo, hi = int(max(0, 0.66 * med)), int(min(255, max(1.33 * med, 0.66 * med + 10)))
    edges = cv2.Canny(g8, lo, hi) > 0
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    e_blocks = _block_view(edges, BLOCK).sum(axis=(2, 3))
    m_blocks = _block_view(mag * edges, BLOCK).sum(axis=(2, 3))
    strong = e_blocks >= 0.02 * BLOCK * BLOCK
    if strong.sum() >= 4:
        per_block = m_blocks[strong] / e_blocks[strong]
        consistency = float(np.std(np.log(per_block + 1e-3)))
    else:
        consistency = float("nan")
    return {"edge_density": float(edges.mean()), "edge_strength_spread": consistency}


# --- colour ----------------------------------------------------------------------------------


def colour_features(rgb: np.ndarray) -> dict[str, float]:
    """Saturation level, hue-histogram entropy, and cross-channel correlation of noise residuals.

    Camera demosaicing couples the fine detail of R, G and B; synthesised pixels often do not.
    """
    if rgb.ndim == 2 or (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])):
        return {"saturation_mean": 0.0, "hue_entropy": float("nan"), "channel_residual_corr": float("nan")}
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    sat = hsv[..., 1].astype(np.float32) / 255.0
    coloured = sat > 0.1
    hue_hist = np.bincount(hsv[..., 0][coloured].ravel() // 6, minlength=30).astype(np.float64)
    if hue_hist.sum() > 100:
        p = hue_hist / hue_hist.sum()
        entropy = float(-(p[p > 0] * np.log2(p[p > 0])).sum() / math.log2(30))
    else:
        entropy = float("nan")
    res = [noise_residual(rgb[..., c].astype(np.float32)).ravel() for c in range(3)]
    corrs = []
    for a, b in ((0, 1), (1, 2), (0, 2)):
        sa, sb = res[a].std(), res[b].std()
        if sa > 1e-6 and sb > 1e-6:
            corrs.append(float(np.mean((res[a] - res[a].mean()) * (res[b] - res[b].mean())) / (sa * sb)))
    return {
        "saturation_mean": float(sat.mean()),
        "hue_entropy": entropy,
        "channel_residual_corr": float(np.mean(corrs)) if corrs else float("nan"),
    }


# --- texture ---------------------------------------------------------------------------------


def texture_features(gray: np.ndarray) -> dict[str, float]:
    """Noise level, and how much it varies between blocks (regions with a different history)."""
    res = noise_residual(gray)
    level = noise_level(res)
    blocks = np.median(np.abs(_block_view(res, BLOCK)).reshape(*_block_view(res, BLOCK).shape[:2], -1), axis=2)
    vals = blocks.ravel() * _NOISE_SCALE
    spread = float(np.std(np.log(vals + 0.05))) if vals.size >= 4 else float("nan")
    lap_var = float(cv2.Laplacian(gray, cv2.CV_32F).var())
    return {"noise_level": level, "noise_spread": spread, "laplacian_var_log": float(np.log10(lap_var + 1e-3))}


# --- frequency domain ------------------------------------------------------------------------


def radial_spectrum(gray: np.ndarray, bins: int = 64, tile: int = 256, max_tiles: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthally averaged power spectrum, frequencies in cycles/pixel 0..0.5.

    Welch's method: Hann-windowed tiles of ``tile`` px (up to ``max_tiles``, evenly spread),
    power averaged over tiles: less noisy and much cheaper than one FFT of the whole window.
    """
    h, w = gray.shape
    t = min(tile, h, w) // 2 * 2
    ys = np.linspace(0, h - t, max(1, min(4, h // t))).astype(int)
    xs = np.linspace(0, w - t, max(1, min(max_tiles // len(ys), w // t))).astype(int)
    tiles = np.stack([gray[y : y + t, x : x + t] for y in ys for x in xs]).astype(np.float32)
    tiles -= tiles.mean(axis=(1, 2), keepdims=True)
    win = np.outer(np.hanning(t), np.hanning(t)).astype(np.float32)
    power = (np.abs(np.fft.rfft2(tiles * win)) ** 2).mean(axis=0)
    fy = np.fft.fftfreq(t)[:, None]
    fx = np.fft.rfftfreq(t)[None, :]
    r = np.sqrt(fx * fx + fy * fy)
    idx = np.minimum((r / 0.5 * bins).astype(int), bins)
    sums = np.bincount(idx.ravel(), weights=power.ravel(), minlength=bins + 1)[:bins]
    counts = np.bincount(idx.ravel(), minlength=bins + 1)[:bins]
    freqs = (np.arange(bins) + 0.5) / bins * 0.5
    return freqs, sums / np.maximum(counts, 1)


def periodicity(gray: np.ndarray, max_rows: int = 128) -> dict[str, float]:
    """Spectral replicas, the trace of up-sampling (and of 8x8 JPEG blocks).

    Up-sampling by L makes each row's spectrum a filtered copy of the original repeated every
    1/L cycles/px, so the fine structure of the log spectrum correlates with itself shifted by
    1/L; in an image taken at its own resolution it does not. Returned: the strongest
    correlation away from the JPEG lags (k/8, reported as ``jpeg_replica``) and its lag.
    """
    per_axis: list[np.ndarray] = []
    lags = None
    for g in (gray, gray.T):
        rows = g[:: max(1, g.shape[0] // max_rows)]
        n = rows.shape[1]
        if n < 32:
            return {"upsampling_replica": float("nan"), "upsampling_lag": float("nan"), "jpeg_replica": float("nan")}
        spec = np.fft.fft((rows - rows.mean(axis=1, keepdims=True)) * np.hanning(n), axis=1)
        logp = np.log(np.abs(spec) ** 2 + 1e-3).astype(np.float32)
        k = max(3, n // 64) | 1
        padded = np.concatenate([logp[:, -k:], logp, logp[:, :k]], axis=1)
        detail = logp - cv2.blur(padded, (k, 1))[:, k:-k]
        detail -= detail.mean(axis=1, keepdims=True)
        f = np.fft.fft(detail, axis=1)
        ac = np.fft.ifft(np.abs(f) ** 2, axis=1).real
        ac = (ac / np.maximum(ac[:, :1], 1e-9)).mean(axis=0)
        lag = np.abs(np.fft.fftfreq(n))
        if lags is None or lags.size > n:
            lags = lag
        # resample onto a common lag grid (0..0.5, 256 steps) so both axes can be combined
        grid = np.linspace(0, 0.5, 257)
        order = np.argsort(lag[: n // 2 + 1])
        per_axis.append(np.interp(grid, lag[: n // 2 + 1][order], ac[: n // 2 + 1][order]))
    ac2 = np.mean(per_axis, axis=0)
    grid = np.linspace(0, 0.5, 257)
    jpeg_lags = np.zeros_like(grid, dtype=bool)
    for k in (1, 2, 3):
        jpeg_lags |= np.abs(grid - k / 8) <= 0.006
    ok = (grid > 0.08) & ~jpeg_lags
    i = int(np.argmax(np.where(ok, ac2, -1.0)))
    return {
        "upsampling_replica": float(ac2[i]),
        "upsampling_lag": float(grid[i]),
        "jpeg_replica": float(ac2[np.abs(grid - 0.125) <= 0.006].max()),
    }


def spectral_features(gray: np.ndarray) -> dict[str, float]:
    """High-frequency energy share and the slope of the power spectrum (log-log)."""
    freqs, power = radial_spectrum(gray)
    total = power[freqs > 0.01].sum() + 1e-9
    hf = float(power[freqs > 0.25].sum() / total)
    sel = (freqs > 0.05) & (freqs < 0.45) & (power > 0)
    slope = float(np.polyfit(np.log(freqs[sel]), np.log(power[sel]), 1)[0]) if sel.sum() > 4 else float("nan")
    # The top band relative to the band just below: a cliff here is left by low-pass up-sampling.
    top = power[(freqs > 0.4)].mean()
    mid = power[(freqs > 0.25) & (freqs <= 0.4)].mean() + 1e-9
    return {"hf_energy_ratio": float(np.log10(hf + 1e-9)), "spectral_slope": slope, "hf_falloff": float(np.log10(top / mid + 1e-9))}


# --- compression -----------------------------------------------------------------------------


def jpeg_grid(gray: np.ndarray) -> dict[str, float]:
    """Blockiness of an 8x8 grid at its strongest offset, and whether that offset is (0, 0).

    A grid off the origin means the picture was cropped after JPEG compression.
    """
    dx = np.abs(np.diff(gray, axis=1)).mean(axis=0)
    dy = np.abs(np.diff(gray, axis=0)).mean(axis=1)

    def strength(d: np.ndarray) -> tuple[float, int]:
        n = d.size // 8 * 8
        if n < 16:
            return 0.0, 0
        phase = d[:n].reshape(-1, 8).mean(axis=0)
        k = int(np.argmax(phase))
        others = np.delete(phase, k)
        return float(phase[k] / (np.median(others) + 1e-6) - 1.0), (k + 1) % 8

    sx, ox = strength(dx)
    sy, oy = strength(dy)
    s = 0.5 * (sx + sy)
    misaligned = float(s > 0.05 and (ox, oy) != (0, 0))
    return {"jpeg_blockiness": float(np.log10(max(s, 0.0) + 1e-3)), "jpeg_grid_misaligned": misaligned}


_DCT = np.array(
    [[math.sqrt((1 if k == 0 else 2) / 8) * math.cos((2 * n + 1) * k * math.pi / 16) for n in range(8)] for k in range(8)],
    dtype=np.float64,
)
# zig-zag positions 1..9 (the low-frequency AC coefficients, populated enough for histograms)
_ZIGZAG_AC = [(0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0)]


def block_dct(gray: np.ndarray) -> np.ndarray:
    """8x8 DCT-II of every block of (gray - 128): array (rows, cols, 8, 8)."""
    b = _block_view(gray.astype(np.float64) - 128.0, 8)
    return np.matmul(np.matmul(_DCT, b), _DCT.T)


def double_jpeg(luma: np.ndarray, qtable: np.ndarray | None) -> dict[str, float]:
    """Double-quantisation trace in the DCT histograms of a JPEG's luma (Lukas & Fridrich 2003).

    Quantising twice with different steps leaves periodic gaps and bumps in each coefficient's
    histogram; one quantisation leaves a smooth, monotone one. Needs the file's luma table.
    """
    if qtable is None:
        return {"double_jpeg": float("nan")}
    coef = block_dct(luma)
    excess, mass = 0.0, 0.0
    for u, v in _ZIGZAG_AC:
        q = float(qtable[u, v])
        c = np.abs(np.rint(coef[:, :, u, v] / q)).astype(np.int64).ravel()
        h = np.bincount(c, minlength=24)[:24].astype(np.float64)
        for n in range(1, 22):
            local = h[n - 1 : n + 2]
            if local.max() < 20:
                continue
            lo, hi = min(h[n - 1], h[n + 1]), max(h[n - 1], h[n + 1])
            excess += max(0.0, lo - h[n]) + max(0.0, h[n] - hi)
            mass += local.mean()
    return {"double_jpeg": float(excess / mass) if mass > 0 else float("nan")}


def error_level(rgb: np.ndarray, quality: int = ELA_QUALITY) -> tuple[float, np.ndarray]:
    """Error level analysis: mean |pixel change| after one more JPEG save, and the per-pixel map."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    again = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.int16)
    diff = np.abs(again - rgb.astype(np.int16)).mean(axis=2).astype(np.float32)
    return float(diff.mean()), diff


def compression_features(
    rgb: np.ndarray, gray: np.ndarray, luma: np.ndarray | None, qtable: np.ndarray | None
) -> tuple[dict[str, float], np.ndarray]:
    """JPEG grid, double compression and error level (plus its blockwise spread)."""
    out = jpeg_grid(gray)
    out.update(double_jpeg(luma, qtable) if luma is not None else {"double_jpeg": float("nan")})
    ela, ela_map = error_level(rgb)
    blocks = _block_view(ela_map, BLOCK).mean(axis=(2, 3)).ravel()
    out["error_level"] = float(np.log10(ela + 1e-3))
    out["error_level_spread"] = float(np.std(np.log(blocks + 0.1))) if blocks.size >= 4 else float("nan")
    return out, ela_map


# --- faces -----------------------------------------------------------------------------------


def _face_masks(shape: tuple[int, int], box: tuple[int, int, int, int]) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """The region around a face box, and inside it the inner face ellipse and a surrounding ring."""
    h, w = shape
    x, y, bw, bh = box
    cx, cy = x + bw / 2.0, y + bh / 2.0
    ax, ay = 0.35 * bw, 0.42 * bh
    x0, x1 = max(0, int(cx - 2.4 * ax)), min(w, int(cx + 2.4 * ax) + 1)
    y0, y1 = max(0, int(cy - 2.4 * ay)), min(h, int(cy + 2.4 * ay) + 1)
    yy, xx = np.ogrid[y0:y1, x0:x1]
    d = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2
    return (slice(y0, y1), slice(x0, x1)), d <= 1.0, (d >= 1.6**2) & (d <= 2.3**2)


def face_features(
    residual: np.ndarray, laplacian: np.ndarray, ela_map: np.ndarray | None, box: tuple[int, int, int, int]
) -> dict[str, float]:
    """Face vs its surroundings: noise level, sharpness, error level (log2 ratios; 0 = alike)."""
    region, inner, ring = _face_masks(residual.shape[:2], box)
    if inner.sum() < 64 or ring.sum() < 64:
        return {"face_noise_ratio": float("nan"), "face_sharpness_ratio": float("nan"), "face_ela_ratio": float("nan")}
    res, lap = residual[region], laplacian[region]
    n_in, n_out = noise_level(res, inner), noise_level(res, ring)
    s_in, s_out = float(np.mean(lap[inner])), float(np.mean(lap[ring]))
    out = {
        "face_noise_ratio": float(np.log2((n_in + 0.1) / (n_out + 0.1))),
        "face_sharpness_ratio": float(np.log2((s_in + 0.1) / (s_out + 0.1))),
        "face_ela_ratio": float("nan"),
    }
    if ela_map is not None and ela_map.shape == residual.shape:
        e = ela_map[region]
        out["face_ela_ratio"] = float(np.log2((e[inner].mean() + 0.1) / (e[ring].mean() + 0.1)))
    return out


# --- all together ----------------------------------------------------------------------------


def analyse(
    rgb: np.ndarray,
    boxes: list[tuple[int, int, int, int]] | None = None,
    jpeg_luma: np.ndarray | None = None,
    jpeg_qtable: np.ndarray | None = None,
) -> ForensicReport:
    """All forensic features of one image (native resolution) and of each face box."""
    report = ForensicReport()
    win = central_window(rgb)
    if win.shape[:2] != rgb.shape[:2]:
        report.notes.append(
            f"global frequency, compression and texture measures use the central {win.shape[1]}x{win.shape[0]} "
            "source pixels (cropped, not resized)"
        )
    gray = to_gray(win)
    feats: dict[str, float] = {}
    feats.update(edge_features(gray))
    feats.update(colour_features(win))
    feats.update(texture_features(gray))
    feats.update(spectral_features(gray))
    feats.update(periodicity(gray))
    luma = central_window(jpeg_luma) if jpeg_luma is not None else None
    comp, ela_win = compression_features(win, gray, luma, jpeg_qtable)
    feats.update(comp)
    report.image = feats
    if boxes:
        whole = win.shape[:2] == rgb.shape[:2]
        full_gray = gray if whole else to_gray(rgb)
        residual = noise_residual(full_gray)
        if whole:
            ela_full: np.ndarray | None = ela_win
        elif rgb.shape[0] * rgb.shape[1] <= 4_000_000:
            ela_full = error_level(rgb)[1]
        else:
            ela_full = None
            report.notes.append("face error-level ratios skipped: image over 4 MP")
        laplacian = np.abs(cv2.Laplacian(full_gray, cv2.CV_32F))
        report.faces = [face_features(residual, laplacian, ela_full, b) for b in boxes]
    return report


def read_jpeg_luma(path: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A JPEG's decoded luma plane and its luma quantisation table (8x8, natural order); else Nones."""
    from PIL import Image

    with Image.open(path) as img:
        if img.format != "JPEG" or not getattr(img, "quantization", None):
            return None, None
        tables = img.quantization
        q = np.asarray(tables.get(0, next(iter(tables.values()))), dtype=np.float64)
        if q.size != 64:
            return None, None
        img.draft("L", img.size)
        luma = np.asarray(img.convert("L"), dtype=np.float32)
    return luma, _unzigzag(q)


def _unzigzag(q: np.ndarray) -> np.ndarray:
    """Pillow's quantization tables are in natural (row-major) order since Pillow 8.3; keep a hook."""
    return q.reshape(8, 8)
