"""Pooling of per-frame scores and features along face tracks (pure functions, no models).

A face track is the same face followed over the sampled frames. Along it a detector's per-frame
output is summarised by its mean, its maximum, its spread over time (std) and its flicker (mean
absolute change between consecutive samples): many generators render each frame on its own and
their faces flicker where a real face changes smoothly. A track with one sample has no spread or
flicker to measure: those are NaN (the fusion treats NaN as "not measured"), never 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POOLS = ("mean", "max", "std", "flicker")


def pool_sequence(x: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, max, std and flicker over time of a (T, d) sequence (or (T,) scores).

    Flicker is the mean absolute difference of consecutive rows (in time order). With T == 0
    every pool is NaN; with T == 1 std and flicker are NaN.
    """
    a = np.asarray(x, dtype=np.float64)
    scalar = a.ndim == 1
    if scalar:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"expected a (T,) or (T, d) sequence, got shape {np.shape(x)}")
    t, d = a.shape
    nan = np.full(d, np.nan)
    if t == 0:
        out = {k: nan.copy() for k in POOLS}
    else:
        out = {
            "mean": a.mean(axis=0),
            "max": a.max(axis=0),
            "std": a.std(axis=0) if t >= 2 else nan.copy(),
            "flicker": np.abs(np.diff(a, axis=0)).mean(axis=0) if t >= 2 else nan.copy(),
        }
    if scalar:
        return {k: np.asarray(v[0]) for k, v in out.items()}
    return out


def track_members(track_ids: Sequence[int], times: Sequence[float] | None = None) -> dict[int, np.ndarray]:
    """Track id -> indices of its members in time order (ids < 0 are untracked and skipped)."""
    ids = np.asarray(track_ids, dtype=np.int64)
    t = np.arange(len(ids), dtype=np.float64) if times is None else np.asarray(times, dtype=np.float64)
    if t.shape != ids.shape:
        raise ValueError("track_ids and times differ in length")
    out: dict[int, np.ndarray] = {}
    for tid in sorted(set(ids.tolist())):
        if tid < 0:
            continue
        idx = np.flatnonzero(ids == tid)
        out[tid] = idx[np.argsort(t[idx], kind="stable")]
    return out


def primary_track(track_ids: Sequence[int], times: Sequence[float] | None = None) -> int | None:
    """The track with the most samples (ties: the lowest id); None without any track."""
    members = track_members(track_ids, times)
    if not members:
        return None
    return max(members, key=lambda k: (len(members[k]), -k))


def pool_tracks(values: np.ndarray, track_ids: Sequence[int], times: Sequence[float] | None = None
                ) -> dict[int, dict[str, np.ndarray]]:
    """``pool_sequence`` of each track's rows of ``values`` ((N,) scores or (N, d) features)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) != len(track_ids):
        raise ValueError("values and track_ids differ in length")
    return {tid: pool_sequence(v[idx]) for tid, idx in track_members(track_ids, times).items()}


def pooled_vector(pooled: dict[str, np.ndarray], pools: Sequence[str] = POOLS) -> np.ndarray:
    """The chosen pools side by side as one 1-D float32 vector."""
    return np.concatenate([np.atleast_1d(pooled[p]) for p in pools]).astype(np.float32)


def video_score(track_scores: dict[int, float], track_lengths: dict[int, int], min_length: int = 2) -> float | None:
    """The clip's face evidence: the most suspicious track among those followed over at least
    ``min_length`` samples (all tracks when none is that long); None without tracks."""
    if not track_scores:
        return None
    long = [s for k, s in track_scores.items() if track_lengths.get(k, 0) >= min_length]
    return float(max(long or track_scores.values()))
