"""Temporal features of a prepared video, computed only from ``Prepared.payload`` (picklable).

Per face and sampled snippet (a few consecutive frames, stored as small context crops in which
the face box fills the central half):

- ``motion_face_bg``: frame differencing inside the face against the background around it
  (log ratio of mean absolute change);
- ``flow_face_bg``: the same with dense optical flow magnitude (Farneback);
- ``flow_boundary_jump``: how differently the face's rim and the ring just outside it move (a
  pasted or re-rendered face slides against its surroundings), in pixels per frame at a scale where
  the face is 48 px wide;
- ``landmark_jitter``: frame-to-frame acceleration of the 5 landmarks, in percent of the eye
  distance (frame-wise generators tremble; real heads move smoothly over 30-40 ms);
- ``boundary_colour_flicker`` / ``boundary_sharpness_flicker``: how much the colour and the
  sharpness contrast between the face's rim and its surroundings change from frame to frame;
  ``boundary_sharpness_gap``: that sharpness contrast itself (blended faces are often softer);
- ``box_consistency`` (per track, across snippets): spread of the face box size relative to the
  eye distance, i.e. how consistently the detector frames the same face over time.

Video-level values are medians over faces and snippets; none of these says "fake" on its own:
the fusion weighs them and anomalies are raised only outside the range seen on real videos.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from detectors.video.lipsync import lip_sync_score

SNIPPET_FEATURES = (
    "motion_face_bg",
    "flow_face_bg",
    "flow_boundary_jump",
    "landmark_jitter",
    "boundary_colour_flicker",
    "boundary_sharpness_flicker",
    "boundary_sharpness_gap",
)
TRACK_FEATURES = ("box_consistency",)
TEMPORAL_FEATURES = SNIPPET_FEATURES + TRACK_FEATURES


def _box_masks(size: int, box: tuple[float, float, float, float]) -> dict[str, np.ndarray]:
    """Boolean masks in a context crop: face interior, inner rim, outer ring and background."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    yy, xx = np.mgrid[0:size, 0:size]
    # Normalised "box radius": <= 1 inside the box (an L-infinity distance scaled per axis).
    r = np.maximum(np.abs(xx + 0.5 - cx) / max(w / 2, 1), np.abs(yy + 0.5 - cy) / max(h / 2, 1))
    return {
        "face": r <= 0.8,
        "inner": (r > 0.8) & (r <= 1.0),
        "outer": (r > 1.0) & (r <= 1.25),
        "background": r > 1.25,
    }


def crop_box(box: list[int] | tuple[int, ...], window: list[int] | tuple[int, ...], size: int) -> tuple[float, ...]:
    """The face box in the coordinates of a ``size``-pixel context crop of ``window`` (x0, y0, side)."""
    x, y, w, h = box
    x0, y0, side = window
    s = size / float(side)
    return ((x - x0) * s, (y - y0) * s, w * s, h * s)


def snippet_features(context: np.ndarray, box_in_crop: tuple[float, ...], landmarks: np.ndarray | None) -> dict:
    """Temporal features of one face over one snippet (``context``: frames x S x S x 3 RGB uint8)."""
    n = context.shape[0]
    out: dict[str, float] = {}
    if n < 2:
        return out
    size = context.shape[1]
    masks = _box_masks(size, box_in_crop)
    if not all(m.any() for m in masks.values()):
        return out
    grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in context]
    diffs_face, diffs_bg, flow_face, flow_bg, jumps = [], [], [], [], []
    for a, b in zip(grays, grays[1:], strict=False):
        d = np.abs(b.astype(np.int16) - a.astype(np.int16))
        diffs_face.append(float(d[masks["face"]].mean()))
        diffs_bg.append(float(d[masks["background"]].mean()))
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 2, 9, 3, 5, 1.1, 0)
        mag = np.linalg.norm(flow, axis=2)
        flow_face.append(float(np.median(mag[masks["face"]])))
        flow_bg.append(float(np.median(mag[masks["background"]])))
        jumps.append(float(np.linalg.norm(flow[masks["inner"]].mean(axis=0) - flow[masks["outer"]].mean(axis=0))))
    scale = 48.0 / max(box_in_crop[2], box_in_crop[3], 1.0)
    out["motion_face_bg"] = math.log((np.mean(diffs_face) + 0.5) / (np.mean(diffs_bg) + 0.5))
    out["flow_face_bg"] = math.log((np.mean(flow_face) + 0.05) / (np.mean(flow_bg) + 0.05))
    out["flow_boundary_jump"] = float(np.mean(jumps)) * scale
    colour_gaps, sharp_gaps = [], []
    for f, g in zip(context, grays, strict=True):
        lab = cv2.cvtColor(f, cv2.COLOR_RGB2LAB).astype(np.float32)
        colour_gaps.append(lab[masks["inner"]].mean(axis=0) - lab[masks["outer"]].mean(axis=0))
        lap = cv2.Laplacian(g, cv2.CV_32F, ksize=3)
        sharp_gaps.append(math.log((lap[masks["inner"]].var() + 1.0) / (lap[masks["outer"]].var() + 1.0)))
    out["boundary_colour_flicker"] = float(np.mean(np.std(np.asarray(colour_gaps), axis=0)))
    out["boundary_sharpness_flicker"] = float(np.std(sharp_gaps))
    out["boundary_sharpness_gap"] = float(np.mean(sharp_gaps))
    if landmarks is not None and len(landmarks) >= 3:
        lm = np.asarray(landmarks, dtype=np.float64)
        iod = float(np.linalg.norm(lm[0, 0:2].mean(axis=0) - lm[0, 2:4].mean(axis=0)))
        if iod >= 4:
            accel = lm[2:] - 2 * lm[1:-1] + lm[:-2]
            out["landmark_jitter"] = 100.0 * float(np.sqrt(np.mean(np.sum(accel**2, axis=-1)))) / iod
    return out


def track_features(links: list[dict]) -> dict:
    """Across-snippet consistency of one track: spread of log(box side / eye distance)."""
    ratios = []
    for face in links:
        lm = face.get("landmarks")
        if lm is None:
            continue
        lm0 = np.asarray(lm[0], dtype=np.float64)
        iod = float(np.linalg.norm(lm0[0:2].mean(axis=0) - lm0[2:4].mean(axis=0)))
        if iod >= 4:
            ratios.append(math.log(max(face["box"][2], face["box"][3]) / iod))
    if len(ratios) < 3:
        return {}
    return {"box_consistency": float(np.std(ratios))}


def temporal_analysis(payload: dict) -> dict:
    """All temporal and cross-modal features of a prepared video; medians plus per-snippet values."""
    per_sample: list[dict] = []
    by_track: dict[int, list[dict]] = {}
    for rec in payload.get("samples", []):
        for face in rec.get("faces", []):
            by_track.setdefault(int(face.get("track", -1)), []).append(face)
            context = face.get("context")
            if context is None:
                continue
            box = crop_box(face["box"], face["window"], context.shape[1])
            feats = snippet_features(context, box, face.get("landmarks"))
            if feats:
                per_sample.append({"frame": rec["frame"], "time": rec["time"], "track": face.get("track"), **feats})
    features: dict[str, float | None] = {}
    for name in SNIPPET_FEATURES:
        vals = [s[name] for s in per_sample if name in s and np.isfinite(s[name])]
        features[name] = round(float(np.median(vals)), 6) if vals else None
    track_vals = [track_features(faces) for tid, faces in by_track.items() if tid >= 0]
    for name in TRACK_FEATURES:
        vals = [t[name] for t in track_vals if name in t]
        features[name] = round(float(np.median(vals)), 6) if vals else None
    lip = payload.get("lip")
    lip_result = None
    if lip:
        lip_result = lip_sync_score(np.asarray(lip["activity"]), np.asarray(lip["energy"]), float(lip["fps"]))
        if lip_result is not None:
            lip_result["start"] = lip["start"]
            lip_result["track"] = lip.get("track")
    features["lip_sync"] = None if lip_result is None else float(lip_result["correlation"])
    return {
        "features": features,
        "perSample": [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in s.items()} for s in per_sample],
        "lipSync": lip_result,
        "faceSnippets": len(per_sample),
    }
