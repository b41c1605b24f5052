"""The typed payloads each detector's ``preprocess`` hands to its ``postprocess`` (``Prepared[...]``).

TypedDicts, so they stay plain dicts on the wire and in the feature caches that already hold them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:  # annotations only: the detectors import this module
    from detectors.audio.segmentation import Window
    from detectors.image.prepare import ImageEvidence


class ImagePayload(TypedDict):
    """``image-default`` / ``image-clip``: decoded facts, faces and forensic features of one image."""

    evidence: ImageEvidence


class WhisperAudioPayload(TypedDict):
    """``audio-whisper``: the clip's facts and its speech windows (one model input each)."""

    duration: float
    sample_rate: int
    source_sample_rate: int
    speech_seconds: float
    windows: list[Window]


class AudioPayload(TypedDict):
    """``audio-default``: as ``WhisperAudioPayload`` plus the v1 clip analysis (features, artifacts)."""

    duration: float
    sample_rate: int
    source_sample_rate: int
    analysis: Any  # detectors.audio.analysis.ClipAnalysis
    windows: list[Window]


class V2Vectors(TypedDict):
    """``video-v2``: the fusion's input vector and the per-crop / per-frame backbone features."""

    vector: dict[str, Any]
    face_pen: Any
    crop_track: Any
    crop_time: Any
    frame_pen: Any


class VideoPayload(TypedDict):
    """``video-default`` / ``video-v2``: sampled snippets with faces, tracks, lip window, clip facts;
    ``temporal`` is filled by the recipe's temporal step (v2: during prepare), ``v2`` by video-v2."""

    video: dict[str, Any]
    samples: list[dict[str, Any]]
    tracks: list[dict[str, Any]]
    lip: dict[str, Any] | None
    decode: dict[str, Any]
    crops: int
    audioNote: str | None
    summary: dict[str, Any]
    temporal: NotRequired[dict[str, Any]]
    v2: NotRequired[V2Vectors]
