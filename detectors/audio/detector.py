"""``audio-default``: the project's own audio deepfake detector.

preprocess: decode (PyAV, 16 kHz mono) -> voice activity -> features, artifacts, voice consistency
-> fixed 4 s windows over the speech (at most 64, spread over the file). infer: the LCNN over LFCC
scores the windows in batches. postprocess: calibrated fusion of the LCNN, the feature model,
the artifact count and the voice-change count into ``fakeProbability`` and the verdict, with a
score per window as segment-level evidence.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from detectors.audio.analysis import ClipAnalyser, ClipAnalysis
from detectors.audio.fusion import FEATURE_MODEL_FILE, FUSION_FILE, Fusion, LinearModel, load_feature_model
from detectors.audio.model import LCNN, WEIGHTS_FILE, load_lcnn
from detectors.audio.segmentation import Window, speech_windows
from detectors.base import Detector, Prepared, ProgressFn, no_progress, register
from detectors.errors import CorruptMediaError, ModelNotReadyError
from detectors.media import AudioClip, MediaRef, load_audio
from detectors.recipes.payloads import AudioPayload
from detectors.schema import (
    AnalysisResult,
    Anomaly,
    ComponentScore,
    SegmentResult,
    inconclusive_fields,
    verdict_fields,
)

WINDOW_S = 4.0
MAX_WINDOWS = 64
MIN_SPEECH_S = 1.0
MIN_SOURCE_RATE = 8_000  # below this there is too little bandwidth (< 4 kHz) to judge speech synthesis
INFER_BATCH = 16


def decode(ref: MediaRef, max_seconds: float) -> AudioClip:
    """The audio of ``ref`` at 16 kHz mono; a file without an audio stream is an error here."""
    clip = load_audio(ref.path, max_seconds)
    if clip is None:
        raise CorruptMediaError("the file has no audio stream")
    return clip


def speech_evidence(analysis: ClipAnalysis) -> list[Anomaly]:
    """Voice changes inside turns, as anomalies with their time."""
    out: list[Anomaly] = []
    if analysis.consistency is None:
        return out
    for ch in analysis.consistency.changes:
        out.append(
            Anomaly(
                type="Voice inconsistency",
                severity="high" if ch.similarity < 0.5 else "medium",
                description=(
                    f"The voice changes at {ch.time:.1f} s inside one turn ({ch.turn.start:.1f}-{ch.turn.end:.1f} s, "
                    f"no pause): speaker similarity {ch.similarity:.2f} across the point, where one voice stays above 0.78."
                ),
                value=round(ch.similarity, 3),
                start=round(ch.time, 2),
                end=round(ch.time, 2),
            )
        )
    return out


@register("audio-default")
class AudioDetector(Detector):
    """LCNN-LFCC anti-spoofing model + features + artifacts + voice consistency, fused and calibrated."""

    modality = "audio"

    def __init__(self, settings: Any = None, model_dir: Path | str | None = None) -> None:
        super().__init__(settings, model_dir)
        self.analyser = ClipAnalyser()
        self.model: LCNN | None = None
        self.feature_model: LinearModel | None = None
        self.fusion: Fusion | None = None
        self.missing: str | None = None

    # -- load ------------------------------------------------------------------------------
    def load(self) -> None:
        import torch

        torch.set_num_threads(self.settings.torch_threads)
        self.analyser.load()
        needed = [WEIGHTS_FILE, FEATURE_MODEL_FILE, FUSION_FILE]
        absent = [n for n in needed if not (self.model_dir / n).exists()]
        self.missing = (
            f"no trained audio model in {self.model_dir} (missing {', '.join(absent)}); run `deepfake-train audio`"
            if absent
            else None
        )
        if WEIGHTS_FILE not in absent:
            self.model = load_lcnn(self.model_dir)
        if FEATURE_MODEL_FILE not in absent:
            self.feature_model = load_feature_model(self.model_dir)
        if FUSION_FILE not in absent:
            self.fusion = Fusion.load(self.model_dir)
        self._loaded = True

    def info(self) -> dict:
        out = super().info()
        out["weights"] = str(self.model_dir) if self.model is not None else None
        out["fitted_on"] = self.fusion.fitted_on if self.fusion else None
        if self.missing:
            out["missing"] = self.missing
        return out

    # -- preprocess ------------------------------------------------------------------------
    def preprocess(self, ref: MediaRef, progress: ProgressFn = no_progress) -> Prepared:
        t = time.perf_counter()
        clip = decode(ref, self.settings.max_audio_seconds)
        decode_s = time.perf_counter() - t
        progress(
            "audio_decode", 1.0, {"duration": round(clip.duration, 3), "sampleRate": clip.source_sample_rate}
        )
        prepared = self.preprocess_clip(clip, ref, progress)
        prepared.timings["decode"] = decode_s
        return prepared

    def preprocess_clip(
        self, clip: AudioClip, ref: MediaRef | None, progress: ProgressFn = no_progress
    ) -> Prepared:
        """Everything but the model for an already decoded clip (also a video's sound track)."""
        if not self._loaded:
            raise ModelNotReadyError("audio detector used before load()")
        analysis = self.analyser.analyse(clip.samples, clip.sample_rate, clip.source_sample_rate)
        progress(
            "audio_features",
            1.0,
            {
                "speechSeconds": round(analysis.speech_seconds, 2),
                "artifactCount": len(analysis.artifacts),
                "inconsistencyCount": analysis.consistency.count if analysis.consistency else 0,
            },
        )
        windows: list[Window] = []
        if analysis.speech_seconds >= MIN_SPEECH_S and clip.source_sample_rate >= MIN_SOURCE_RATE:
            windows = speech_windows(analysis.mask, clip.sample_rate, WINDOW_S, max_windows=MAX_WINDOWS)
        inputs = [np.ascontiguousarray(clip.samples[w.start_sample : w.end_sample]) for w in windows]
        analysis.mask = np.zeros(
            0, dtype=bool
        )  # per-sample mask is not needed downstream; keep payload small
        payload = {
            "duration": clip.duration,
            "sample_rate": clip.sample_rate,
            "source_sample_rate": clip.source_sample_rate,
            "analysis": analysis,
            "windows": windows,
        }
        return Prepared(
            ref=ref,
            model_inputs=inputs if self.model is not None else [],
            payload=payload,
            timings=dict(analysis.timings),
        )

    # -- infer -----------------------------------------------------------------------------
    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        """Raw LCNN logits (fake > 0), one per window; windows of equal length share a batch."""
        import torch

        if self.model is None:
            raise ModelNotReadyError(self.missing or "audio model not loaded")
        out: list[float] = [0.0] * len(inputs)
        by_len: dict[int, list[int]] = {}
        for i, x in enumerate(inputs):
            by_len.setdefault(int(x.size), []).append(i)
        with torch.inference_mode():
            for idx in by_len.values():
                for j in range(0, len(idx), INFER_BATCH):
                    part = idx[j : j + INFER_BATCH]
                    batch = torch.from_numpy(np.stack([inputs[i].astype(np.float32) for i in part]))
                    for i, v in zip(part, self.model(batch).tolist(), strict=True):
                        out[i] = float(v)
        return out

    # -- postprocess -----------------------------------------------------------------------
    def components(self, prepared: Prepared, scores: list[float]) -> dict[str, float]:
        """The fusion's inputs for one clip."""
        analysis: ClipAnalysis = prepared.payload["analysis"]
        assert self.feature_model is not None
        return {
            "lcnn": float(np.mean(scores)),
            "features": self.feature_model.logit(analysis.features),
            "artifacts": float(len(analysis.artifacts)),
            "inconsistency": float(analysis.consistency.count if analysis.consistency else 0),
        }

    def postprocess(self, prepared: Prepared[AudioPayload], scores: list[float]) -> AnalysisResult:
        analysis: ClipAnalysis = prepared.payload["analysis"]
        windows: list[Window] = prepared.payload["windows"]
        sr = prepared.payload["sample_rate"]
        common = {
            "media_type": "audio",
            "model_used": self.model_name(),
            "duration": round(float(prepared.payload["duration"]), 3),
            "sample_rate": int(prepared.payload["source_sample_rate"]),
            "inconsistency_count": analysis.consistency.count if analysis.consistency else 0,
            "artifact_count": len(analysis.artifacts),
            "source": prepared.ref.source if prepared.ref else None,
        }
        anomalies = list(analysis.artifacts) + speech_evidence(analysis)
        if common["sample_rate"] < MIN_SOURCE_RATE:
            reason = f"sample rate {common['sample_rate']} Hz is below {MIN_SOURCE_RATE} Hz: too little bandwidth to judge"
            return AnalysisResult(**inconclusive_fields(reason), anomalies=anomalies, segments=[], **common)
        if analysis.speech_seconds < MIN_SPEECH_S:
            reason = (
                "no speech detected"
                if analysis.speech_seconds == 0
                else f"only {analysis.speech_seconds:.2f} s of speech (need {MIN_SPEECH_S:.0f} s)"
            )
            return AnalysisResult(**inconclusive_fields(reason), anomalies=anomalies, segments=[], **common)
        if self.model is None or self.fusion is None or len(scores) != len(windows) or not scores:
            reason = self.missing or "the audio model produced no scores"
            comps = [ComponentScore(name="lcnn-lfcc", used=False, reason=reason)]
            return AnalysisResult(
                **inconclusive_fields(reason), anomalies=anomalies, components=comps, segments=[], **common
            )

        values = self.components(prepared, scores)
        p = self.fusion.probability(values)
        weights = self.fusion.weights()
        left_out = self.fusion.left_out

        def used(name: str) -> bool:
            return name not in left_out

        def why(name: str, text: str) -> str:
            return f"left out of the verdict: {left_out[name]}; {text}" if name in left_out else text

        comps = [
            ComponentScore(
                name="lcnn-lfcc",
                used=used("lcnn"),
                fake_probability=round(self.fusion.window_probability(values["lcnn"]), 4),
                weight=round(weights["lcnn"], 4),
                reason=why("lcnn", f"mean logit {values['lcnn']:+.3f} over {len(scores)} window(s)"),
            ),
            ComponentScore(
                name="spectral-features",
                used=used("features"),
                fake_probability=round(float(1 / (1 + np.exp(-np.clip(values["features"], -60, 60)))), 4),
                weight=round(weights["features"], 4),
                reason=why(
                    "features",
                    "logistic model over MFCC/LFCC/spectral/phase/pitch statistics (calibrated only through the fusion)",
                ),
            ),
            ComponentScore(
                name="synthesis-artifacts",
                used=used("artifacts"),
                weight=round(weights["artifacts"], 4),
                reason=why("artifacts", f"{len(analysis.artifacts)} artifact(s)"),
            ),
            ComponentScore(
                name="voice-consistency",
                used=used("inconsistency"),
                weight=round(weights["inconsistency"], 4),
                reason=why("inconsistency", f"{values['inconsistency']:.0f} voice change(s) inside turns"),
            ),
        ]
        segments = []
        for w, s in zip(windows, scores, strict=True):
            pw = self.fusion.window_probability(s)
            v = verdict_fields(pw, self.fusion.window_threshold)
            span = w.span(sr)
            segments.append(
                SegmentResult(
                    start=round(span.start, 2),
                    end=round(span.end, 2),
                    fake_probability=v["fake_probability"],
                    is_deepfake=v["is_deepfake"],
                    confidence=v["confidence"],
                )
            )
            if v["is_deepfake"]:
                anomalies.append(
                    Anomaly(
                        type="Synthetic speech segment",
                        severity="high" if pw >= 0.9 else "medium",
                        description=f"The anti-spoofing model scores {span.start:.1f}-{span.end:.1f} s as synthetic (p = {pw:.2f}).",
                        value=round(pw, 4),
                        start=round(span.start, 2),
                        end=round(span.end, 2),
                    )
                )
        return AnalysisResult(
            **verdict_fields(p, self.fusion.threshold),
            anomalies=anomalies,
            components=comps,
            segments=segments,
            **common,
        )

    def model_name(self) -> str:
        if self.model is None:
            return "audio-default (untrained)"
        return (
            "LCNN-LFCC anti-spoofing + spectral features + artifacts + GE2E voice consistency (audio-default)"
        )
