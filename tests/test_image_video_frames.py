"""Frames of the corpus's videos as image training rows (detectors.image.video_frames)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.media_factory import encode_frames


def _numbered_video(path: Path, n: int = 20, step: int = 12) -> Path:
    """A video whose frame i is a flat grey of level i * step (which frame was taken is readable)."""
    return encode_frames(path, [np.full((48, 64, 3), i * step, np.uint8) for i in range(n)])


def _row(path: Path, label: str, source: str, family: str = "") -> dict[str, str]:
    return {"label": label, "path": str(path), "file": path.name, "source_repo": source, "family": family,
            "kind": "talking-head" if label == "fake" else "real-video", "sha256": f"{abs(hash((str(path), label))):016x}"}


def test_frames_are_taken_at_fractions_of_the_frame_count_and_written_once(tmp_path):
    from detectors.image.video_frames import AT, frame_rows

    video = _numbered_video(tmp_path / "v.mp4")
    rows = frame_rows([_row(video, "fake", "g/loopy", "loopy")], set(), folder=tmp_path / "frames")
    assert len(rows) == len(AT)
    levels = [float(cv2.imread(r["path"]).mean()) for r in rows]
    assert np.allclose(levels, [int(a * 20) * 12 for a in AT], atol=4), levels
    assert {r["family"] for r in rows} == {"video:loopy"} and {r["label"] for r in rows} == {"fake"}
    assert len({r["sha256"] for r in rows}) == len(AT)
    mtimes = [Path(r["path"]).stat().st_mtime_ns for r in rows]
    again = frame_rows([_row(video, "fake", "g/loopy", "loopy")], set(), folder=tmp_path / "frames")
    assert [Path(r["path"]).stat().st_mtime_ns for r in again] == mtimes  # not rewritten


def test_frames_leave_out_image_sources_other_labels_and_broken_videos(tmp_path):
    from detectors.image.video_frames import frame_rows

    video = _numbered_video(tmp_path / "v.mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    logged: list[str] = []
    rows = frame_rows([_row(video, "real", "shared/repo"), _row(video, "real", "own/repo"),
                       _row(video, "fake", "own/repo", "x"), _row(broken, "real", "other/repo")],
                      {"shared/repo"}, folder=tmp_path / "frames", labels=("real",), log=logged.append)
    assert {r["source_repo"] for r in rows} == {"own/repo"} and {r["label"] for r in rows} == {"real"}
    assert {r["family"] for r in rows} == {""}
    assert len(logged) == 1 and "broken.mp4" in logged[0]


def test_image_family_names_the_kind_a_fold_must_hold_out():
    from detectors.image.video_frames import image_family

    assert image_family({"family": "video:faceswap"}) == "faceswap"
    assert image_family({"family": "video:loopy"}) == ""
    assert image_family({"family": "faceswap"}) == ""  # an image row is not a frame
    assert image_family({"family": ""}) == ""
