"""Small stand-in detectors for fast tests of the serving layer (NOT the project's detectors).

They follow the real contract (decode with the real media code, batched ``infer``, calibrated
``postprocess``) with a trivial score, so the graph, API and progress can be tested in seconds.
Registered as ``image-standin``, ``audio-standin``, ``video-standin`` via DETECTOR_PLUGINS.
"""

from __future__ import annotations

import numpy as np

from detectors.base import Detector, Prepared, ProgressFn, no_progress, register
from detectors.calibration import Calibration
from detectors.errors import CorruptMediaError
from detectors.media import MediaRef, load_audio, load_image
from detectors.schema import AnalysisResult, FrameResult, SegmentResult, inconclusive_fields, verdict_fields

CAL = Calibration(a=8.0, b=-4.0, threshold=0.5)


def _score(x: np.ndarray) -> float:
    return float(np.asarray(x, dtype=np.float32).mean() / 255.0) if x.dtype == np.uint8 else float(np.abs(x).mean())


@register("image-standin")
class StandinImage(Detector):
    modality = "image"

    def load(self) -> None:
        self._loaded = True

    def preprocess(self, ref: MediaRef, progress: ProgressFn = no_progress) -> Prepared:
        img = load_image(ref.path, self.settings.max_image_pixels)
        progress("image_decode", 1.0, {"width": img.shape[1], "height": img.shape[0]})
        return Prepared(ref, [img[::8, ::8].copy()], {"width": img.shape[1], "height": img.shape[0]})

    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        return [_score(x) for x in inputs]

    def postprocess(self, prepared: Prepared, scores: list[float], **extra) -> AnalysisResult:
        p = CAL.probability(scores[0])
        return AnalysisResult(media_type="image", model_used="standin-image", width=prepared.payload["width"],
                              height=prepared.payload["height"], **verdict_fields(p, CAL.threshold))


@register("audio-standin")
class StandinAudio(Detector):
    modality = "audio"

    def load(self) -> None:
        self._loaded = True

    def preprocess(self, ref: MediaRef, progress: ProgressFn = no_progress) -> Prepared:
        clip = load_audio(ref.path, self.settings.max_audio_seconds)
        return self.preprocess_clip(clip, ref, progress)

    def preprocess_clip(self, clip, ref, progress: ProgressFn = no_progress) -> Prepared:
        win = clip.sample_rate
        windows = [clip.samples[i : i + win] for i in range(0, max(1, clip.samples.size - win + 1), win)]
        progress("audio_decode", 1.0, {"duration": clip.duration})
        return Prepared(ref, windows, {"duration": clip.duration, "rate": clip.source_sample_rate})

    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        return [_score(x) * 4 for x in inputs]

    def postprocess(self, prepared: Prepared, scores: list[float], **extra) -> AnalysisResult:
        d = prepared.payload["duration"]
        common = dict(media_type="audio", model_used="standin-audio", duration=round(d, 3),
                      sample_rate=prepared.payload["rate"], inconsistency_count=0, artifact_count=0)
        if d < 0.5:
            return AnalysisResult(**common, **inconclusive_fields("less than 0.5 s of audio"))
        segs = [SegmentResult(start=i, end=i + 1, fake_probability=CAL.probability(s), is_deepfake=False,
                              confidence=50.0) for i, s in enumerate(scores)]
        return AnalysisResult(**common, segments=segs, **verdict_fields(CAL.probability(np.mean(scores)), 0.5))


@register("video-standin")
class StandinVideo(Detector):
    modality = "video"

    def load(self) -> None:
        self._loaded = True

    def preprocess(self, ref: MediaRef, progress: ProgressFn = no_progress) -> Prepared:
        import av

        frames, times = [], []
        try:
            with av.open(ref.path) as c:
                stream = c.streams.video[0]
                fps = float(stream.average_rate or 25)
                for i, frame in enumerate(c.decode(stream)):
                    if i % 5 == 0:
                        frames.append(frame.to_ndarray(format="rgb24")[::4, ::4].copy())
                        times.append(float(frame.time or 0.0))
                        progress("video_frames", min(1.0, len(frames) / 10), {"frames": len(frames)})
                    if len(frames) >= 10:
                        break
        except (av.error.FFmpegError, IndexError, ValueError) as exc:
            raise CorruptMediaError(f"cannot decode video: {exc}") from exc
        if not frames:
            raise CorruptMediaError("the video decoded to no frames")
        audio = load_audio(ref.path, self.settings.max_video_seconds)
        return Prepared(ref, frames, {"times": times, "fps": fps, "summary": {"frames": len(frames)}}, audio=audio)

    def temporal(self, prepared: Prepared) -> dict:
        return {"frames": len(prepared.payload["times"])}

    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        return [_score(x) for x in inputs]

    def postprocess(self, prepared: Prepared, scores: list[float], audio_result=None, **extra) -> AnalysisResult:
        times = prepared.payload["times"]
        probs = [CAL.probability(s) for s in scores]
        frames = [FrameResult(frame=i * 5, timestamp=t, confidence=50.0, is_deepfake=p >= 0.5, fake_probability=p)
                  for i, (t, p) in enumerate(zip(times, probs, strict=False))]
        return AnalysisResult(
            media_type="video", model_used="standin-video", frame_analysis=frames, analyzed_frames=len(frames),
            total_frames=len(frames) * 5, fps=prepared.payload["fps"],
            deepfake_frame_ratio=float(np.mean([p >= 0.5 for p in probs])) if probs else 0.0,
            audio_track=audio_result, **verdict_fields(float(np.mean(probs)) if probs else 0.0, 0.5),
        )
