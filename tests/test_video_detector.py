"""The v1 video detector (video-default) end to end, through the same steps as the pipeline, with stand-in image/audio
models and a tiny fusion file written here (accuracy is not tested: mechanics, fields, bounds)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import tests.standin_detectors  # noqa: F401  (registers image-standin / audio-standin)
from detectors.base import create
from detectors.calibration import Calibration
from detectors.media import make_media_ref
from detectors.pipeline import Analyzer
from detectors.settings import Settings
from detectors.video.fusion import FUSION_FILE, FusionModel
from detectors.video.synthetic import write_talking_video
from detectors.video.tracks import CONTEXT_SIZE
from tests.media_factory import VIDEO_FORMATS, write_video

FEATURES = ["face_track_max", "face_score_mean", "boundary_colour_flicker", "audio_logit", "lip_sync"]


def tiny_fusion(ranges: dict | None = None) -> FusionModel:
    """A hand-set fusion over stand-in scores (stand-in image score = mean pixel / 255)."""
    return FusionModel(
        features=FEATURES, mean=[0.5, 0.5, 0.5, 0.0, 0.5], scale=[0.1, 0.1, 0.5, 1.0, 0.3],
        coef=[1.0, 0.5, 0.3, 0.8, -0.4], intercept=0.0, calibration=Calibration(a=1.0, b=0.0, threshold=0.5),
        crop_calibration=Calibration(a=8.0, b=-4.0, threshold=0.5),
        ranges=ranges if ranges is not None else {"lip_sync": (0.4, 1.0), "boundary_colour_flicker": (0.0, 0.5)},
        info={"version": "test", "image_detector": "image-standin"},
    )


@pytest.fixture()
def vsettings(tmp_path) -> Settings:
    models = tmp_path / "models"
    (models / "video").mkdir(parents=True)
    tiny_fusion().save(models / "video" / FUSION_FILE)
    return Settings(
        model_path=models, upload_folder=tmp_path / "scratch", log_dir=tmp_path / "logs", environment="test",
        image_detector="image-standin", audio_detector="audio-standin", video_detector="video-default",
        max_video_frames=8,
    )


@pytest.fixture(scope="module")
def talking(tmp_path_factory):
    return write_talking_video(tmp_path_factory.mktemp("v") / "talk.mp4", seconds=4, fps=15, size=(192, 144))


def test_preprocess_payload_is_small_picklable_and_reports_progress(vsettings, talking):
    det = create("video-default", settings=vsettings)
    det.load()
    events: list[tuple[str, float, dict]] = []
    prepared = det.preprocess(make_media_ref(talking), lambda s, f, e: events.append((s, f, e)))
    payload = prepared.payload
    assert 1 <= len(payload["samples"]) <= vsettings.max_video_frames
    assert payload["summary"]["faces"] >= len(payload["samples"]) - 1
    assert all(x.shape == (224, 224, 3) and x.dtype == np.uint8 for x in prepared.model_inputs)
    assert len(prepared.model_inputs) == payload["crops"]
    contexts = [f["context"] for r in payload["samples"] for f in r["faces"] if f["context"] is not None]
    assert contexts and all(c.shape[1:] == (CONTEXT_SIZE, CONTEXT_SIZE, 3) for c in contexts)
    assert prepared.audio is not None and prepared.audio.sample_rate == 16000
    assert payload["lip"] is not None and len(payload["lip"]["activity"]) + 1 == len(payload["lip"]["energy"])
    clone = pickle.loads(pickle.dumps(prepared))
    assert clone.payload["video"] == payload["video"]
    stages = {s for s, _, _ in events}
    assert {"video_frames", "video_faces"} <= stages
    fracs = [f for s, f, _ in events if s == "video_frames"]
    assert fracs == sorted(fracs) and fracs[-1] == pytest.approx(1.0)
    assert all("timestamp" in e for s, f, e in events if s == "video_faces")


def test_pipeline_result_has_the_guide_fields(vsettings, talking):
    result = Analyzer(vsettings).analyze_file(talking, "video")
    js = result.to_json_dict()
    for key in ("isDeepfake", "confidence", "processingTime", "mediaType", "timestamp", "modelUsed", "anomalies",
                "frameAnalysis", "totalFrames", "analyzedFrames", "fps", "deepfakeFrameRatio", "faceTracks",
                "audioTrack", "components"):
        assert key in js, key
    assert js["mediaType"] == "video" and js["verdict"] in ("fake", "real")
    assert js["totalFrames"] == 60 and js["fps"] == pytest.approx(15.0)
    assert 1 <= js["analyzedFrames"] <= 8
    frames = js["frameAnalysis"]
    assert frames and all({"frame", "timestamp", "confidence", "isDeepfake", "fakeProbability"} <= set(f) for f in frames)
    assert [f["timestamp"] for f in frames] == sorted(f["timestamp"] for f in frames)
    assert frames[-1]["timestamp"] > 2.0  # sampled over the whole clip
    assert 0.0 <= js["deepfakeFrameRatio"] <= 1.0
    assert js["faceTracks"][0]["frames"] >= 2 and len(js["faceTracks"][0]["box"]) == 4
    assert js["audioTrack"]["mediaType"] == "audio"
    used = {c["name"]: c["used"] for c in js["components"]}
    assert used == {"face-tracks": True, "temporal": True, "audio-track": True, "lip-sync": True}


def test_standalone_analyze_matches_the_pipeline(vsettings, talking):
    det = create("video-default", settings=vsettings)
    det.load()
    alone = det.analyze(make_media_ref(talking))
    piped = Analyzer(vsettings).analyze_file(talking, "video")
    assert alone.fake_probability == pytest.approx(piped.fake_probability)
    assert [f.frame for f in alone.frame_analysis] == [f.frame for f in piped.frame_analysis]


def test_no_face_and_no_sound_is_inconclusive(vsettings, tmp_path):
    path = write_video(tmp_path / "plain.webm", seconds=2, fps=10, with_audio=False)
    result = Analyzer(vsettings).analyze_file(path, "video")
    assert result.verdict == "inconclusive" and result.confidence == 0.0
    assert "no face" in result.verdict_reason and "no sound track" in result.verdict_reason
    assert result.analyzed_frames >= 1 and result.total_frames == 20


def test_no_face_but_speech_rests_on_the_sound(vsettings, tmp_path):
    path = write_video(tmp_path / "plain.mp4", seconds=2, fps=10, with_audio=True)
    result = Analyzer(vsettings).analyze_file(path, "video")
    assert result.verdict in ("fake", "real")
    assert "sound track" in result.verdict_reason
    assert result.frame_analysis == [] and result.audio_track is not None


def test_untrained_fusion_says_so(vsettings, talking, tmp_path):
    (vsettings.model_path / "video" / FUSION_FILE).unlink()
    result = Analyzer(vsettings).analyze_file(talking, "video")
    assert result.verdict == "inconclusive" and "not trained" in result.verdict_reason


def test_unsynced_lips_raise_a_lip_sync_anomaly(vsettings, tmp_path):
    path = write_talking_video(tmp_path / "dub.mp4", seconds=8, fps=15, size=(192, 144), lip_sync=False, seed=0)
    result = Analyzer(vsettings).analyze_file(path, "video")
    lip = [a for a in result.anomalies if a.type == "Lip-sync mismatch"]
    assert lip and lip[0].normal_range == (0.4, 1.0) and lip[0].value < 0.4


@pytest.mark.parametrize("ext", sorted(VIDEO_FORMATS))
def test_every_container_through_the_detector(vsettings, tmp_path, ext):
    path = write_talking_video(tmp_path / f"talk.{ext}", seconds=2, fps=10, size=(160, 120))
    result = Analyzer(vsettings).analyze_file(path, "video")
    assert result.verdict in ("fake", "real")
    assert result.total_frames == 20 and result.analyzed_frames >= 3
    assert result.face_tracks and result.audio_track is not None
