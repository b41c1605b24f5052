"""Video intake: indexing, sampling over the whole clip, seeking, containers, rotation, VFR, odd sizes."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from detectors.errors import CorruptMediaError, MediaTooLargeError, UnsupportedMediaError
from detectors.video.frames import SnippetReader, plan_samples, probe_video
from detectors.video.synthetic import write_talking_video
from tests.media_factory import VIDEO_FORMATS, encode_frames, write_audio, write_video

CONTAINERS = sorted(VIDEO_FORMATS)


@pytest.mark.parametrize("ext", CONTAINERS)
def test_every_container_is_indexed_sampled_and_decoded(tmp_path, ext):
    path = write_video(tmp_path / f"clip.{ext}", seconds=3.0, fps=10, size=(160, 120), fmt=ext)
    index = probe_video(str(path), max_seconds=60, max_frames=6)
    assert index.total_frames == 30
    assert index.width == 160 and index.height == 120
    assert index.has_audio
    assert 2.9 <= index.duration <= 3.2
    samples = plan_samples(index, max_frames=6)
    assert 1 <= len(samples) <= 6
    with SnippetReader(index) as reader:
        for s in samples:
            frames = reader.read(s.time, 4)
            assert len(frames) == 4
            assert frames[0].index == s.index
            assert [f.index for f in frames] == list(range(s.index, s.index + 4))
            assert frames[0].rgb.shape == (120, 160, 3) and frames[0].rgb.dtype == np.uint8


def test_samples_cover_the_whole_clip_not_its_beginning(tmp_path):
    path = write_talking_video(tmp_path / "long.mp4", seconds=20, fps=10, size=(96, 72), with_audio=False, gop=25)
    index = probe_video(str(path), 60, 10)
    samples = plan_samples(index, 10)
    times = [s.time for s in samples]
    assert len(samples) == 10
    assert times[0] < 2.0 and times[-1] > 18.0  # first and last tenth of the clip
    gaps = np.diff(times)
    assert gaps.min() > 1.5 and gaps.max() < 2.5  # evenly spread in time


def test_decoding_stays_bounded_by_the_samples(tmp_path):
    """Seeking means the frames decoded grow with the samples and the key-frame interval, not the clip."""
    gop = 10
    path = write_talking_video(tmp_path / "gop.mp4", seconds=30, fps=10, size=(64, 48), with_audio=False, gop=gop)
    index = probe_video(str(path), 60, 5)
    samples = plan_samples(index, 5)
    with SnippetReader(index) as reader:
        for s in samples:
            reader.read(s.time, 4)
    assert reader.stats.decoded_frames <= len(samples) * (gop + 4)
    assert reader.stats.decoded_frames < index.total_frames / 4
    assert reader.stats.seeks >= len(samples) - 1


def test_frames_match_a_sequential_decode(tmp_path):
    """A seek lands on exactly the frame that a full decode shows at that index."""
    import av

    path = write_talking_video(tmp_path / "exact.mkv", seconds=6, fps=10, size=(96, 72), with_audio=False, gop=12)
    with av.open(str(path)) as c:
        full = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
    index = probe_video(str(path), 60, 6)
    with SnippetReader(index) as reader:
        for s in reversed(plan_samples(index, 6)):  # backwards: every read needs a seek
            frames = reader.read(s.time, 2)
            for f in frames:
                assert np.array_equal(f.rgb, full[f.index])


@pytest.mark.parametrize("ext", ["mp4", "mov", "mkv", "webm"])
def test_rotated_phone_video_comes_out_upright(tmp_path, ext):
    path = write_talking_video(tmp_path / f"rot.{ext}", seconds=1.0, fps=10, size=(96, 160), rotation=90,
                               with_audio=False)
    index = probe_video(str(path), 60, 3)
    assert index.rotation % 360 in (90, -270)
    assert (index.width, index.height) == (96, 160)
    with SnippetReader(index) as reader:
        frame = reader.read(0.0, 1)[0]
    assert frame.rgb.shape == (160, 96, 3)
    # Upright: the drawn hair (dark) is above the mouth, i.e. the top half is darker at the centre column.
    col = frame.rgb[:, 40:56].mean(axis=(1, 2))
    assert col[40:70].min() < col[90:110].mean()


def test_variable_frame_rate_uses_real_timestamps(tmp_path):
    path = write_talking_video(tmp_path / "vfr.mkv", seconds=4, fps=10, size=(96, 72), variable_frame_rate=True,
                               with_audio=False)
    index = probe_video(str(path), 60, 8)
    assert index.variable_frame_rate
    gaps = np.round(np.diff(index.times), 3)
    assert set(np.unique(gaps)) == {0.05, 0.15}
    with SnippetReader(index) as reader:
        for s in plan_samples(index, 8):
            frames = reader.read(s.time, 3)
            assert [round(f.time, 3) for f in frames] == [round(t, 3) for t in index.times[s.index : s.index + 3]]


def _write_raw(path, size, codec="mpeg4", fmt="avi", sar=None, n=12):
    w, h = size
    images = []
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[:, : w // 2] = (200, 50, 50)
        img[:, w // 2 :] = (30, 30 + 10 * i, 200)
        images.append(img)
    return encode_frames(path, images, fmt=fmt, codec=codec, pix_fmt="yuv420p" if codec != "ffv1" else "yuv444p",
                         sample_aspect=Fraction(*sar) if sar else None)


def test_odd_sizes_and_non_square_pixels(tmp_path):
    odd = _write_raw(tmp_path / "odd.mkv", (99, 71), codec="ffv1", fmt="matroska")
    index = probe_video(str(odd), 60, 3)
    assert (index.width, index.height) == (99, 71)
    with SnippetReader(index) as reader:
        assert reader.read(0.0, 1)[0].rgb.shape == (71, 99, 3)
    wide = _write_raw(tmp_path / "anamorphic.avi", (96, 72), sar=(4, 3))
    index = probe_video(str(wide), 60, 3)
    assert (index.width, index.height) == (128, 72)  # shown 4:3 wider than stored
    with SnippetReader(index) as reader:
        assert reader.read(0.0, 1)[0].rgb.shape == (72, 128, 3)


def test_scene_cut_key_frames_are_sampled(tmp_path):
    path = write_talking_video(tmp_path / "cut.webm", seconds=6, fps=10, size=(128, 96), scene_cut_at=3.0,
                               with_audio=False)
    index = probe_video(str(path), 60, 8)
    assert [round(c.time, 1) for c in index.scene_cuts] == [3.0]
    samples = plan_samples(index, 8)
    cut = [s for s in samples if s.kind == "scene_cut"]
    assert len(cut) == 1 and cut[0].index == index.scene_cuts[0].index
    assert len(samples) <= 8


def test_short_clip_gets_distinct_samples(tmp_path):
    path = write_video(tmp_path / "short.mp4", seconds=0.5, fps=10, with_audio=False)
    index = probe_video(str(path), 60, 30)
    samples = plan_samples(index, 30)
    assert index.total_frames == 5
    assert len({s.index for s in samples}) == len(samples) >= 1


def test_errors_are_typed(tmp_path):
    audio_only = write_audio(tmp_path / "a.m4a", seconds=1.0)
    with pytest.raises(UnsupportedMediaError):
        probe_video(str(audio_only), 60, 5)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200)
    with pytest.raises(CorruptMediaError):
        probe_video(str(junk), 60, 5)
    long = write_video(tmp_path / "long.webm", seconds=5, fps=5, with_audio=False)
    with pytest.raises(MediaTooLargeError):
        probe_video(str(long), max_seconds=2, max_frames=5)
    with pytest.raises(MediaTooLargeError, match="19200 pixels, over the limit of 10000"):
        probe_video(str(long), max_seconds=60, max_frames=5, max_pixels=10_000)  # 160x120 frames
