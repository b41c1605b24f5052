"""``deepfake-batch`` on a real local Ray (``num_cpus=2``): the Ray Data actor pool, mixed media, a
corrupt file as an error row, resume. Slow (Ray start-up); stand-in detectors keep the work small."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployments.batch_job import SUMMARY_FILE, main, read_rows
from tests.media_factory import write_audio, write_image, write_video

pytestmark = pytest.mark.slow

STANDIN_ENV = {
    "DETECTOR_PLUGINS": '["tests.standin_detectors"]',
    "IMAGE_DETECTOR": "image-standin",
    "AUDIO_DETECTOR": "audio-standin",
    "VIDEO_DETECTOR": "video-standin",
}


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """One local Ray for the module; the workers inherit the stand-in settings from the environment."""
    ray = pytest.importorskip("ray")
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("ray-env")
    for k, v in {**STANDIN_ENV, "UPLOAD_FOLDER": str(tmp / "scratch"), "LOG_DIR": str(tmp / "logs")}.items():
        mp.setenv(k, v)
    mp.delenv("RAY_ADDRESS", raising=False)
    from detectors.settings import get_settings

    get_settings.cache_clear()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
    mp.undo()
    get_settings.cache_clear()


def test_ray_pipeline_rows_errors_and_resume(local_ray, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for i, fmt in enumerate(("png", "jpg", "bmp", "gif")):
        write_image(src / f"img{i}.{fmt}", size=(48, 48), seed=i)
    for fmt in ("wav", "mp3", "ogg"):
        write_audio(src / f"clip.{fmt}", seconds=1.0)
    for fmt in ("mp4", "webm"):
        write_video(src / f"vid.{fmt}", seconds=1.0)
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (src / "zero.wav").write_bytes(b"")
    out = tmp_path / "out"

    args = [str(src), "-o", str(out), "--batch-size", "2", "--cpus-per-worker", "0.5", "--no-progress"]
    assert main(args) == 0
    rows = read_rows(out)
    assert len(rows) == 11 and len({r["source"] for r in rows}) == 11
    by_name = {Path(r["source"]).name: r for r in rows}
    assert by_name["corrupt.png"]["ok"] is False and by_name["corrupt.png"]["error"] == "corrupt_media"
    assert by_name["zero.wav"]["ok"] is False and by_name["zero.wav"]["error"] == "corrupt_media"
    oks = [r for r in rows if r["ok"]]
    assert sorted({r["mediaType"] for r in oks}) == ["audio", "image", "video"] and len(oks) == 9
    assert 1 <= len({r["worker"] for r in rows}) <= 2  # rows come from the pool's actors, not the driver
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["executor"] == "ray" and summary["cluster"]["cpus"] == 2 and summary["workers"] == 2
    assert "this run: 11 files" in capsys.readouterr().out

    assert main(args) == 0  # resume: nothing left to do, nothing written twice
    assert json.loads((out / SUMMARY_FILE).read_text())["analysed"] == 0
    assert len(read_rows(out)) == 11
