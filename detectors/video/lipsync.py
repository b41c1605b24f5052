"""Lip motion against speech energy: a cross-modal cue for dubbed or re-voiced video.

Over a few contiguous seconds where a face is tracked, the mouth region (placed from the eye and
nose landmarks, so it moves with the head) is resampled into a small patch per frame; its
frame-to-frame change is the mouth's activity. The sound's loudness is measured at the same
times. In genuine speech the two rise and fall together (within a small audio-video offset);
their best correlation over offsets of up to 0.2 s is the cue. Audio-driven talking-head
generators are lip-synced by design, so this cue catches mismatched sound, not those.
"""

from __future__ import annotations

import cv2
import numpy as np

LIP_WINDOW_SECONDS = 4.0
LIP_WINDOW_MAX_FRAMES = 120
MAX_LAG_SECONDS = 0.2
PATCH = (32, 20)  # width, height of the resampled mouth patch


def mouth_patch(gray: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """The mouth region, levelled with the eyes, as a PATCH-sized float32 array (0..1)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2):
        return None
    a, b = lm[0:2].mean(axis=0), lm[2:4].mean(axis=0)
    left, right = (a, b) if a[0] <= b[0] else (b, a)
    iod = float(np.linalg.norm(right - left))
    if iod < 4:
        return None
    nose = lm[4]
    down = nose - (left + right) / 2
    centre = nose + 0.45 * down
    angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
    # 0.9 eye distances wide; the patch's 32:20 shape makes it about 0.56 eye distances tall.
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, PATCH[0] / (0.9 * iod))
    m[0, 2] += PATCH[0] / 2 - centre[0]
    m[1, 2] += PATCH[1] / 2 - centre[1]
    patch = cv2.warpAffine(gray, m, PATCH, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return patch.astype(np.float32) / 255.0


def mouth_activity(patches: list[np.ndarray | None]) -> np.ndarray:
    """Mean absolute change of the mouth patch between consecutive frames (len(patches) - 1 values)."""
    out = []
    for p, q in zip(patches, patches[1:], strict=False):
        out.append(np.nan if p is None or q is None else float(np.mean(np.abs(q - p))))
    return np.asarray(out, dtype=np.float64)


def audio_energy_at(samples: np.ndarray, sample_rate: int, times: np.ndarray, window: float) -> np.ndarray:
    """Log RMS loudness of ``samples`` in a ``window``-second window centred at each time."""
    half = max(1, int(round(window * sample_rate / 2)))
    out = np.empty(len(times), dtype=np.float64)
    for i, t in enumerate(times):
        c = int(round(t * sample_rate))
        seg = samples[max(0, c - half) : max(0, c + half)]
        rms = float(np.sqrt(np.mean(np.square(seg, dtype=np.float64)))) if seg.size else 0.0
        out[i] = np.log10(rms + 1e-4)
    return out


def best_lagged_correlation(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Highest Pearson correlation of ``a`` with ``b`` shifted by -max_lag..max_lag steps, and its lag."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    best, best_lag = -1.0, 0
    for lag in range(-max_lag, max_lag + 1):
        x = a[max(0, lag) : len(a) + min(0, lag)]
        y = b[max(0, -lag) : len(b) + min(0, -lag)]
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 8 or np.std(x[ok]) < 1e-9 or np.std(y[ok]) < 1e-9:
            continue
        r = float(np.corrcoef(x[ok], y[ok])[0, 1])
        if r > best:
            best, best_lag = r, lag
    return best, best_lag


def lip_sync_score(activity: np.ndarray, energy: np.ndarray, fps: float) -> dict | None:
    """Correlation of mouth activity with speech loudness (best over small offsets), or None.

    ``activity`` has one value per frame step, ``energy`` one per frame (the step's end is used).
    None when the window is too short or the sound is silent throughout.
    """
    act = np.asarray(activity, dtype=np.float64)
    en = np.asarray(energy, dtype=np.float64)[1:]
    if act.size < 8 or en.size != act.size or np.nanstd(en) < 0.05:
        return None
    smooth = np.convolve(np.nan_to_num(act, nan=float(np.nanmean(act))), np.ones(3) / 3, mode="same")
    max_lag = max(1, int(round(MAX_LAG_SECONDS * fps)))
    r, lag = best_lagged_correlation(smooth, en, max_lag)
    if r <= -1.0:
        return None
    return {"correlation": round(r, 4), "lagSeconds": round(lag / fps, 3), "frames": int(act.size + 1)}
