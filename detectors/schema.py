"""The one result schema for every modality, serialised with the usage guide's field names.

Python attributes are snake_case; JSON uses the guide's camelCase (``isDeepfake``,
``processingTime``, ``frameAnalysis`` ...). Always dump with ``result.to_json_dict()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.alias_generators import to_camel

from detectors.calibration import OperatingPoints

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


class OperatingPointsOut(_Model):
    """The two operating points a verdict was taken at: ``real`` below ``realBelow``, ``fake`` at or
    above ``fakeAbove``, ``inconclusive`` between."""

    real_below: float
    fake_above: float


class AnalysisResult(_Model):
    """The answer for one medium. Fields after ``components`` are modality-specific."""

    is_deepfake: bool
    confidence: float = Field(description="Calibrated probability of the stated verdict, in percent "
                                          "(0 when inconclusive: that verdict states no class).")
    fake_probability: float | None = Field(default=None, description="Calibrated probability of fake, 0..1.")
    verdict: Verdict
    verdict_reason: str | None = None
    threshold: float | None = Field(default=None, description="fakeAbove of the operating points (kept for old clients).")
    operating_points: OperatingPointsOut | None = None
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
    # not serialised: serialised bytes the analysis moved between processes, per hop (the graph sets it)
    _transfer: dict[str, int] = PrivateAttr(default_factory=dict)

    def set_transfer(self, hops: Mapping[str, int]) -> None:
        self._transfer = dict(hops)

    @property
    def transfer(self) -> dict[str, int]:
        """Bytes per hop ("ingress>analysis", "analysis>image_model" ...); empty in one process."""
        return dict(self._transfer)


ThresholdLike = float | OperatingPoints | Mapping[str, Any]


def as_operating_points(threshold: ThresholdLike) -> OperatingPoints:
    """The two operating points of a model: stored ``OperatingPoints`` (or their dict), or an old
    model's single threshold ``t``.

    A single threshold becomes ``real_below = min(t, 0.5)`` and ``fake_above = max(t, 0.5)``: equal
    (one cut, no band) at t = 0.5; otherwise the gap between t and 0.5 is inconclusive, because a
    verdict there would state a class the calibrated probability calls less likely than not.
    """
    if isinstance(threshold, OperatingPoints):
        return threshold
    if isinstance(threshold, Mapping):
        return OperatingPoints.from_dict(dict(threshold))
    t = float(threshold)
    return OperatingPoints(real_below=min(t, 0.5), fake_above=max(t, 0.5), fitted_on="single threshold")


def between_reason(p: float, ops: OperatingPoints) -> str:
    """The ``verdictReason`` of the inconclusive band."""
    return (f"the calibrated fake probability {p:.2f} lies between the operating points "
            f"{ops.real_below:.2f} (real below) and {ops.fake_above:.2f} (fake at or above): "
            "the model cannot call it at the error rates it was held to")


def verdict_fields(fake_probability: float, threshold: ThresholdLike) -> dict:
    """Verdict, ``isDeepfake``, ``confidence`` and the reason from a calibrated probability and the
    model's operating points (or an old model's single threshold, see ``as_operating_points``).

    - p >= fake_above: ``fake``, confidence 100 p (never under 50: fake_above >= 0.5);
    - p < real_below: ``real``, confidence 100 (1 - p) (never under 50: real_below <= 0.5);
    - between: ``inconclusive`` with a ``verdictReason``; confidence 0 (the verdict states no class;
      ``fakeProbability`` still carries p).

    ``isDeepfake`` is true only for ``fake``. Confidence is the calibrated probability of the stated
    verdict in percent, never rescaled around a threshold.
    """
    ops = as_operating_points(threshold)
    p = float(min(1.0, max(0.0, fake_probability)))
    verdict = ops.verdict(p)
    if verdict == "fake" and p < 0.5 or verdict == "real" and p > 0.5:
        verdict = "inconclusive"  # operating points stored off their side of 0.5: never state the less likely class
    out: dict[str, Any] = {
        "is_deepfake": verdict == "fake",
        "verdict": verdict,
        "fake_probability": round(p, 4),
        "confidence": round(100.0 * (p if verdict == "fake" else 1.0 - p), 1) if verdict != "inconclusive" else 0.0,
        "threshold": ops.fake_above,
        "operating_points": OperatingPointsOut(real_below=ops.real_below, fake_above=ops.fake_above),
    }
    if verdict == "inconclusive":
        out["verdict_reason"] = between_reason(p, ops)
    return out


def operating_points_info(threshold: ThresholdLike | None) -> dict | None:
    """What ``/api/status`` shows for a model: both points and their measured error rates (when stored)."""
    if threshold is None:
        return None
    ops = as_operating_points(threshold)
    return {"realBelow": ops.real_below, "fakeAbove": ops.fake_above, "maxFpr": ops.max_fpr, "maxFnr": ops.max_fnr,
            "fittedOn": ops.fitted_on, "measured": ops.measured or None}


def inconclusive_fields(reason: str, fake_probability: float | None = None) -> dict:
    """Fields for a verdict the evidence cannot support; says why instead of guessing."""
    return {
        "is_deepfake": False,
        "verdict": "inconclusive",
        "verdict_reason": reason,
        "confidence": 0.0,
        "fake_probability": None if fake_probability is None else round(float(fake_probability), 4),
    }
