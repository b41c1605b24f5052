"""The one result schema for every modality, serialised with the usage guide's field names.

Python attributes are snake_case; JSON uses the guide's camelCase (``isDeepfake``,
``processingTime``, ``frameAnalysis`` ...). Always dump with ``result.to_json_dict()``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

MediaType = Literal["image", "video", "audio"]
Verdict = Literal["fake", "real", "inconclusive"]
Severity = Literal["low", "medium", "high"]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_json_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Anomaly(_Model):
    """One piece of evidence a person can read: what, how bad, and why it counts as unusual."""

    type: str
    severity: Severity
    description: str
    value: float | None = None
    normal_range: tuple[float, float] | None = None
    start: float | None = None
    end: float | None = None
    frame: int | None = None


class ComponentScore(_Model):
    """What one component (model or feature group) contributed, or why it was left out."""

    name: str
    used: bool
    fake_probability: float | None = None
    weight: float | None = None
    reason: str | None = None


class FaceResult(_Model):
    """A face found in an image (or a face track in a video) and its own score."""

    box: tuple[int, int, int, int]  # x, y, width, height in source pixels
    fake_probability: float
    is_deepfake: bool
    track_id: int | None = None
    frames: int | None = None


class FrameResult(_Model):
    frame: int
    timestamp: float
    confidence: float
    is_deepfake: bool
    fake_probability: float
    faces: int = 0


class SegmentResult(_Model):
    start: float
    end: float
    fake_probability: float
    is_deepfake: bool
    confidence: float
    speech: bool = True


class AnalysisResult(_Model):
    """The answer for one medium. Fields after ``components`` are modality-specific."""

    is_deepfake: bool
    confidence: float = Field(description="Percent confidence in the stated verdict (0 when inconclusive).")
    fake_probability: float | None = Field(default=None, description="Calibrated probability of fake, 0..1.")
    verdict: Verdict
    verdict_reason: str | None = None
    threshold: float | None = None
    processing_time: float = 0.0
    media_type: MediaType
    timestamp: str = Field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    model_used: str
    anomalies: list[Anomaly] = Field(default_factory=list)
    components: list[ComponentScore] = Field(default_factory=list)
    source: str | None = None
    job_id: str | None = None
    # image
    width: int | None = None
    height: int | None = None
    faces: list[FaceResult] | None = None
    # video
    frame_analysis: list[FrameResult] | None = None
    total_frames: int | None = None
    analyzed_frames: int | None = None
    fps: float | None = None
    deepfake_frame_ratio: float | None = None
    face_tracks: list[FaceResult] | None = None
    audio_track: AnalysisResult | None = None
    # audio
    duration: float | None = None
    sample_rate: int | None = None
    inconsistency_count: int | None = None
    artifact_count: int | None = None
    segments: list[SegmentResult] | None = None


def verdict_fields(fake_probability: float, threshold: float) -> dict:
    """Verdict, ``isDeepfake`` and ``confidence`` from a calibrated probability and the stored threshold.

    Confidence is the calibrated probability of the stated verdict, in percent: p for "fake",
    1 - p for "real". It is not rescaled around the threshold, so it can honestly be low.
    """
    p = float(min(1.0, max(0.0, fake_probability)))
    fake = p >= threshold
    return {
        "is_deepfake": fake,
        "verdict": "fake" if fake else "real",
        "fake_probability": round(p, 4),
        "confidence": round(100.0 * (p if fake else 1.0 - p), 1),
        "threshold": threshold,
    }


def inconclusive_fields(reason: str, fake_probability: float | None = None) -> dict:
    """Fields for a verdict the evidence cannot support; says why instead of guessing."""
    return {
        "is_deepfake": False,
        "verdict": "inconclusive",
        "verdict_reason": reason,
        "confidence": 0.0,
        "fake_probability": None if fake_probability is None else round(float(fake_probability), 4),
    }
