"""Temporal cues, lip sync, face tracks and the fusion file, on constructed inputs."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.calibration import Calibration
from detectors.video.fusion import FusionModel, range_severity, real_ranges
from detectors.video.lipsync import audio_energy_at, best_lagged_correlation, lip_sync_score
from detectors.video.synthetic import cartoon_face, syllable_envelope
from detectors.video.temporal import crop_box, snippet_features, temporal_analysis, track_features
from detectors.video.tracks import context_crop, context_window, link_tracks, match_score

SIZE = 96


def _context(n: int = 4, flicker: float = 0.0, face_motion: float = 0.0, seed: int = 0) -> tuple[np.ndarray, tuple]:
    """n context crops of a drawn face filling the central half; optional skin flicker / face-only motion."""
    rng = np.random.default_rng(seed)
    frames = []
    for j in range(n):
        shift = flicker * 40 * rng.standard_normal()
        frames.append(cartoon_face(SIZE, SIZE, SIZE / 2 + face_motion * j, SIZE / 2, 20, seed=seed, skin_shift=shift))
    return np.stack(frames), (24.0, 24.0, 48.0, 48.0)


def test_boundary_flicker_is_measured():
    steady = snippet_features(*_context(), None)
    flick = snippet_features(*_context(flicker=0.8), None)
    assert flick["boundary_colour_flicker"] > 3 * steady["boundary_colour_flicker"]
    assert flick["motion_face_bg"] > steady["motion_face_bg"]


def test_face_motion_against_a_still_background():
    still = snippet_features(*_context(), None)
    moving = snippet_features(*_context(face_motion=2.0), None)
    assert moving["flow_face_bg"] > still["flow_face_bg"] + 0.5
    assert moving["motion_face_bg"] > still["motion_face_bg"]


def test_landmark_jitter_grows_with_trembling_landmarks():
    rng = np.random.default_rng(0)
    base = np.array([[60, 40], [50, 40], [30, 40], [40, 40], [45, 55]], np.float32)
    smooth = np.stack([base + [k * 1.0, 0] for k in range(4)])  # steady motion: no acceleration
    shaky = smooth + rng.normal(0, 1.0, smooth.shape).astype(np.float32)
    ctx, box = _context()
    assert snippet_features(ctx, box, smooth)["landmark_jitter"] < 1e-3
    assert snippet_features(ctx, box, shaky)["landmark_jitter"] > 2.0


def test_box_consistency_needs_three_snippets_and_sees_size_changes():
    lm = np.array([[[60, 40], [50, 40], [30, 40], [40, 40], [45, 55]]], np.float32)
    steady = [{"box": [0, 0, 60, 60], "landmarks": lm} for _ in range(4)]
    wobbly = [{"box": [0, 0, s, s], "landmarks": lm} for s in (40, 80, 45, 75)]
    assert track_features(steady[:2]) == {}
    assert track_features(steady)["box_consistency"] == pytest.approx(0.0)
    assert track_features(wobbly)["box_consistency"] > 0.2


def test_context_crop_places_the_face_in_the_central_half():
    img = cartoon_face(200, 150, 100, 75, 30)
    box = (70, 40, 60, 60)
    window = context_window(box)
    crop = context_crop(img, window, 96)
    assert crop.shape == (96, 96, 3)
    assert crop_box(box, window, 96) == pytest.approx((24.0, 24.0, 48.0, 48.0))
    edge = context_crop(img, context_window((0, 0, 60, 60)), 96)  # leaves the image: mirrored, same size
    assert edge.shape == (96, 96, 3)


def test_lip_sync_correlation_separates_synced_from_unrelated_sound():
    fps, sr = 25.0, 16000
    env = syllable_envelope(6.0, fps, seed=3)
    other = syllable_envelope(6.0, fps, seed=99)
    t = np.arange(env.size) / fps
    audio = np.interp(np.arange(int(6.0 * sr)) / sr, t, env) * np.sin(np.arange(int(6.0 * sr)) * 0.1)
    energy = audio_energy_at(audio.astype(np.float32), sr, t, 2 / fps)
    synced = lip_sync_score(np.abs(np.diff(env)) + env[1:], energy, fps)
    unrelated = lip_sync_score(np.abs(np.diff(other)) + other[1:], energy, fps)
    assert synced is not None and unrelated is not None
    assert synced["correlation"] > 0.6
    assert unrelated["correlation"] < synced["correlation"] - 0.3
    assert lip_sync_score(np.ones(5), np.ones(6), fps) is None  # too short
    assert lip_sync_score(np.random.default_rng(0).random(50), np.full(51, -4.0), fps) is None  # silent


def test_best_lag_finds_a_shift():
    rng = np.random.default_rng(1)
    a = rng.standard_normal(100)
    b = np.roll(a, 3)
    r, lag = best_lagged_correlation(a, b, 5)
    assert r > 0.95 and abs(lag) == 3


def test_tracks_link_nearby_faces_and_break_at_scene_cuts():
    a, b = (10, 10, 50, 50), (200, 10, 50, 50)
    samples = [(0.0, [a, b]), (1.0, [(14, 12, 50, 50), (205, 10, 52, 52)]), (2.0, [(18, 12, 50, 50)]),
               (3.0, [(20, 12, 50, 50)])]
    tracks = link_tracks(samples, cut_times=[2.5])
    lengths = sorted(len(t.links) for t in tracks)
    assert lengths == [1, 2, 3]  # a over 0-2 s, b over 0-1 s, a again after the cut
    assert match_score(a, (300, 300, 50, 50)) == 0.0
    assert match_score(a, (10, 10, 200, 200)) == 0.0  # same place, very different size


def test_temporal_analysis_from_payload_only():
    ctx, _ = _context(flicker=0.3)
    lm = np.array([[[60, 40], [50, 40], [30, 40], [40, 40], [45, 55]]] * 4, np.float32)
    face = {"box": [100, 100, 50, 50], "window": [75, 75, 100], "context": ctx, "landmarks": lm, "track": 0}
    payload = {"samples": [{"frame": i * 10, "time": i * 0.4, "faces": [dict(face)]} for i in range(3)], "lip": None}
    out = temporal_analysis(payload)
    assert out["faceSnippets"] == 3
    assert out["features"]["boundary_colour_flicker"] > 0
    assert out["features"]["box_consistency"] == pytest.approx(0.0)
    assert out["features"]["lip_sync"] is None
    assert {p["frame"] for p in out["perSample"]} == {0, 10, 20}
    empty = temporal_analysis({"samples": [{"frame": 0, "time": 0.0, "faces": []}]})
    assert empty["faceSnippets"] == 0 and all(v is None for v in empty["features"].values())


def test_fusion_roundtrip_missing_features_and_ranges(tmp_path):
    model = FusionModel(
        features=["face_track_max", "landmark_jitter"], mean=[0.0, 2.0], scale=[1.0, 0.5], coef=[2.0, 1.0],
        intercept=-0.5, calibration=Calibration(a=1.0, b=0.0, threshold=0.4),
        crop_calibration=Calibration(a=1.0, b=0.0, threshold=0.5), ranges={"landmark_jitter": (1.0, 3.0)},
        info={"version": "test"},
    )
    path = tmp_path / "fusion.json"
    model.save(path)
    loaded = FusionModel.load(path)
    assert loaded.to_dict() == model.to_dict()
    # Missing features sit at their mean: only the intercept is left.
    assert loaded.logit({"face_track_max": None}) == pytest.approx(-0.5)
    assert loaded.logit({"face_track_max": 1.0, "landmark_jitter": 3.0}) == pytest.approx(2.0 + 2.0 - 0.5)
    assert loaded.probability({"face_track_max": 5.0}) > loaded.probability({"face_track_max": -5.0})
    assert range_severity(2.0, 1.0, 3.0) is None
    assert range_severity(3.1, 1.0, 3.0) == "low"
    assert range_severity(6.0, 1.0, 3.0) == "high"
    r = real_ranges({"x": [1.0, 2.0, 3.0], "too_few": [1.0]})
    assert set(r) == {"x"} and r["x"][0] < 1.0 and r["x"][1] > 3.0
    bad = model.to_dict()
    bad["coef"] = [1.0]
    with pytest.raises(ValueError):
        FusionModel.from_dict(bad)
