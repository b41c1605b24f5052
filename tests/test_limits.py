"""Every limit is a setting, and every refusal is a 4xx with a message that names the limit.

Bytes (uploads, URLs, local paths), image pixels (decompression bombs, checked from the header;
video frames too), video duration and sampled frames, audio duration. Over HTTP with the stand-in detectors, and at
the library level with the real video path.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from benchmarks.fuzz_stats import gif_bomb, png_bomb
from detectors import base
from detectors.errors import MediaTooLargeError
from detectors.media import load_audio, load_image
from detectors.settings import Settings
from tests.hardening_app import KEY, http_server, ok, scratch_files, standin_api
from tests.media_factory import image_bytes, write_audio, write_video

HEADERS = {"X-API-Key": KEY}


def upload(url: str, name: str, data: bytes, **form: str) -> httpx.Response:
    return httpx.post(f"{url}/api/analyze", files={"file": (name, data)}, data=form, headers=HEADERS, timeout=60)


def assert_refused(r: httpx.Response, status: int, code: str, *words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code
    for w in words:
        assert w in body["message"], body["message"]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with standin_api(tmp_path_factory.mktemp("limits"), MAX_UPLOAD_BYTES="200000", MAX_IMAGE_PIXELS="250000",
                     MAX_AUDIO_SECONDS="2", MAX_VIDEO_SECONDS="2", ALLOW_PRIVATE_URLS="true",
                     ALLOW_LOCAL_PATHS="true") as a:
        yield a


# --- bytes --------------------------------------------------------------------------------------


def test_upload_over_the_byte_limit_is_413(api):
    r = upload(api.url, "big.wav", b"RIFF" + b"\0" * 300_000)
    assert_refused(r, 413, "media_too_large", "200000")


def test_chunked_upload_without_length_is_cut_while_streaming(api):
    def body():
        yield b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"
        for _ in range(40):  # 40 x 10 kB = 400 kB, no Content-Length announced
            yield b"\0" * 10_000
        yield b"\r\n--XyZ--\r\n"

    r = httpx.post(f"{api.url}/api/analyze", content=body(), timeout=60,
                   headers={**HEADERS, "content-type": "multipart/form-data; boundary=XyZ"})
    assert_refused(r, 413, "media_too_large", "200000")


def test_url_over_the_byte_limit_is_413(api):
    with http_server({"/big.png": ok(b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000)}) as (base_url, _):
        r = httpx.post(f"{api.url}/api/analyze", json={"media_url": f"{base_url}/big.png"}, headers=HEADERS,
                       timeout=60)
    assert_refused(r, 413, "media_too_large", "200000")


def test_local_path_over_the_byte_limit_is_413(api, tmp_path):
    path = tmp_path / "big.wav"
    path.write_bytes(b"RIFF" + b"\0" * 300_000)
    r = httpx.post(f"{api.url}/api/analyze", json={"media_url": str(path)}, headers=HEADERS, timeout=60)
    assert_refused(r, 413, "media_too_large", "200000")


# --- pixels -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,data", [("bomb.png", png_bomb()), ("bomb.gif", gif_bomb()),
                                       ("wide.png", png_bomb(width=2_000_000, height=1))])
def test_decompression_bombs_are_413_at_once(api, name, data):
    start = time.monotonic()
    r = upload(api.url, name, data)
    assert_refused(r, 413, "media_too_large", "pixels", "250000")
    assert time.monotonic() - start < 5


def test_image_just_over_the_pixel_setting_is_413_and_under_it_is_analysed(api):
    assert upload(api.url, "ok.jpg", image_bytes("jpg", (500, 500))).status_code == 200  # exactly the limit
    r = upload(api.url, "over.jpg", image_bytes("jpg", (501, 500)))
    assert_refused(r, 413, "media_too_large", "501x500", "250000")


def test_load_image_checks_pixels_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(50_000, 50_000))  # 2.5 G pixels: decoding would need 7.5 GB
    with pytest.raises(MediaTooLargeError, match="pixels"):
        load_image(path, max_pixels=50_000_000)


# --- audio duration -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "mp3", "aac", "flac"])
def test_audio_over_the_duration_setting_is_413(api, tmp_path, fmt):
    path = write_audio(tmp_path / f"long.{fmt}", seconds=3.0)
    r = upload(api.url, path.name, path.read_bytes())
    assert_refused(r, 413, "media_too_large", "limit of 2 s")


def test_audio_duration_is_enforced_while_decoding_when_the_header_lies(tmp_path):
    """A WAV whose header claims an unknown (maximal) length: the limit still holds while decoding."""
    path = write_audio(tmp_path / "a.wav", seconds=3.0)
    data = bytearray(path.read_bytes())
    at = data.find(b"data")
    data[4:8] = data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    with pytest.raises(MediaTooLargeError):
        load_audio(path, max_seconds=1.0)
    assert load_audio(path, max_seconds=10.0).duration == pytest.approx(3.0, abs=0.05)


# --- video duration and frames ------------------------------------------------------------------


def test_video_sound_track_over_the_duration_setting_is_413(api, tmp_path):
    path = write_video(tmp_path / "long.mp4", seconds=3.0, fps=5, size=(64, 48))
    r = upload(api.url, path.name, path.read_bytes())
    assert_refused(r, 413, "media_too_large", "limit of 2 s")


def test_probe_video_refuses_a_clip_over_the_duration_limit(tmp_path):
    from detectors.video.frames import probe_video

    path = write_video(tmp_path / "long.webm", seconds=3.0, fps=5, size=(64, 48), with_audio=False)
    with pytest.raises(MediaTooLargeError, match="limit of 1 s"):
        probe_video(str(path), max_seconds=1.0, max_frames=4)


def test_frame_sampling_is_bounded_by_the_setting(tmp_path):
    from detectors.video.frames import SnippetReader, plan_samples, probe_video

    path = write_video(tmp_path / "clip.mp4", seconds=6.0, fps=10, size=(64, 48), with_audio=False)
    index = probe_video(str(path), max_seconds=60, max_frames=3)
    samples = plan_samples(index, 3)
    assert 1 <= len(samples) <= 3
    with SnippetReader(index) as reader:
        for s in samples:
            reader.read(s.time, 2)
    assert reader.stats.decoded_frames <= index.total_frames  # never more than one pass over the clip


def _real_video_detector(**limits: object):
    if "video-default" not in base.available():
        pytest.skip("video-default is not registered yet")
    det = base.create("video-default", settings=Settings(environment="test", **limits))
    det.load()
    return det


def test_real_video_detector_applies_the_duration_setting(tmp_path):
    from detectors.media import make_media_ref

    det = _real_video_detector(max_video_seconds=1.0)
    path = write_video(tmp_path / "long.mkv", seconds=3.0, fps=5, size=(64, 48))
    with pytest.raises(MediaTooLargeError):
        det.preprocess(make_media_ref(path))


def test_real_video_detector_refuses_frames_over_the_pixel_setting(tmp_path):
    from detectors.media import make_media_ref

    det = _real_video_detector(max_image_pixels=10_000)
    path = write_video(tmp_path / "wide.mp4", seconds=0.6, fps=5, size=(320, 240), with_audio=False)
    with pytest.raises(MediaTooLargeError, match="pixels"):
        det.preprocess(make_media_ref(path))


def test_no_scratch_left_after_the_refusals(api):
    # Runs last in the module: every refusal above cleaned up after itself.
    assert scratch_files(api.scratch) == []


def test_limits_are_settings_with_safe_defaults():
    s = Settings(environment="test")
    assert 0 < s.max_upload_bytes <= 1024**3
    assert 0 < s.max_image_pixels <= 200_000_000
    assert 0 < s.max_video_seconds <= 3600 and 1 <= s.max_video_frames <= 600
    assert 0 < s.max_audio_seconds <= 3600
    with pytest.raises(ValueError):
        Settings(environment="test", max_image_pixels=0)
    assert isinstance(Path(s.upload_folder), Path)
