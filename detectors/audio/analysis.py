"""The model-free half of the audio analysis of one clip: speech, features, artifacts, voice.

Shared by the detector's ``preprocess_clip`` and by training (which needs the very same numbers
for the feature model and the fusion).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from detectors.audio.artifacts import ArtifactMeasures, ArtifactRules, find_artifacts, measure
from detectors.audio.consistency import ConsistencyReport, VoiceConsistency
from detectors.audio.features import Spectra, clip_features, compute_spectra
from detectors.audio.segmentation import Span, VoiceActivity, speech_mask
from detectors.schema import Anomaly


@dataclass
class ClipAnalysis:
    spans: list[Span]
    mask: np.ndarray
    speech_seconds: float
    features: dict[str, float]
    measures: ArtifactMeasures | None
    artifacts: list[Anomaly]
    consistency: ConsistencyReport | None
    timings: dict[str, float] = field(default_factory=dict)


class ClipAnalyser:
    """Holds the VAD and the speaker encoder; ``analyse`` runs every model-free stage."""

    def __init__(
        self, rules: ArtifactRules | None = None, consistency_threshold: float | None = None
    ) -> None:
        self.vad = VoiceActivity()
        self.voices = (
            VoiceConsistency() if consistency_threshold is None else VoiceConsistency(consistency_threshold)
        )
        self.rules = rules or ArtifactRules()

    def load(self) -> None:
        self.vad.load()
        self.voices.load()
        # Warm librosa's lazily imported modules so the first request does not pay for them.
        compute_spectra(np.zeros(1600, np.float32), 16_000, None)

    def speech(self, samples: np.ndarray, sample_rate: int) -> tuple[list[Span], np.ndarray]:
        spans = self.vad.speech(samples, sample_rate)
        return spans, speech_mask(spans, samples.size, sample_rate)

    def analyse(
        self,
        samples: np.ndarray,
        sample_rate: int,
        source_sample_rate: int,
        spans: list[Span] | None = None,
        with_consistency: bool = True,
    ) -> ClipAnalysis:
        timings: dict[str, float] = {}
        t = time.perf_counter()
        if spans is None:
            spans, mask = self.speech(samples, sample_rate)
        else:
            mask = speech_mask(spans, samples.size, sample_rate)
        timings["vad"] = time.perf_counter() - t
        speech_s = float(mask.sum()) / sample_rate
        t = time.perf_counter()
        sp: Spectra = compute_spectra(samples, sample_rate, mask)
        feats = clip_features(samples, sp)
        timings["features"] = time.perf_counter() - t
        t = time.perf_counter()
        jitter = feats.get("jitter") if feats.get("voiced_fraction", 0.0) > 0.05 else None
        m = measure(sp, source_sample_rate, jitter, feats["phase_irregularity"])
        arts = find_artifacts(m, self.rules)
        timings["artifacts"] = time.perf_counter() - t
        report = None
        if with_consistency:
            t = time.perf_counter()
            report = self.voices.analyse(samples, spans, sample_rate)
            timings["consistency"] = time.perf_counter() - t
        return ClipAnalysis(spans, mask, speech_s, feats, m, arts, report, timings)
