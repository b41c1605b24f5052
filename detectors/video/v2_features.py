"""What ``video-v2`` measures in one clip: the image v2 backbone over time, the sound through the
audio v2 Whisper layers, the lip-sync and temporal cues, and the container's metadata.

One pass over a clip (``analyse_clip``):

- sampling, faces, tracks, temporal context and the lip window come from the v1 video intake
  (``VideoDetector.preprocess`` with ``N_SAMPLES`` snippets, faces found on a <= 480 px copy);
  ``V2Sampler`` only adds, per sampled frame, a centre crop and a corner mosaic;
- the frozen CLIP ViT-B/16 (``detectors.image.clip_stream.ClipStream``, image v2's backbone) embeds
  every aligned face crop, every centre crop (the middle 60 % of the frame: no corner watermark
  can be in it), both passed through the same 128 px bottleneck (``normalise_detail``: resolution
  must not tell the classes apart), and the corner mosaics. The corners are a *shortcut probe* only: a stream that
  sees nothing but the four corners (where Loopy's "AIGC", OmniHuman's and DreamTalk's marks sit)
  and is never a fusion input; if it scores high, the corpus still leaks through its corners;
- Whisper base layer statistics (``detectors.audio.v2_streams.WhisperLayers``) of the first
  ``AUDIO_WINDOW_S`` seconds of the sound track, when there is audible sound;
- the v1 temporal features and lip-sync correlation (``detectors.video.temporal``), and the v1
  image model's raw face-crop scores (only for the v1 baseline of the model card).

``clip_vector`` flattens an analysis into named 1-D vectors (face features pooled along the
primary face track, see ``pooling.py``): the cached training input of ``v2_train``. The detector
computes the same analysis and uses the same vectors, so training and serving cannot drift.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detectors.media import MediaRef
from detectors.settings import Settings, get_settings
from detectors.video.detector import VideoDetector
from detectors.video.frames import DecodedFrame, VideoIndex
from detectors.video.pooling import pool_sequence, pooled_vector, primary_track, track_members
from detectors.video.temporal import TEMPORAL_FEATURES, temporal_analysis

N_SAMPLES = 6  # snippets per clip (CPU budget: about 15 backbone passes, 7-8 s per clip on a shared core)
CENTRE_FRACTION = 0.6  # side of the centre crop, as a fraction of the frame's shorter side
CORNER_FRACTION = 0.2  # side of each corner patch of the shortcut probe
AUDIO_WINDOW_S = 10.0
MIN_AUDIO_RMS = 1e-3  # below: no audible sound, the audio stream is absent
WHISPER_STATES = (2, 4)
CLIP_REPS = ("pen", "proj")
CODECS = ("h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg1video", "mpeg2video", "gif", "mjpeg")
CONTAINERS = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mpeg", "gif", "avi", "flv")
DETAIL_SIDE = 128  # face and centre crops pass through this many pixels before the 224 px backbone
VERSION = "2"


def centre_crop(rgb: np.ndarray, fraction: float = CENTRE_FRACTION, size: int = 224) -> np.ndarray:
    """The middle ``fraction`` of the shorter side, square, resized to ``size`` (no corner in it)."""
    h, w = rgb.shape[:2]
    side = max(2, int(round(min(h, w) * fraction)))
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = rgb[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(crop, (size, size), interpolation=interp))


def normalise_detail(rgb: np.ndarray, side: int = DETAIL_SIDE, size: int = 224) -> np.ndarray:
    """Down to ``side`` pixels and back up to ``size``: every crop carries the same amount of detail.

    Corpus v2's reals are mostly 256 px clips and many fakes 512 px or more: a face crop from the
    first is upsampled (soft), from the second downsampled (sharp), and a probe learns the
    resolution. Passing every crop through the same bottleneck removes that shortcut (at the
    cost of the finest generator traces, which re-encoding destroys anyway).
    """
    small = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA if rgb.shape[0] > side else cv2.INTER_CUBIC)
    return np.ascontiguousarray(cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC))


def corner_mosaic(rgb: np.ndarray, fraction: float = CORNER_FRACTION, size: int = 224) -> np.ndarray:
    """The four corner patches (``fraction`` of the shorter side each) tiled 2 x 2 into one image."""
    h, w = rgb.shape[:2]
    side = max(2, int(round(min(h, w) * fraction)))
    half = size // 2
    tiles = [rgb[:side, :side], rgb[:side, w - side :], rgb[h - side :, :side], rgb[h - side :, w - side :]]
    tiles = [cv2.resize(np.ascontiguousarray(t), (half, half), interpolation=cv2.INTER_AREA) for t in tiles]
    return np.ascontiguousarray(np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])]))


class V2Sampler(VideoDetector):
    """The v1 video intake plus a centre crop and a corner mosaic of each sampled frame.

    Not registered: a helper of ``video-v2`` (sampling, faces, tracks, temporal inputs, lip window).
    """

    def load(self) -> None:
        if not self.faces.loaded:
            self.faces.load()
        self._loaded = True

    def _snippet_record(self, index: VideoIndex, kind: str, frames: list[DecodedFrame], inputs: list[np.ndarray]) -> dict:
        rec = super()._snippet_record(index, kind, frames, inputs)
        rgb0 = frames[0].rgb
        rec["centre"] = centre_crop(rgb0)
        rec["corners"] = corner_mosaic(rgb0)
        return rec


@dataclass
class ClipAnalysis:
    """Everything measured in one clip, per crop and per frame, before flattening."""

    payload: dict
    crop_track: np.ndarray  # (n_crops,) track id of each face crop
    crop_time: np.ndarray  # (n_crops,) seconds
    crop_frame: np.ndarray  # (n_crops,) frame index
    face: dict[str, np.ndarray]  # rep -> (n_crops, d)
    frame_time: np.ndarray  # (n_frames,) sampled frames (with or without faces)
    frame_index: np.ndarray
    centre: dict[str, np.ndarray]  # rep -> (n_frames, d)
    corners: dict[str, np.ndarray]  # rep -> (n_frames // 2, d): every other sampled frame
    temporal: dict
    audio: dict[str, np.ndarray] | None  # Whisper pooled states, None without audible sound
    audio_rms: float
    meta: np.ndarray
    v1_scores: np.ndarray | None = None  # raw v1 image-model scores per crop (baseline only)
    audio_clip: Any = None  # the decoded sound track (an AudioClip), for the audio detector's own verdict
    timings: dict[str, float] = field(default_factory=dict)


def metadata_vector(video: dict, size_bytes: int, has_audio: bool) -> np.ndarray:
    """Resolution, frame rate, duration, bitrate, sound, codec and container (the shortcut baseline)."""
    dur = float(video.get("duration") or 0.0)
    bitrate = 8.0 * size_bytes / dur if dur > 0 else 0.0
    codec = str(video.get("codec") or "")
    container = str(video.get("container") or "")
    v = [np.log1p(video.get("width", 0)), np.log1p(video.get("height", 0)), float(video.get("fps") or 0.0),
         np.log1p(dur), np.log1p(bitrate / 1000.0), float(has_audio)]
    v += [1.0 if codec == c else 0.0 for c in CODECS] + [0.0 if codec in CODECS else 1.0]
    v += [1.0 if container == c else 0.0 for c in CONTAINERS] + [0.0 if container in CONTAINERS else 1.0]
    return np.asarray(v, dtype=np.float32)


class ClipAnalyser:
    """Loads the backbones once and analyses clips (one thread each: the machine is shared)."""

    def __init__(self, settings: Settings | None = None, n_samples: int = N_SAMPLES, with_v1: bool = False,
                 with_audio: bool = True, clip: Any = None, whisper: Any = None, with_corners: bool = True) -> None:
        """``clip`` / ``whisper``: ready backbones with ``embed(images)`` / ``states(samples)`` (stand-ins in
        tests); by default the pinned CLIP and Whisper base are loaded in ``load``."""
        base = settings or get_settings()
        self.settings = base.model_copy(update={"max_video_frames": n_samples})
        self.sampler = V2Sampler(settings=self.settings)
        self.with_v1 = with_v1
        self.with_audio = with_audio
        self.with_corners = with_corners  # the shortcut probe: measured in training, skipped when serving
        self.clip: Any = clip
        self.whisper: Any = whisper
        self.v1_image: Any = None

    def load(self) -> None:
        from detectors.image.clip_stream import ClipStream

        self.sampler.load()
        if self.clip is None:
            self.clip = ClipStream(crops=(), faces=False)
            self.clip.load()
        if self.with_audio and self.whisper is None:
            from detectors.audio.v2_streams import WhisperLayers

            self.whisper = WhisperLayers(max_window_s=AUDIO_WINDOW_S)
            self.whisper.load()
        if self.with_v1 and self.v1_image is None:
            from detectors.base import create

            self.v1_image = create("image-default", settings=self.settings)
            self.v1_image.load()

    def _embed(self, images: list[np.ndarray], batch: int = 8) -> dict[str, np.ndarray]:
        if not images:
            return {r: np.zeros((0, 768 if r == "pen" else 512), np.float32) for r in CLIP_REPS}
        parts: dict[str, list[np.ndarray]] = {r: [] for r in CLIP_REPS}
        for i in range(0, len(images), batch):
            out = self.clip.embed(images[i : i + batch])
            for r in CLIP_REPS:
                parts[r].append(out[r])
        return {r: np.concatenate(v) for r, v in parts.items()}

    def analyse(self, path: str | Path) -> ClipAnalysis:
        """One pass over the clip (see the module docstring)."""
        self.load()
        path = Path(path)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        ref = MediaRef(path=str(path), media_type="video", format=path.suffix.lstrip("."), size_bytes=path.stat().st_size)
        prepared = self.sampler.preprocess(ref)
        payload = prepared.payload
        timings["intake"] = time.perf_counter() - t0
        t = time.perf_counter()
        temporal = temporal_analysis(payload)
        timings["temporal"] = time.perf_counter() - t
        records = payload["samples"]
        crop_track, crop_time, crop_frame = [], [], []
        for rec in records:
            for face in rec["faces"]:
                crop_track.append(int(face["track"]))
                crop_time.append(float(rec["time"]))
                crop_frame.append(int(rec["frame"]))
        t = time.perf_counter()
        face = self._embed([normalise_detail(x) for x in prepared.model_inputs])
        centre = self._embed([normalise_detail(r["centre"]) for r in records])
        # a probe: every other frame is enough
        corners = self._embed([r["corners"] for r in records[::2]] if self.with_corners else [])
        timings["clip"] = time.perf_counter() - t
        v1_scores = None
        if self.with_v1:
            t = time.perf_counter()
            v1_scores = np.asarray(self.v1_image.infer(list(prepared.model_inputs)) if prepared.model_inputs else [],
                                   np.float64)
            timings["v1_image"] = time.perf_counter() - t
        audio, rms = None, 0.0
        clip = prepared.audio
        if clip is not None and clip.samples.size:
            x = np.asarray(clip.samples, np.float32)[: int(AUDIO_WINDOW_S * clip.sample_rate)]
            rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
            if self.with_audio and rms >= MIN_AUDIO_RMS and x.size >= clip.sample_rate // 2:
                t = time.perf_counter()
                states = self.whisper.states(x)
                audio = {}
                for i in WHISPER_STATES:
                    audio[f"l{i}"] = np.concatenate([states[i].mean(axis=0), states[i].std(axis=0)]).astype(np.float32)
                timings["whisper"] = time.perf_counter() - t
        meta = metadata_vector(payload["video"], ref.size_bytes, clip is not None)
        timings["total"] = time.perf_counter() - t0
        return ClipAnalysis(
            payload=payload,
            crop_track=np.asarray(crop_track, np.int64), crop_time=np.asarray(crop_time), crop_frame=np.asarray(crop_frame),
            face=face, frame_time=np.asarray([r["time"] for r in records], np.float64),
            frame_index=np.asarray([r["frame"] for r in records], np.int64),
            centre=centre, corners=corners, temporal=temporal, audio=audio, audio_rms=rms, meta=meta,
            v1_scores=v1_scores, audio_clip=clip, timings=timings,
        )


def face_track_vectors(a: ClipAnalysis, rep: str, track: int | None) -> np.ndarray:
    """Mean, max, std and flicker of ``rep`` along one track (NaN vector when there is no track)."""
    d = a.face[rep].shape[1] if a.face[rep].ndim == 2 else 768
    members = track_members(a.crop_track, a.crop_time)
    if track is None or track not in members:
        return np.full(4 * d, np.nan, np.float32)
    return pooled_vector(pool_sequence(a.face[rep][members[track]]))


def clip_vector(a: ClipAnalysis) -> dict[str, np.ndarray]:
    """Named 1-D vectors of one clip: the training input of every ``video-v2`` stream."""
    track = primary_track(a.crop_track, a.crop_time)
    out: dict[str, np.ndarray] = {}
    for rep in CLIP_REPS:
        out[f"face.{rep}"] = face_track_vectors(a, rep, track)
        c = a.centre[rep]
        pooled = pool_sequence(c) if len(c) else pool_sequence(np.zeros((0, 768 if rep == "pen" else 512)))
        out[f"frame.{rep}"] = pooled_vector(pooled, ("mean", "std", "flicker"))
        k = a.corners[rep]
        out[f"corner.{rep}"] = (k.mean(axis=0) if len(k) else np.full(c.shape[1], np.nan)).astype(np.float32)
    feats = a.temporal.get("features", {})
    out["temporal"] = np.array([np.nan if feats.get(n) is None else feats[n] for n in TEMPORAL_FEATURES], np.float32)
    lip = a.temporal.get("lipSync")
    out["lip"] = np.array([lip["correlation"], lip["lagSeconds"]] if lip else [np.nan, np.nan], np.float32)
    for i in WHISPER_STATES:
        v = None if a.audio is None else a.audio.get(f"l{i}")
        out[f"audio.l{i}"] = v if v is not None else np.full(1024, np.nan, np.float32)
    out["meta"] = a.meta
    n_tracked = 0 if track is None else len(track_members(a.crop_track, a.crop_time)[track])
    out["counts"] = np.array([len(a.crop_track), n_tracked, len(a.frame_time), a.audio_rms], np.float32)
    if a.v1_scores is not None:
        out["v1.face"] = v1_face_values(a)
    out["timings"] = np.array([a.timings.get(k, 0.0) for k in ("intake", "temporal", "clip", "whisper", "total")],
                              np.float32)
    return out


def v1_face_values(a: ClipAnalysis) -> np.ndarray:
    """The v1 fusion's face inputs (mean, 90th percentile, most suspicious track) of raw v1 scores."""
    s = np.asarray(a.v1_scores if a.v1_scores is not None else [], np.float64)
    if s.size == 0:
        return np.full(3, np.nan, np.float32)
    members = track_members(a.crop_track, a.crop_time)
    means = {k: float(s[idx].mean()) for k, idx in members.items()}
    long = [m for k, m in means.items() if len(members[k]) >= 2]
    tmax = max(long or means.values()) if means else float(s.max())
    return np.array([s.mean(), np.quantile(s, 0.9), tmax], np.float32)


class VideoV2Stream:
    """``clip_vector`` of a file as a training-core ``FeatureStream`` (cached per file and view)."""

    modality = "video"

    def __init__(self, analyser: ClipAnalyser | None = None, with_v1: bool = True) -> None:
        self.analyser = analyser or ClipAnalyser(with_v1=with_v1)
        self.name = "video-v2-clip"
        self.version = f"{VERSION}-n{self.analyser.settings.max_video_frames}-v1{int(self.analyser.with_v1)}"

    def load(self) -> None:
        self.analyser.load()

    def features(self, path: Path) -> dict[str, np.ndarray]:
        return clip_vector(self.analyser.analyse(path))
