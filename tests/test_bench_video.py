"""benchmarks/bench_video.py times the video recipe itself, step by step, from its progress stages."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import tests.standin_detectors  # noqa: F401  (registers the stand-ins)
from detectors.pipeline import Analyzer
from detectors.settings import Settings
from tests.media_factory import write_video

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_video", ROOT / "benchmarks" / "bench_video.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_analyse_times_every_recipe_step_and_keeps_the_prepared_payload(tmp_path):
    bench = _bench()
    an = Analyzer(Settings(environment="test", upload_folder=tmp_path, image_detector="image-standin",
                           audio_detector="audio-standin", video_detector="video-standin"))
    clip = write_video(tmp_path / "v.mp4", seconds=2.0, size=(96, 64))
    t = time.perf_counter()
    times, result, payload = bench.analyse(clip, an)
    wall = time.perf_counter() - t
    assert set(times) == {bench.PREPARE, *bench.STEP_ENDS.values()}
    assert all(v >= 0 for v in times.values())
    assert sum(times.values()) <= wall and times[bench.PREPARE] > 0
    assert result.media_type == "video" and isinstance(payload, dict) and payload
    assert "preprocess" not in vars(an.detector("video"))  # the detector's own method again
