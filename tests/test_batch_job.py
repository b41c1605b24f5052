"""``deepfake-batch`` without Ray (``--executor local``): inputs, rows, errors as rows, shards,
resume after a kill (nothing lost, nothing repeated), SIGTERM, ``--retry-errors``, Parquet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from deployments.batch_job import (
    SUMMARY_FILE,
    InputError,
    ShardWriter,
    expand_inputs,
    main,
    read_rows,
    shard_files,
    summary_table,
)
from tests.media_factory import write_audio, write_image, write_video

ROOT = Path(__file__).resolve().parent.parent
STANDIN_ENV = {
    "DETECTOR_PLUGINS": '["tests.standin_detectors"]',
    "IMAGE_DETECTOR": "image-standin",
    "AUDIO_DETECTOR": "audio-standin",
    "VIDEO_DETECTOR": "video-standin",
}


@pytest.fixture()
def standins(tmp_path, monkeypatch):
    from detectors.settings import get_settings

    for k, v in STANDIN_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("UPLOAD_FOLDER", str(tmp_path / "scratch"))
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture()
def folder(tmp_path) -> Path:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    write_image(d / "a.png", size=(48, 48))
    write_image(d / "sub" / "b.jpg", size=(48, 48), seed=1)
    write_audio(d / "c.wav", seconds=1.0)
    write_video(d / "sub" / "d.mp4", seconds=1.0)
    (d / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    (d / "notes.txt").write_text("not media")
    (d / ".hidden.png").write_bytes(b"x")
    return d


def test_expand_inputs(folder, tmp_path):
    found = expand_inputs([str(folder)])
    assert [Path(p).name for p in found] == ["a.png", "c.wav", "corrupt.jpg", "b.jpg", "d.mp4"]
    assert all(Path(p).is_absolute() for p in found)
    assert len(expand_inputs([str(folder)], all_files=True)) == 6  # notes.txt too, hidden files never
    assert [Path(p).name for p in expand_inputs([str(folder / "**" / "*.jp*g")])] == ["corrupt.jpg", "b.jpg"]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# a list\n{folder / 'a.png'}\n\nhttps://example.org/x.mp4\n{folder / 'gone.png'}\n"
                       f"{folder / 'sub'}\n")
    listed = expand_inputs([f"@{listing}", str(folder / "a.png")])  # duplicates dropped, order kept
    assert [Path(p).name for p in listed] == ["a.png", "x.mp4", "gone.png", "b.jpg", "d.mp4"]
    assert listed[1] == "https://example.org/x.mp4"
    for bad in (str(tmp_path / "missing"), str(tmp_path / "*.nothing"), f"@{tmp_path / 'nolist'}"):
        with pytest.raises(InputError):
            expand_inputs([bad])


def test_rows_errors_and_summary(standins, folder, tmp_path, capsys):
    out = tmp_path / "out"
    listing = tmp_path / "list.txt"
    listing.write_text(f"{folder / 'missing.png'}\n")
    assert main([str(folder), f"@{listing}", "-o", str(out), "--executor", "local", "--no-progress"]) == 0
    rows = {Path(r["source"]).name: r for r in read_rows(out)}
    assert len(rows) == 6
    for name, modality in (("a.png", "image"), ("b.jpg", "image"), ("c.wav", "audio"), ("d.mp4", "video")):
        row = rows[name]
        assert row["ok"] is True and row["mediaType"] == modality and row["verdict"] in ("fake", "real")
        assert row["result"]["mediaType"] == modality and row["result"]["source"] == row["source"]
        assert 0 <= row["fakeProbability"] <= 1 and "error" not in row
    assert rows["corrupt.jpg"]["ok"] is False and rows["corrupt.jpg"]["error"] == "corrupt_media"
    assert rows["corrupt.jpg"]["mediaType"] == "image"
    assert rows["missing.png"]["error"] == "not_found"
    text = capsys.readouterr().out
    assert "errors: " in text and "corrupt_media 1" in text and "not_found 1" in text
    assert "this run: 6 files" in text
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert (summary["analysed"], summary["errors"], summary["skipped"]) == (6, 2, 0)
    # The same command again: everything is already there.
    assert main([str(folder), f"@{listing}", "-o", str(out), "--executor", "local", "--no-progress"]) == 0
    assert json.loads((out / SUMMARY_FILE).read_text())["analysed"] == 0
    assert len(read_rows(out)) == 6


def test_summary_table_counts():
    rows = [{"ok": True, "mediaType": "image", "verdict": "fake"}, {"ok": True, "mediaType": "image", "verdict": "real"},
            {"ok": False, "mediaType": None, "error": "unsupported_media_type"},
            {"ok": True, "mediaType": "audio", "verdict": "inconclusive"}]
    lines = summary_table(rows).splitlines()
    assert lines[2].split() == ["audio", "0", "0", "1", "0", "1"]
    assert lines[3].split() == ["image", "1", "1", "0", "0", "2"]
    assert lines[4].split() == ["unknown", "0", "0", "0", "1", "1"]
    assert lines[5].split() == ["total", "1", "1", "1", "1", "4"]


def test_parquet_output_and_format_detection(standins, folder, tmp_path):
    out = tmp_path / "out"
    assert main([str(folder / "a.png"), "-o", str(out), "--format", "parquet", "--executor", "local",
                 "--no-progress"]) == 0
    assert [p.suffix for p in shard_files(out)] == [".parquet"]
    # A later run without --format continues in the format OUT already holds.
    assert main([str(folder / "c.wav"), str(folder / "a.png"), "-o", str(out), "--executor", "local",
                 "--no-progress"]) == 0
    assert [p.suffix for p in shard_files(out)] == [".parquet", ".parquet"]
    rows = read_rows(out)
    assert sorted(Path(r["source"]).name for r in rows) == ["a.png", "c.wav"]
    assert all(isinstance(r["result"], dict) for r in rows)


def test_retry_errors_replaces_the_error_row(standins, folder, tmp_path):
    out = tmp_path / "out"
    broken = folder / "corrupt.jpg"
    args = [str(folder), "-o", str(out), "--executor", "local", "--no-progress"]
    assert main(args) == 0
    write_image(broken, size=(48, 48))  # fixed, under the same name
    assert main(args) == 0
    assert [r["ok"] for r in read_rows(out) if r["source"] == str(broken)] == [False]  # plain resume skips it
    assert main([*args, "--retry-errors"]) == 0
    rows = read_rows(out)
    assert [r["ok"] for r in rows if r["source"] == str(broken)] == [True]
    assert len(rows) == len({r["source"] for r in rows}) == 5


def test_writer_is_atomic_and_ignores_leftovers(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".tmp-part-x-00000.jsonl").write_text('{"source": "half')  # a killed run's unfinished shard
    writer = ShardWriter(out, "jsonl", shard_rows=2, flush_seconds=3600)
    assert not list(out.glob(".tmp-*"))
    writer.add([{"source": "a", "ok": True, "result": json.dumps({"x": 1})}])
    assert shard_files(out) == []
    writer.add([{"source": "b", "ok": False, "error": "e", "result": None}])
    assert len(shard_files(out)) == 1
    assert read_rows(out) == [{"source": "a", "ok": True, "result": {"x": 1}}, {"source": "b", "ok": False, "error": "e"}]


SLOW_PLUGIN = textwrap.dedent('''
    """A stand-in image detector that takes a while per file (to interrupt a run in the middle)."""
    import os
    import time

    from detectors.base import register
    from tests.standin_detectors import StandinImage


    @register("image-slow")
    class SlowImage(StandinImage):
        def infer(self, inputs):
            if os.environ.get("SLOW_MARK"):
                with open(os.environ["SLOW_MARK"], "a") as fh:
                    fh.write("x")
            time.sleep(float(os.environ.get("SLOW_SECONDS", "0.15")))
            return super().infer(inputs)
''')


def _batch_cmd(tmp_path: Path, src: Path, out: Path, *extra: str) -> tuple[list[str], dict]:
    (tmp_path / "plugins").mkdir(exist_ok=True)
    (tmp_path / "plugins" / "slow_plugin.py").write_text(SLOW_PLUGIN)
    env = {**os.environ, **STANDIN_ENV, "IMAGE_DETECTOR": "image-slow",
           "DETECTOR_PLUGINS": '["tests.standin_detectors", "slow_plugin"]',
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path / "plugins")]),
           "UPLOAD_FOLDER": str(tmp_path / "scratch"), "LOG_DIR": str(tmp_path / "logs")}
    cmd = [sys.executable, "-m", "deployments.batch_job", str(src), "-o", str(out), "--executor", "local",
           "--no-progress", *extra]
    return cmd, env


def _wait_for_rows(out: Path, n: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(read_rows(out)) < n:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "no rows appeared in time"
        time.sleep(0.02)


@pytest.fixture()
def many_images(tmp_path) -> Path:
    src = tmp_path / "many"
    src.mkdir()
    for i in range(24):
        write_image(src / f"img{i:02d}.png", size=(32, 32), seed=i)
    return src


def test_killed_run_resumes_losing_and_repeating_nothing(tmp_path, many_images):
    """SIGKILL in the middle (no chance to flush): finished shards stay; the rerun analyses exactly
    the files that have no row, and OUT ends with one row per file."""
    out = tmp_path / "out"
    cmd, env = _batch_cmd(tmp_path, many_images, out, "--shard-rows", "2")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_rows(out, 4, proc)
    finally:
        proc.kill()
        proc.wait()
    kept = {r["source"] for r in read_rows(out)}
    assert 4 <= len(kept) < 24

    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["skipped"] == len(kept) and summary["analysed"] == 24 - len(kept)
    rows = read_rows(out)
    assert len(rows) == 24 and len({r["source"] for r in rows}) == 24 and all(r["ok"] for r in rows)


def test_sigterm_writes_the_buffer_before_exiting(tmp_path, many_images):
    out = tmp_path / "out"
    cmd, env = _batch_cmd(tmp_path, many_images, out, "--shard-rows", "1000", "--flush-seconds", "3600")
    mark = tmp_path / "analysed"
    env.update(SLOW_MARK=str(mark), SLOW_SECONDS="0.3")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        # No shard can appear before the signal (huge buffer): wait until 3 files were scored.
        while not (mark.exists() and len(mark.read_text()) >= 3):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    summary = json.loads((out / SUMMARY_FILE).read_text())
    rows = read_rows(out)
    # 3 files had started when the signal came: at least 2 had finished, and every finished one was written.
    assert 2 <= len(rows) == summary["analysed"] < 24
    assert len({r["source"] for r in rows}) == len(rows)


def test_a_detector_that_cannot_load_gives_error_rows_for_its_files_only(standins, folder, tmp_path, monkeypatch):
    from detectors.settings import get_settings

    monkeypatch.setenv("IMAGE_DETECTOR", "no-such-detector")
    get_settings.cache_clear()
    out = tmp_path / "out"
    assert main([str(folder / "a.png"), str(folder / "sub" / "d.mp4"), str(folder / "c.wav"), "-o", str(out),
                 "--executor", "local", "--no-progress"]) == 0
    rows = {Path(r["source"]).name: r for r in read_rows(out)}
    assert rows["a.png"]["error"] == "model_not_ready" and "image detector" in rows["a.png"]["message"]
    assert rows["d.mp4"]["error"] == "model_not_ready"  # a video's frames need the image detector
    assert rows["c.wav"]["ok"] is True


def test_a_local_file_needs_no_scratch_folder(standins, folder, monkeypatch):
    """Only a download gets a scratch folder (removing an empty folder costs ~4 ms per file here)."""
    import detectors.intake
    from deployments.batch_job import FileAnalyzer

    made: list[Path] = []
    real = detectors.intake.new_scratch_dir
    monkeypatch.setattr(detectors.intake, "new_scratch_dir", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    worker = FileAnalyzer({"allow_local_paths": True, "local_path_roots": []})  # as main() makes it
    rows = [worker.analyze_one(str(folder / name)) for name in ("a.png", "c.wav", "corrupt.jpg")]
    assert [r["ok"] for r in rows] == [True, True, False]
    assert made == []
    row = worker.analyze_one("http://127.0.0.1:9/x.png")  # nothing listens there: an error row
    assert row["ok"] is False and len(made) == 1 and not made[0].exists()
