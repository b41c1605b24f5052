"""``audio-hf``: any transformers ``AutoModelForAudioClassification`` checkpoint (Wav2Vec2 as in
the usage guide, HuBERT, AST ...) from a local folder or a model id in ``AUDIO_MODEL``.

Which output means "fake" comes from the checkpoint's ``id2label``. Scores are calibrated with a
``calibration.json`` beside the checkpoint (``detectors.calibration.Calibration``: Platt a, b and
the threshold, measured on data the model did not train on); without it the result says plainly
that the probability is uncalibrated. Speech segmentation, artifacts and voice consistency are
the same as in ``audio-default`` and are reported as evidence, outside this model's verdict.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from detectors.audio.analysis import ClipAnalyser, ClipAnalysis
from detectors.audio.detector import MIN_SOURCE_RATE, MIN_SPEECH_S, WINDOW_S, decode, speech_evidence
from detectors.audio.segmentation import Window, speech_windows
from detectors.base import Detector, Prepared, ProgressFn, no_progress, register
from detectors.calibration import Calibration
from detectors.errors import ModelNotReadyError
from detectors.media import AudioClip, MediaRef
from detectors.schema import (
    AnalysisResult,
    ComponentScore,
    SegmentResult,
    inconclusive_fields,
    verdict_fields,
)

CALIBRATION_FILE = "calibration.json"
MAX_WINDOWS = 32
INFER_BATCH = 8
FAKE_WORDS = re.compile(r"fake|spoof|synth|generated|clone|vocoded", re.I)
REAL_WORDS = re.compile(r"real|bona|genuine|human|natural|authentic", re.I)


def fake_label_indices(id2label: dict[int, str]) -> list[int]:
    """Indices of the labels that mean fake; raises when the labels do not say."""
    labels = {int(k): str(v) for k, v in id2label.items()}
    if len(labels) == 1:
        ((i, name),) = labels.items()
        if REAL_WORDS.search(name) and not FAKE_WORDS.search(name):
            return []  # a single "real" logit: fake = its negation
        return [i]
    fake = [i for i, n in labels.items() if FAKE_WORDS.search(n) and not REAL_WORDS.search(n)]
    real = [i for i, n in labels.items() if REAL_WORDS.search(n) and not FAKE_WORDS.search(n)]
    if not fake and real:  # everything that is not "real" is a kind of fake
        fake = [i for i in labels if i not in real]
    if not fake or len(fake) == len(labels):
        raise ModelNotReadyError(
            f"cannot tell which label means fake from id2label={labels}; name them (e.g. 'bonafide'/'spoof') in config.json"
        )
    return sorted(fake)


@register("audio-hf")
class HFAudioDetector(Detector):
    """A transformers audio classifier scoring 4 s windows of speech; mean log-odds per clip."""

    modality = "audio"

    def __init__(self, settings: Any = None, model_dir: Path | str | None = None) -> None:
        super().__init__(settings, model_dir)
        self.source = str(model_dir) if model_dir else self.settings.audio_model
        self.analyser = ClipAnalyser()
        self.model = None
        self.extractor = None
        self.fake_idx: list[int] = []
        self.calibration: Calibration | None = None

    def load(self) -> None:
        import torch
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        if not self.source:
            raise ModelNotReadyError("audio-hf needs AUDIO_MODEL (a checkpoint folder or a model id)")
        torch.set_num_threads(self.settings.torch_threads)
        try:
            self.extractor = AutoFeatureExtractor.from_pretrained(self.source)
            self.model = AutoModelForAudioClassification.from_pretrained(self.source)
        except OSError as exc:
            raise ModelNotReadyError(f"cannot load audio model '{self.source}': {exc}") from exc
        self.model.eval()
        self.fake_idx = fake_label_indices(self.model.config.id2label)
        cal = Path(self.source) / CALIBRATION_FILE
        self.calibration = Calibration.load(cal) if cal.is_file() else None
        self.analyser.load()
        self._loaded = True

    def info(self) -> dict:
        out = super().info()
        out.update(model=self.source, calibrated=self.calibration is not None)
        return out

    def preprocess(self, ref: MediaRef, progress: ProgressFn = no_progress) -> Prepared:
        clip = decode(ref, self.settings.max_audio_seconds)
        progress(
            "audio_decode", 1.0, {"duration": round(clip.duration, 3), "sampleRate": clip.source_sample_rate}
        )
        return self.preprocess_clip(clip, ref, progress)

    def preprocess_clip(
        self, clip: AudioClip, ref: MediaRef | None, progress: ProgressFn = no_progress
    ) -> Prepared:
        if not self._loaded:
            raise ModelNotReadyError("audio-hf used before load()")
        analysis = self.analyser.analyse(clip.samples, clip.sample_rate, clip.source_sample_rate)
        progress("audio_features", 1.0, {"speechSeconds": round(analysis.speech_seconds, 2)})
        windows: list[Window] = []
        if analysis.speech_seconds >= MIN_SPEECH_S and clip.source_sample_rate >= MIN_SOURCE_RATE:
            windows = speech_windows(analysis.mask, clip.sample_rate, WINDOW_S, max_windows=MAX_WINDOWS)
        inputs = [np.ascontiguousarray(clip.samples[w.start_sample : w.end_sample]) for w in windows]
        analysis.mask = np.zeros(0, dtype=bool)
        payload = {
            "duration": clip.duration,
            "sample_rate": clip.sample_rate,
            "source_sample_rate": clip.source_sample_rate,
            "analysis": analysis,
            "windows": windows,
        }
        return Prepared(ref=ref, model_inputs=inputs, payload=payload, timings=dict(analysis.timings))

    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        """Log-odds of fake per window: logsumexp(fake logits) - logsumexp(other logits)."""
        import torch

        if self.model is None or self.extractor is None:
            raise ModelNotReadyError("audio-hf not loaded")
        out: list[float] = []
        with torch.inference_mode():
            for i in range(0, len(inputs), INFER_BATCH):
                part = [x.astype(np.float32) for x in inputs[i : i + INFER_BATCH]]
                feats = self.extractor(part, sampling_rate=16_000, return_tensors="pt", padding=True)
                logits = self.model(**feats).logits.float()
                if logits.shape[-1] == 1:
                    z = logits[:, 0] if self.fake_idx else -logits[:, 0]
                else:
                    mask = torch.zeros(logits.shape[-1], dtype=torch.bool)
                    mask[self.fake_idx] = True
                    z = torch.logsumexp(logits[:, mask], -1) - torch.logsumexp(logits[:, ~mask], -1)
                out.extend(float(v) for v in z)
        return out

    def _probability(self, logit: float) -> float:
        if self.calibration is not None:
            return float(self.calibration.probability(logit))
        return float(1.0 / (1.0 + np.exp(-np.clip(logit, -60, 60))))

    def postprocess(self, prepared: Prepared, scores: list[float], **extra: Any) -> AnalysisResult:
        analysis: ClipAnalysis = prepared.payload["analysis"]
        windows: list[Window] = prepared.payload["windows"]
        calibrated = self.calibration is not None
        threshold = self.calibration.threshold if calibrated else 0.5
        common = {
            "media_type": "audio",
            "model_used": f"{type(self.model).__name__} ({self.source})"
            + ("" if calibrated else " [uncalibrated]"),
            "duration": round(float(prepared.payload["duration"]), 3),
            "sample_rate": int(prepared.payload["source_sample_rate"]),
            "inconsistency_count": analysis.consistency.count if analysis.consistency else 0,
            "artifact_count": len(analysis.artifacts),
            "source": prepared.ref.source if prepared.ref else None,
        }
        anomalies = list(analysis.artifacts) + speech_evidence(analysis)
        evidence = [
            ComponentScore(
                name="synthesis-artifacts",
                used=False,
                reason="evidence only: not part of this model's calibration",
            ),
            ComponentScore(
                name="voice-consistency",
                used=False,
                reason="evidence only: not part of this model's calibration",
            ),
        ]
        if analysis.speech_seconds < MIN_SPEECH_S or not scores:
            reason = (
                f"sample rate {common['sample_rate']} Hz is below {MIN_SOURCE_RATE} Hz: too little bandwidth to judge"
                if common["sample_rate"] < MIN_SOURCE_RATE
                else "no speech detected"
                if analysis.speech_seconds == 0
                else f"only {analysis.speech_seconds:.2f} s of speech"
            )
            return AnalysisResult(
                **inconclusive_fields(reason), anomalies=anomalies, components=evidence, segments=[], **common
            )
        p = self._probability(float(np.mean(scores)))
        note = (
            None
            if calibrated
            else f"uncalibrated: no {CALIBRATION_FILE} beside the checkpoint; p = sigmoid(log-odds), threshold 0.5"
        )
        model_comp = ComponentScore(
            name="hf-audio-classifier", used=True, fake_probability=round(p, 4), weight=1.0, reason=note
        )
        segments = []
        for w, s in zip(windows, scores, strict=True):
            v = verdict_fields(self._probability(s), threshold)
            span = w.span(prepared.payload["sample_rate"])
            segments.append(
                SegmentResult(
                    start=round(span.start, 2),
                    end=round(span.end, 2),
                    fake_probability=v["fake_probability"],
                    is_deepfake=v["is_deepfake"],
                    confidence=v["confidence"],
                )
            )
        fields = verdict_fields(p, threshold)
        if not calibrated:
            fields["verdict_reason"] = note
        return AnalysisResult(
            **fields, anomalies=anomalies, components=[model_comp, *evidence], segments=segments, **common
        )
