"""Video intake: index a clip cheaply, plan which frames to look at, and decode only those.

Three steps, all PyAV:

1. ``probe_video`` demuxes every packet of the video stream *without decoding* (cheap): that
   gives the true frame count (container headers lie, e.g. some FLV/AVI), every frame's
   presentation time (variable frame rate is handled by using the times, not the average rate)
   and where the key frames are. A bounded number of key frames is decoded to 64 px thumbnails
   to find scene cuts (``detectors.video.scenes``).
2. ``plan_samples`` spreads up to N snippet starts over the whole clip in *time* (not only its
   beginning) and gives part of that budget to the strongest scene cuts.
3. ``SnippetReader.read`` seeks to the key frame before each snippet and decodes forward to it;
   when the next snippet is in the same group of pictures it keeps decoding instead of seeking.
   Frames come back upright (rotation from the display matrix applied) and with square pixels.

Each snippet is a few *consecutive* frames, so the temporal analysis can measure motion between
neighbours while the snippets themselves cover the whole clip.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import cv2
import numpy as np

from detectors.errors import CorruptMediaError, MediaTooLargeError, UnsupportedMediaError
from detectors.video.scenes import SceneCut, find_scene_cuts, thumbnail_histogram

SNIPPET_LENGTH = 4  # consecutive frames per sample: 3 motion steps, 2 accelerations
SCENE_SCAN_PER_SAMPLE = 8  # key frames decoded for scene detection, per sample of the budget
SCENE_CUT_SHARE = 0.25  # at most this share of the frame budget goes to scene-cut key frames
THUMB_SIDE = 64


@dataclass
class VideoIndex:
    """What the cheap demux pass learned about a clip (times in seconds from the first frame)."""

    path: str
    container_format: str
    codec: str
    width: int  # display size: after rotation and sample-aspect correction
    height: int
    rotation: int  # counter-clockwise degrees the display matrix asks for
    sample_aspect: float
    fps: float  # average frames per second over the clip
    duration: float
    total_frames: int
    times: np.ndarray  # presentation time of every frame, ascending
    keyframe_times: np.ndarray
    has_audio: bool
    variable_frame_rate: bool
    has_timestamps: bool
    scene_cuts: list[SceneCut] = field(default_factory=list)
    keyframes_scanned: int = 0
    start_pts: int = 0  # presentation timestamp (stream time base) of the first frame: time 0

    def summary(self) -> dict:
        """Plain, small, picklable facts for results and payloads (no per-frame arrays)."""
        return {
            "container": self.container_format,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "sampleAspect": round(self.sample_aspect, 4),
            "fps": round(self.fps, 3),
            "duration": round(self.duration, 3),
            "totalFrames": self.total_frames,
            "keyframes": int(self.keyframe_times.size),
            "keyframesScanned": self.keyframes_scanned,
            "variableFrameRate": self.variable_frame_rate,
            "hasAudio": self.has_audio,
            "sceneCuts": [round(c.time, 3) for c in self.scene_cuts],
        }

    def frame_at(self, t: float) -> int:
        """Index of the frame shown at time ``t`` (the last one starting at or before it)."""
        i = int(np.searchsorted(self.times, t + 1e-6, side="right")) - 1
        return min(max(i, 0), self.total_frames - 1)

    @property
    def match_tolerance(self) -> float:
        """How far a decoded frame's time may be from an indexed time and still be that frame."""
        gaps = np.diff(self.times)
        gaps = gaps[gaps > 0]
        smallest = float(gaps.min()) if gaps.size else self.frame_interval
        return 0.25 * min(smallest, self.frame_interval)

    @property
    def frame_interval(self) -> float:
        if self.times.size < 2:
            return 1.0 / self.fps if self.fps > 0 else 0.04
        return float(np.median(np.diff(self.times)))


@dataclass
class Sample:
    """One place in the clip to analyse: a snippet of consecutive frames starting at ``index``."""

    index: int
    time: float
    kind: str  # "uniform" | "scene_cut"


@dataclass
class DecodedFrame:
    """A decoded frame, upright, as RGB uint8 with square pixels (at most the reader's ``max_side``)."""

    index: int
    time: float
    rgb: np.ndarray


def _open(path: str):
    import av

    try:
        return av.open(path)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise CorruptMediaError(f"cannot open video: {exc}") from exc


def _sample_aspect(stream) -> float:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    try:
        value = float(sar) if sar else 1.0
    except (TypeError, ZeroDivisionError):
        value = 1.0
    return value if 0.2 <= value <= 5.0 else 1.0


def upright_rgb(frame, sample_aspect: float = 1.0, max_side: int | None = None) -> np.ndarray:
    """An ``av.VideoFrame`` as upright RGB uint8: display rotation applied, pixels made square,
    optionally downscaled (by swscale, before the array is made) so the long side is <= ``max_side``."""
    w, h = frame.width, frame.height
    dw = w * sample_aspect if sample_aspect >= 1 else w
    dh = h / sample_aspect if sample_aspect < 1 else h
    scale = 1.0 if not max_side else min(1.0, max_side / max(dw, dh))
    tw, th = max(2, round(dw * scale)), max(2, round(dh * scale))
    if (tw, th) == (w, h):
        rgb = frame.to_ndarray(format="rgb24")
    else:
        rgb = frame.reformat(width=tw, height=th, format="rgb24", interpolation="AREA").to_ndarray()
    k = _rotation_steps(getattr(frame, "rotation", 0) or 0)
    if k:
        rgb = np.rot90(rgb, k)
    return np.ascontiguousarray(rgb)


def _rotation_steps(rotation: float) -> int:
    """Quarter turns (counter-clockwise, as ``np.rot90`` counts) for a display-matrix rotation."""
    return int(round(rotation / 90.0)) % 4


def probe_video(path: str, max_seconds: float, max_frames: int, max_pixels: int | None = None) -> VideoIndex:
    """Index the clip by demuxing (not decoding) its video packets, and find scene cuts.

    Raises ``MediaTooLargeError`` when the stream header declares frames over ``max_pixels``
    (before anything is decoded) or as soon as the clip runs past ``max_seconds`` (bounded work),
    ``UnsupportedMediaError`` when there is no video stream, ``CorruptMediaError`` when no frame
    can be read.
    """
    import av

    container = _open(path)
    with container:
        if not container.streams.video:
            raise UnsupportedMediaError("the file has no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        coded = int(ctx.width or 0) * int(ctx.height or 0)
        if max_pixels is not None and coded > max_pixels:
            raise MediaTooLargeError(
                f"video frames are {ctx.width}x{ctx.height} = {coded} pixels, over the limit of {max_pixels}",
                pixels=coded,
                limit=max_pixels,
            )
        ctx.thread_type = "SLICE"  # frame threading would delay the key frames we decode here
        tb = stream.time_base or Fraction(1, 90000)
        has_audio = bool(container.streams.audio)
        declared = _declared_duration(container, stream)
        scan_budget = max(8, SCENE_SCAN_PER_SAMPLE * max_frames)
        scan_gap = max(declared or max_seconds, 1.0) / scan_budget
        stamps: list[int] = []
        keys: list[int] = []
        missing = 0
        thumbs: list[tuple[float, np.ndarray]] = []
        first_frame = None
        last_scan = -math.inf
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    missing += 1
                    ts = stamps[-1] + 1 if stamps else 0
                stamps.append(int(ts))
                if len(stamps) % 256 == 0:
                    span = float((max(stamps) - min(stamps)) * tb)
                    if span > max_seconds * 1.01:
                        raise MediaTooLargeError(
                            f"video is longer than the limit of {max_seconds:.0f} s", limit=max_seconds
                        )
                if packet.is_keyframe:
                    keys.append(int(ts))
                    t = float(ts * tb)
                    if t - last_scan >= scan_gap and len(thumbs) < scan_budget:
                        last_scan = t
                        for frame in _decode_packet(ctx, packet):
                            first_frame = first_frame or frame
                            thumbs.append((_frame_seconds(frame, tb, t), _thumb_hist(frame)))
            for frame in _decode_packet(ctx, None):
                first_frame = first_frame or frame
                thumbs.append((_frame_seconds(frame, tb, last_scan), _thumb_hist(frame)))
        except MediaTooLargeError:
            raise
        except (av.error.FFmpegError, ValueError) as exc:
            if not stamps:
                raise CorruptMediaError(f"cannot read video packets: {exc}") from exc
            # A damaged tail: index what was readable.
        if not stamps:
            raise CorruptMediaError("the video stream has no frames")
        has_timestamps = missing == 0
        raw = np.array(sorted(stamps), dtype=np.int64)
        start = raw[0]
        times = (raw - start).astype(np.float64) * float(tb)
        if not has_timestamps or np.unique(raw).size < raw.size:
            rate = float(stream.average_rate or stream.guessed_rate or 25)
            times = np.arange(raw.size, dtype=np.float64) / rate
            has_timestamps = False
        keyframe_times = np.unique((np.array(keys, dtype=np.int64) - start).astype(np.float64) * float(tb))
        if not has_timestamps:
            keyframe_times = np.zeros(1)  # no usable times: decode sequentially from the start
        if keyframe_times.size == 0 or keyframe_times[0] > 0:
            keyframe_times = np.concatenate([[0.0], keyframe_times])
        interval = float(np.median(np.diff(times))) if times.size > 1 else 1.0 / float(stream.average_rate or 25)
        duration = float(times[-1] + interval)
        if duration > max_seconds * 1.01:
            raise MediaTooLargeError(
                f"video is {duration:.1f} s long, over the limit of {max_seconds:.0f} s",
                duration=duration,
                limit=max_seconds,
            )
        sar = _sample_aspect(stream)
        width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
        rotation = int(getattr(first_frame, "rotation", 0) or 0) if first_frame is not None else 0
        if sar > 1:
            width = round(width * sar)
        elif sar < 1:
            height = round(height / sar)
        if _rotation_steps(rotation) % 2:
            width, height = height, width
        diffs = np.diff(times)
        vfr = bool(diffs.size > 2 and np.mean(np.abs(diffs - interval) > 0.25 * interval) > 0.05)
        cut_times = [(t - float(start * tb), h) for t, h in thumbs]
        index = VideoIndex(
            path=path,
            container_format=container.format.name,
            codec=ctx.name,
            width=int(width),
            height=int(height),
            rotation=rotation,
            sample_aspect=sar,
            fps=float(times.size / duration) if duration > 0 else float(stream.average_rate or 0),
            duration=duration,
            total_frames=int(times.size),
            times=times,
            keyframe_times=keyframe_times,
            has_audio=has_audio,
            variable_frame_rate=vfr,
            has_timestamps=has_timestamps,
            keyframes_scanned=len(thumbs),
            start_pts=int(start),
        )
    index.scene_cuts = [
        SceneCut(time=c.time, index=index.frame_at(c.time), distance=c.distance) for c in find_scene_cuts(cut_times)
    ]
    return index


def _declared_duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _decode_packet(ctx, packet) -> list:
    import av

    try:
        return list(ctx.decode(packet))
    except (av.error.FFmpegError, ValueError):
        return []  # an undecodable key frame only costs one scene-detection thumbnail


def _frame_seconds(frame, tb: Fraction, fallback: float) -> float:
    return float(frame.pts * tb) if frame.pts is not None else fallback


def _thumb_hist(frame) -> np.ndarray:
    w, h = frame.width, frame.height
    s = THUMB_SIDE / max(w, h)
    small = frame.reformat(width=max(2, round(w * s)), height=max(2, round(h * s)), format="rgb24").to_ndarray()
    return thumbnail_histogram(small)


def plan_samples(index: VideoIndex, max_frames: int, snippet: int = SNIPPET_LENGTH) -> list[Sample]:
    """Up to ``max_frames`` snippet starts: scene-cut key frames plus starts spread evenly in time.

    Scene cuts take at most ``SCENE_CUT_SHARE`` of the budget (strongest first); the rest is
    placed at the centres of equal time slices of the whole clip. Starts are distinct and, where
    the clip is long enough, at least one snippet apart.
    """
    n_total = index.total_frames
    snippet = max(1, min(snippet, n_total))
    last_start = n_total - snippet
    capacity = max(1, last_start // snippet + 1)
    budget = max(1, min(max_frames, capacity))
    cuts = sorted(index.scene_cuts, key=lambda c: -c.distance)[: int(budget * SCENE_CUT_SHARE)]
    chosen: dict[int, Sample] = {}
    for cut in cuts:
        i = min(cut.index, last_start)
        chosen[i] = Sample(index=i, time=float(index.times[i]), kind="scene_cut")
    n_uniform = budget - len(chosen)
    span = index.duration
    for k in range(n_uniform):
        t = (k + 0.5) * span / n_uniform
        i = min(index.frame_at(t), last_start)
        if any(abs(i - j) < snippet for j in chosen):
            # Move to the free start nearest to the slice centre, if the slice has one.
            lo = int(np.searchsorted(index.times, k * span / n_uniform))
            hi = min(last_start, int(np.searchsorted(index.times, (k + 1) * span / n_uniform)) - 1)
            free = [j for j in range(lo, hi + 1) if all(abs(j - c) >= snippet for c in chosen)]
            if not free:
                continue
            i = min(free, key=lambda j: abs(j - i))
        chosen[i] = Sample(index=i, time=float(index.times[i]), kind="uniform")
    return [chosen[i] for i in sorted(chosen)]


@dataclass
class DecodeStats:
    """How much decoding the sampling cost (for tests of bounded work and the benchmark)."""

    seeks: int = 0
    decoded_frames: int = 0
    reopened: int = 0


class SnippetReader:
    """Decodes runs of consecutive frames at given times, seeking only when that saves work."""

    def __init__(self, index: VideoIndex, threads: int = 2, max_side: int | None = None) -> None:
        self.index = index
        self.threads = threads
        self.max_side = max_side
        self.stats = DecodeStats()
        self._container = None
        self._stream = None
        self._frames: Iterator | None = None
        self._position = -math.inf  # time of the last decoded frame
        self._next_index = 0  # sequential frame counter (clips without timestamps)
        self._start_pts = 0

    def __enter__(self) -> SnippetReader:
        self._reopen()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def _reopen(self) -> None:
        self.close()
        self._container = _open(self.index.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._stream.codec_context.thread_count = self.threads
        self._frames = None
        self._position = -math.inf
        self._next_index = 0
        self._start_pts = self.index.start_pts  # the index's time origin (its first frame), not start_time

    def _seek_to(self, t: float) -> None:
        """Position the decoder at the key frame at or before ``t``; from the start if seeking fails."""
        import av

        assert self._container is not None and self._stream is not None
        keys = self.index.keyframe_times
        k = float(keys[max(0, int(np.searchsorted(keys, t + 1e-6, side="right")) - 1)])
        if k <= 0 or not self.index.has_timestamps:
            self._reopen()
            self.stats.reopened += 1
            self._frames = self._container.decode(self._stream)
            return
        tb = self._stream.time_base
        target = self._start_pts + int(round(k / float(tb)))  # k came from an exact key-frame pts
        try:
            self._container.seek(target, backward=True, any_frame=False, stream=self._stream)
        except av.error.FFmpegError:
            self._reopen()
            self.stats.reopened += 1
        else:
            self.stats.seeks += 1
            self._position = -math.inf
        self._frames = self._container.decode(self._stream)

    def _frame_time(self, frame) -> float:
        if self.index.has_timestamps and frame.pts is not None and self._stream is not None:
            return float((frame.pts - self._start_pts) * self._stream.time_base)
        i = min(self._next_index, self.index.total_frames - 1)
        return float(self.index.times[i])

    def read(self, t: float, count: int) -> list[DecodedFrame]:
        """``count`` consecutive frames starting with the frame shown at time ``t``."""
        return list(self.iter_frames(t, count))

    def iter_frames(self, t: float, count: int, max_side: int | None = None) -> Iterator[DecodedFrame]:
        """Like ``read``, one frame at a time (long runs without holding every frame in memory);
        ``max_side`` overrides the reader's size limit for these frames."""
        eps = self.index.match_tolerance
        sought = False
        if self._frames is None or self._position >= t - eps or not self._reachable_without_seek(t):
            self._seek_to(t)
            sought = True
        side = max_side or self.max_side
        for item in self._collect(t, count, eps, check_overshoot=sought, max_side=side):
            if item is None:
                # The demuxer landed after the target (imprecise index): decode from the start instead.
                self._reopen()
                self.stats.reopened += 1
                self._frames = self._container.decode(self._stream)  # type: ignore[union-attr]
                yield from self._collect(t, count, eps, check_overshoot=False, max_side=side)  # type: ignore[misc]
                return
            yield item

    def _collect(
        self, t: float, count: int, eps: float, check_overshoot: bool, max_side: int | None
    ) -> Iterator[DecodedFrame | None]:
        import av

        assert self._frames is not None
        first = True
        produced = 0
        try:
            for frame in self._frames:
                ft = self._frame_time(frame)
                self._next_index += 1
                self._position = ft
                self.stats.decoded_frames += 1
                if first and check_overshoot and ft > t + eps:
                    yield None
                    return
                first = False
                if ft < t - eps:
                    continue
                rgb = upright_rgb(frame, self.index.sample_aspect, max_side)
                produced += 1
                yield DecodedFrame(self.index.frame_at(ft), ft, rgb)
                if produced >= count:
                    return
        except (av.error.FFmpegError, ValueError) as exc:
            if not produced:
                raise CorruptMediaError(f"cannot decode video frames near {t:.2f} s: {exc}") from exc

    def _reachable_without_seek(self, t: float) -> bool:
        """True when no key frame lies between the current position and ``t`` (a seek saves nothing)."""
        keys = self.index.keyframe_times
        k = float(keys[max(0, int(np.searchsorted(keys, t + 1e-6, side="right")) - 1)])
        return k <= self._position + 1e-6


def downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy whose long side is at most ``max_side`` and the factor applied (1.0 = unchanged)."""
    h, w = rgb.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s >= 1.0:
        return rgb, 1.0
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return small, s
