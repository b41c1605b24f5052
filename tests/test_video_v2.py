"""video-v2: track pooling on constructed sequences, the fusion with absent streams and its
calibration on stand-in streams, and the detector end to end on synthetic clips (with and
without sound, with and without a face) with stand-in backbones. Accuracy is not tested here
(that is the model card's job); mechanics, fields and the handling of missing evidence are."""

from __future__ import annotations

import numpy as np
import pytest

import tests.standin_detectors  # noqa: F401  (registers audio-standin)
from detectors.base import create
from detectors.calibration import fit_operating_points, fit_platt
from detectors.evaluation import metrics
from detectors.media import make_media_ref
from detectors.settings import Settings
from detectors.video.pooling import (
    pool_sequence,
    pool_tracks,
    pooled_vector,
    primary_track,
    track_members,
    video_score,
)
from detectors.video.synthetic import write_talking_video
from detectors.video.v2_features import ClipAnalyser, centre_crop, corner_mosaic
from detectors.video.v2_fusion import FUSION_FILE, FUSION_STREAMS, FusionV2, design, fit_fusion

# --- pooling -------------------------------------------------------------------------------------


def test_pooling_of_a_steady_track_has_no_spread_or_flicker():
    p = pool_sequence(np.full(6, 0.3))
    assert p["mean"] == pytest.approx(0.3) and p["max"] == pytest.approx(0.3)
    assert p["std"] == pytest.approx(0.0) and p["flicker"] == pytest.approx(0.0)


def test_flicker_separates_a_flickering_track_from_a_smooth_one_with_the_same_spread():
    smooth = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    flicker = np.array([0.1, 0.6, 0.2, 0.5, 0.3, 0.4])  # the same values, jumping back and forth
    ps, pf = pool_sequence(smooth), pool_sequence(flicker)
    assert ps["mean"] == pytest.approx(pf["mean"]) and ps["std"] == pytest.approx(pf["std"])
    assert ps["max"] == pytest.approx(0.6)
    assert ps["flicker"] == pytest.approx(0.1)
    assert pf["flicker"] == pytest.approx(np.mean([0.5, 0.4, 0.3, 0.2, 0.1]))


def test_one_sample_has_no_spread_and_no_sample_has_nothing():
    one = pool_sequence(np.array([[1.0, 2.0]]))
    assert one["mean"].tolist() == [1.0, 2.0] and np.isnan(one["std"]).all() and np.isnan(one["flicker"]).all()
    none = pool_sequence(np.zeros((0, 3)))
    assert all(np.isnan(v).all() and v.shape == (3,) for v in none.values())
    assert pooled_vector(one).shape == (8,)


def test_tracks_are_pooled_in_time_order_and_untracked_crops_skipped():
    scores = np.array([0.9, 0.1, 0.5, 0.2, 0.7, 0.3])
    ids = [1, 0, 1, 0, -1, 0]
    times = [2.0, 0.0, 1.0, 1.0, 3.0, 2.0]
    members = track_members(ids, times)
    assert list(members) == [0, 1] and members[1].tolist() == [2, 0]  # track 1: t=1.0 then t=2.0
    pooled = pool_tracks(scores, ids, times)
    assert pooled[1]["flicker"] == pytest.approx(0.4) and pooled[0]["mean"] == pytest.approx(0.2)
    assert primary_track(ids, times) == 0
    assert primary_track([-1, -1]) is None
    assert video_score({0: 0.2, 1: 0.7, 2: 0.99}, {0: 3, 1: 2, 2: 1}) == pytest.approx(0.7)  # one-sample track ignored
    assert video_score({2: 0.99}, {2: 1}) == pytest.approx(0.99)
    with pytest.raises(ValueError):
        pool_tracks(scores[:3], ids)


def test_corner_mosaic_sees_only_the_corners_and_the_centre_crop_none():
    rgb = np.zeros((200, 300, 3), np.uint8)
    rgb[:20, -40:] = 255  # a "watermark" in the top-right corner
    assert corner_mosaic(rgb)[:112, 112:].mean() > 100
    assert centre_crop(rgb).max() == 0


# --- fusion with absent streams, and its calibration (stand-in streams) -------------------------


def standin_vectors(n: int, seed: int = 0) -> tuple[list[dict], np.ndarray, list[dict]]:
    """Clip vectors of the fused streams' shapes; the face and audio streams carry the label,
    audio is absent for a third of the clips and the face for a sixth."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    fams = ["a", "b", "c", "d"]
    rows = [{"label": "fake" if t else "real", "family": fams[i % 4] if t else "",
             "source_repo": f"src{i % 5}", "kind": "talking-head"} for i, t in enumerate(y)]
    vecs = []
    for i, t in enumerate(y):
        face = rng.normal(0, 1, 3072)
        face[:200] += 0.8 * t
        audio = rng.normal(0, 1, 1024)
        audio[:100] += 0.8 * t
        v = {"face.pen": face, "frame.pen": rng.normal(0, 1, 2304), "temporal": rng.normal(0, 1, 8),
             "lip": rng.normal(0, 1, 2), "audio.l2": audio}
        if i % 3 == 0:
            v["audio.l2"] = np.full(1024, np.nan)
        if i % 6 == 1:
            v["face.pen"] = np.full(3072, np.nan)
        vecs.append(v)
    return vecs, y, rows


@pytest.fixture(scope="module")
def standin_fusion():
    vecs, y, rows = standin_vectors(160)
    mats = {n: design(vecs, names) for n, names in FUSION_STREAMS.items()}
    model, oof = fit_fusion(mats, y, rows, np.arange(len(y)), Cs=(0.1,), n_inner=3, names=FUSION_STREAMS)
    return model, oof, vecs, y, rows


def test_absent_streams_are_neutral_and_never_block_a_verdict(standin_fusion):
    model, _, vecs, y, _ = standin_fusion
    assert model.weights["face"] > 0 and model.weights["audio"] > 0  # the informative streams count
    no_audio = dict(vecs[2])
    no_audio["audio.l2"] = np.full(1024, np.nan)
    z = model.logits([vecs[2], no_audio])
    assert np.isfinite(z).all() and z[0] != z[1]
    contrib = model.contributions(no_audio)
    assert contrib["audio"] is None and contrib["face"] is not None
    # absent = the stream's score at its centre: the same logit as a present stream scoring exactly its centre
    expect = model.bias + sum(c for c in contrib.values() if c is not None)
    assert z[1] == pytest.approx(expect)
    nothing = {k: np.full_like(np.asarray(v, float), np.nan) for k, v in vecs[2].items()}
    assert model.logits([nothing])[0] == pytest.approx(model.bias)


def test_fusion_ranks_new_clips_and_calibrates_on_held_out_scores(standin_fusion):
    model, oof, vecs, y, rows = standin_fusion
    # calibration from out-of-fold fused scores, as the trainer does with held-out families
    from detectors.video.v2_fusion import fuse

    centres = {n: m.centre for n, m in model.streams.items()}
    z_oof = fuse(oof, centres, model.weights, model.bias)
    cal = fit_platt(z_oof, y, fitted_on="stand-in oof")
    assert cal.a > 0
    new_vecs, new_y, _ = standin_vectors(300, seed=1)
    p = np.asarray(cal.probability(model.logits(new_vecs)))
    assert metrics.auc(new_y, p) > 0.85
    assert metrics.ece(new_y, p) < 0.12  # calibrated on held-out scores, checked on new clips
    ops = fit_operating_points(np.asarray(cal.probability(z_oof)), y)
    assert ops.real_below <= 0.5 <= ops.fake_above


def test_fusion_round_trips_through_json(standin_fusion, tmp_path):
    model, _, vecs, _, _ = standin_fusion
    model.save(tmp_path / FUSION_FILE)
    again = FusionV2.load(tmp_path / FUSION_FILE)
    assert np.allclose(again.logits(vecs[:10]), model.logits(vecs[:10]))


# --- the detector on synthetic clips (stand-in backbones) --------------------------------------


class StandInClip:
    """Deterministic 'embeddings' from pixel statistics (no weights)."""

    def embed(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for im in images:
            stats = np.concatenate([im.reshape(-1, 3).mean(0), im.reshape(-1, 3).std(0)]) / 255.0
            out.append(np.resize(stats, 768))
        pen = np.asarray(out, np.float32).reshape(-1, 768)
        return {"pen": pen, "proj": pen[:, :512].copy()}


class StandInWhisper:
    def states(self, samples: np.ndarray) -> list[np.ndarray]:
        frames = max(1, samples.size // 320)
        base = np.resize(np.abs(samples[: frames * 320]).reshape(frames, 320).mean(1, keepdims=True), (frames, 512))
        return [base.astype(np.float32) * (i + 1) for i in range(7)]


@pytest.fixture()
def v2_detector(tmp_path, standin_fusion):
    model, *_ = standin_fusion
    models = tmp_path / "models"
    (models / "video").mkdir(parents=True)
    model.save(models / "video" / FUSION_FILE)
    settings = Settings(model_path=models, upload_folder=tmp_path / "scratch", log_dir=tmp_path / "logs",
                        environment="test", audio_detector="audio-standin", max_video_frames=8)
    det = create("video-v2", settings=settings)
    det.analyser = ClipAnalyser(settings=settings, clip=StandInClip(), whisper=StandInWhisper())
    det.fusion_v2 = FusionV2.load(models / "video" / FUSION_FILE)
    det._loaded = True
    return det


def test_clip_without_sound_gets_a_verdict_from_its_pictures(v2_detector, tmp_path):
    path = write_talking_video(tmp_path / "silent.mp4", seconds=3, fps=15, with_audio=False)
    res = v2_detector.analyze(make_media_ref(path))
    assert res.fake_probability is not None and 0.0 <= res.fake_probability <= 1.0
    assert res.audio_track is None
    comp = {c.name: c for c in res.components}
    assert comp["audio"].used is False and comp["face"].used is True
    assert "audio" in (res.verdict_reason or "")  # says what was not measured
    assert res.face_tracks and all(t.frames >= 1 for t in res.face_tracks)
    times = [f.timestamp for f in res.frame_analysis]
    assert times == sorted(times) and len(times) >= 3 and all(f.faces >= 1 for f in res.frame_analysis)


def test_clip_without_faces_is_judged_by_frames_and_sound(v2_detector, tmp_path):
    path = write_talking_video(tmp_path / "noface.mp4", seconds=3, fps=15, with_face=False)
    res = v2_detector.analyze(make_media_ref(path))
    assert res.fake_probability is not None
    assert res.face_tracks == []
    comp = {c.name: c for c in res.components}
    assert comp["face"].used is False and comp["face"].fake_probability is None
    assert comp["frame"].fake_probability is not None  # measured (in the fused score only when its weight > 0)
    assert res.frame_analysis and all(f.faces == 0 for f in res.frame_analysis)
    assert res.audio_track is not None  # the sound went to the configured audio detector


def test_talking_clip_has_per_frame_and_per_track_results(v2_detector, tmp_path):
    path = write_talking_video(tmp_path / "talk.mp4", seconds=4, fps=15)
    prepared = v2_detector.preprocess(make_media_ref(path))
    assert prepared.model_inputs == []  # the backbone already ran: nothing for the image model
    vec = prepared.payload["v2"]["vector"]
    assert vec["face.pen"].shape == (3072,) and np.isfinite(vec["face.pen"]).any()
    assert np.isfinite(vec["audio.l2"]).all()
    res = v2_detector.postprocess(prepared, [], audio_result=None)
    assert res.verdict in ("real", "fake", "inconclusive")
    assert {c.name for c in res.components} == set(FUSION_STREAMS)
    assert res.analyzed_frames == len(prepared.payload["samples"])


def test_untrained_video_v2_loads_nothing_heavy_and_says_so(tmp_path):
    settings = Settings(model_path=tmp_path / "models", upload_folder=tmp_path / "scratch", log_dir=tmp_path / "logs",
                        environment="test", audio_detector="audio-standin", image_detector="image-standin",
                        max_video_frames=4)
    det = create("video-v2", settings=settings)
    det.load()
    assert det.analyser is None and det.fusion_v2 is None
    path = write_talking_video(tmp_path / "talk.mp4", seconds=2, fps=15)
    res = det.analyze(make_media_ref(path))
    assert res.verdict == "inconclusive" and "not trained" in res.verdict_reason


def test_a_stream_with_fusion_weight_zero_is_reported_as_measured_not_fused(v2_detector, tmp_path):
    v2_detector.fusion_v2.weights["frame"] = 0.0
    path = write_talking_video(tmp_path / "talk.mp4", seconds=3, fps=15)
    res = v2_detector.analyze(make_media_ref(path))
    comp = {c.name: c for c in res.components}
    assert comp["frame"].used is False and comp["frame"].weight is None
    assert comp["frame"].fake_probability is not None and "weight 0" in comp["frame"].reason
    assert "frames" not in v2_detector.model_used and "face-tracks" in v2_detector.model_used
    assert "frames" not in (res.verdict_reason or "")  # not listed as missing
