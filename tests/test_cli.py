"""``deepfake-detect``: JSON lines with a source each, a table otherwise, non-zero exit on any failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.media_factory import write_audio, write_image

ROOT = Path(__file__).resolve().parent.parent


def run_cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, DETECTOR_PLUGINS='["tests.standin_detectors"]', IMAGE_DETECTOR="image-standin",
               AUDIO_DETECTOR="audio-standin", VIDEO_DETECTOR="video-standin", UPLOAD_FOLDER=str(tmp_path / "s"),
               LOG_DIR=str(tmp_path / "logs"), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "detectors.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_json_lines_with_sources_and_failure_exit_code(tmp_path):
    img = write_image(tmp_path / "a.jpg")
    wav = write_audio(tmp_path / "b.wav")
    bad = tmp_path / "c.txt"
    bad.write_text("not media")
    proc = run_cli(["--json", str(img), str(bad), str(wav)], tmp_path)
    assert proc.returncode == 1, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["source"] for r in rows] == [str(img), str(bad), str(wav)]
    assert rows[0]["mediaType"] == "image" and rows[2]["mediaType"] == "audio"
    assert rows[1]["error"] == "unsupported_media_type"
    assert not any((tmp_path / "s").rglob("*.*"))


def test_table_and_success_exit_code(tmp_path):
    img = write_image(tmp_path / "a.png")
    proc = run_cli([str(img)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:2] == ["file", "verdict"] and "a.png" in lines[1]


def test_missing_file_is_reported(tmp_path):
    proc = run_cli(["--json", str(tmp_path / "nope.png")], tmp_path)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error"] == "not_found"
