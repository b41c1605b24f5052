"""A 10-minute video is analysed in bounded time and memory (sampling decodes a bounded number of
frames; only the sound track grows with duration, and that is capped by MAX_VIDEO_SECONDS).

Each analysis runs in a fresh subprocess so its peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from detectors.video.frames import SNIPPET_LENGTH
from detectors.video.fusion import FUSION_FILE
from detectors.video.lipsync import LIP_WINDOW_MAX_FRAMES
from detectors.video.synthetic import write_talking_video
from tests.test_video_detector import tiny_fusion

ROOT = Path(__file__).resolve().parent.parent
N_FRAMES = 30
GOP = 20  # key frame every 10 s at 2 fps

CHILD = r"""
import json, resource, sys, time
import tests.standin_detectors  # registers image-standin / audio-standin
from detectors.media import make_media_ref
from detectors.pipeline import Analyzer
from detectors.recipes.base import VideoRecipe
from detectors.settings import Settings

path, n, models = sys.argv[1], int(sys.argv[2]), sys.argv[3]
settings = Settings(environment="test", image_detector="image-standin", audio_detector="audio-standin",
                    video_detector="video-default", max_video_frames=n, model_path=models)
an = Analyzer(settings)
an.load_all()
recipe = VideoRecipe(an.detector)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
ref = make_media_ref(path, "video")
prepared, scores = recipe.faces(ref, an.models)  # the video recipe's steps, one by one
audio_result = recipe.sound_track(prepared, ref, an.models)
result = recipe.video().postprocess(prepared, scores, audio_result=audio_result)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "seconds": seconds, "growth_mb": (peak - base) / 1024, "decoded": prepared.payload["decode"]["decodedFrames"],
    "analyzed": result.analyzed_frames, "total": result.total_frames, "frames": len(result.frame_analysis),
    "audio_seconds": prepared.audio.duration, "verdict": result.verdict,
}))
"""


def _measure(path: Path) -> dict:
    models = path.parent / "models"
    (models / "video").mkdir(parents=True, exist_ok=True)
    tiny_fusion().save(models / "video" / FUSION_FILE)
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(N_FRAMES), str(models)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_ten_minute_video_in_bounded_time_and_memory(tmp_path):
    kw = dict(fps=2, size=(128, 96), gop=GOP, audio_rate=8000)
    one = _measure(write_talking_video(tmp_path / "one.mp4", seconds=60, **kw))
    ten = _measure(write_talking_video(tmp_path / "ten.mp4", seconds=600, **kw))
    print("1 min:", one, "\n10 min:", ten)
    assert ten["total"] == 1200 and one["total"] == 120
    # Sampling: at most N snippets, and decoding bounded by snippets x key-frame interval, not by length.
    assert ten["analyzed"] <= N_FRAMES and ten["frames"] >= N_FRAMES // 2
    bound = N_FRAMES * (GOP + SNIPPET_LENGTH) + LIP_WINDOW_MAX_FRAMES + GOP
    assert ten["decoded"] <= bound < ten["total"]
    # Memory: beyond the 16 kHz float32 sound track (4 bytes x 16000 per second; load_audio holds up
    # to three copies while it assembles it), the 10-minute clip needs no more than the 1-minute one,
    # within 40 MB.
    audio_mb = 3 * 4 * 16000 * (ten["audio_seconds"] - one["audio_seconds"]) / 2**20
    assert ten["growth_mb"] <= one["growth_mb"] + audio_mb + 40, (one, ten)
    assert ten["growth_mb"] < 300
    # Time: bounded work; generous absolute limit for a shared 2-core machine.
    assert ten["seconds"] < 90, ten
    assert ten["seconds"] < 6 * one["seconds"] + 15, (one, ten)
