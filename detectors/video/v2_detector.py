"""``video-v2``: the image v2 backbone along face tracks and over frames, Whisper layers of the
sound, lip-sync and robust temporal cues, fused per stream and calibrated (``v2_fusion.json``).

Same contract and result fields as ``video-default`` (``frameAnalysis``, ``faceTracks``,
``audioTrack``, timestamps), so the video recipe runs it unchanged:

preprocess   the whole per-clip analysis (``v2_features.ClipAnalyser``): sampling, faces, tracks,
             CLIP embeddings and Whisper layers through the named models 'clip' and 'whisper' (in
             the Serve graph those calls go to the model deployments: ``load_part("host", models)``);
             no crops for the 'image' model; the sound track goes on for the audio verdict.
temporal     the temporal features computed in preprocess.
postprocess  fusion -> verdict; per-frame and per-track probabilities from the face stream's own
             probe and calibration; components say which streams were present.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from detectors.base import Part, Prepared, ProgressFn, no_progress, register
from detectors.media import MediaRef
from detectors.recipes.models import WhisperLayersOf
from detectors.recipes.payloads import VideoPayload
from detectors.schema import (
    AnalysisResult,
    Anomaly,
    ComponentScore,
    FaceResult,
    FrameResult,
    inconclusive_fields,
    operating_points_info,
    verdict_fields,
)
from detectors.video.detector import VideoDetector
from detectors.video.pooling import pool_sequence, pooled_vector, track_members
from detectors.video.temporal import temporal_analysis
from detectors.video.v2_features import WHISPER_STATES, ClipAnalyser, clip_vector
from detectors.video.v2_fusion import FUSION_FILE, FusionV2, StreamModel

if TYPE_CHECKING:
    from detectors.recipes.models import ModelClient

STREAM_NAMES = {
    "face": "face-tracks", "frame": "frames", "temporal": "temporal", "lipsync": "lip-sync", "audio": "audio-track",
}


@register("video-v2")
class VideoV2Detector(VideoDetector):
    """Frozen CLIP along face tracks + frames, Whisper layers, lip sync, temporal cues; fused."""

    modality = "video"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fusion_v2: FusionV2 | None = None
        self.analyser: ClipAnalyser | None = None

    def load(self) -> None:
        """The fusion and, when there is one, the backbones (CLIP, Whisper, faces). Without
        ``v2_fusion.json`` nothing heavy is loaded and every verdict is inconclusive (and says why)."""
        self.load_part("all")

    def load_part(self, part: Part, models: ModelClient | None = None) -> None:
        """With ``models``, CLIP and Whisper calls go there (another deployment, or the backbones
        shared with the image and audio detectors) and only faces and the fusion load here."""
        if self._loaded:
            return
        path = self.model_dir / FUSION_FILE
        self.fusion_v2 = FusionV2.load(path) if path.exists() else None
        if self.fusion_v2 is not None and self.analyser is None:
            whisper = None if models is None else WhisperLayersOf(models, WHISPER_STATES)  # only the layers it reads
            self.analyser = ClipAnalyser(settings=self.settings, with_corners=False, clip=models, whisper=whisper)
        if self.analyser is not None:
            self.analyser.load()
        else:
            self.faces.load()
        self._loaded = True

    @property
    def model_used(self) -> str:
        if self.fusion_v2 is None:
            return "video-v2 untrained"
        fused = [STREAM_NAMES.get(n, n) for n, w in self.fusion_v2.weights.items() if w > 0]
        version = self.fusion_v2.info.get("version", "")
        return f"video-v2 {version}: CLIP B/16 streams fused ({', '.join(fused)}), calibrated"

    def info(self) -> dict:
        out = {"name": "video-v2", "modality": "video", "loaded": self._loaded, "model_dir": str(self.model_dir)}
        f = self.fusion_v2
        out["fusion"] = None if f is None else {
            "version": f.info.get("version"), "streams": list(f.streams), "weights": f.weights,
            "operating_points": operating_points_info(f.operating_points),
        }
        return out

    def preprocess(self, ref: MediaRef, progress: ProgressFn = no_progress) -> Prepared[VideoPayload]:
        """The per-clip analysis; its vectors and per-crop features travel in the payload."""
        if not self._loaded:
            self.load()
        if self.analyser is None:  # untrained: the v1 intake only, for an inconclusive result with the clip's facts
            return super().preprocess(ref, progress)
        progress("video_frames", 0.0, {})
        a = self.analyser.analyse(ref.path)
        payload: VideoPayload = a.payload  # the v1 intake's payload (ClipAnalyser runs it)
        payload["temporal"] = a.temporal
        payload["v2"] = {
            "vector": clip_vector(a),
            "face_pen": a.face["pen"],
            "crop_track": a.crop_track,
            "crop_time": a.crop_time,
            "frame_pen": a.centre["pen"],
        }
        payload["crops"] = 0
        progress("video_frames", 1.0, {"analyzed": len(payload["samples"]), "total": len(payload["samples"])})
        return Prepared(ref, [], payload, audio=a.audio_clip, timings={k: round(v, 4) for k, v in a.timings.items()})

    def temporal(self, prepared: Prepared[VideoPayload]) -> dict:
        return prepared.payload.get("temporal") or temporal_analysis(prepared.payload)

    def postprocess(self, prepared: Prepared[VideoPayload], scores: list[float],
                    audio_result: AnalysisResult | None = None) -> AnalysisResult:
        payload = prepared.payload
        video = payload["video"]
        records = payload["samples"]
        common = {
            "media_type": "video", "model_used": self.model_used, "total_frames": video["totalFrames"],
            "analyzed_frames": len(records), "fps": round(float(video["fps"]), 3), "width": video["width"],
            "height": video["height"], "duration": video["duration"], "audio_track": audio_result,
        }
        if not records:
            return AnalysisResult(**inconclusive_fields("no frame could be decoded"), **common,
                                  frame_analysis=[], face_tracks=[], deepfake_frame_ratio=0.0)
        if self.fusion_v2 is None or "v2" not in payload:
            return AnalysisResult(
                **inconclusive_fields(f"the video-v2 fusion is not trained (no {FUSION_FILE} in {self.model_dir}); "
                                      "train it with `deepfake-train video --recipe v2`"), **common)
        fusion = self.fusion_v2
        v2 = payload["v2"]
        vector = v2["vector"]
        p = float(fusion.probabilities([vector])[0])
        frames, tracks = frames_and_tracks(fusion, payload)
        faced = [f for f in frames if f.faces > 0]
        ratio = float(np.mean([f.is_deepfake for f in faced])) if faced else 0.0
        result = AnalysisResult(**verdict_fields(p, fusion.operating_points), **common, frame_analysis=frames,
                                face_tracks=tracks, deepfake_frame_ratio=round(ratio, 4))
        result.components = components(fusion, vector)
        result.anomalies = track_anomalies(fusion, tracks, payload)
        missing = [STREAM_NAMES.get(c.name, c.name) for c in result.components
                   if c.fake_probability is None and fusion.weights.get(c.name, 0.0) > 0]
        if missing:
            note = "not measured in this clip: " + ", ".join(missing)
            result.verdict_reason = f"{result.verdict_reason}; {note}" if result.verdict_reason else note
        return result


def _stream_p(m: StreamModel, x: np.ndarray) -> np.ndarray:
    s = m.probe.score(x)
    return np.asarray(m.calibration.probability(s) if m.calibration else 1 / (1 + np.exp(-s)), np.float64).reshape(-1)


def crop_vectors(face_pen: np.ndarray) -> np.ndarray:
    """Each crop as a one-sample track (mean = max = the crop; no spread or flicker: NaN)."""
    return np.vstack([pooled_vector(pool_sequence(x[None])) for x in face_pen]) if len(face_pen) else np.zeros((0, 1))


def frames_and_tracks(fusion: FusionV2, payload: dict) -> tuple[list[FrameResult], list[FaceResult]]:
    """Per sampled frame: the most suspicious face crop's probability (the frame stream's where no
    face was found); per track: the face probe on the track's pooled features."""
    v2 = payload["v2"]
    face_m = fusion.streams.get("face")
    frame_m = fusion.streams.get("frame")
    face_pen = np.asarray(v2["face_pen"], np.float64)
    crop_p = _stream_p(face_m, crop_vectors(face_pen)) if face_m is not None and len(face_pen) else np.zeros(0)
    frame_pen = np.asarray(v2["frame_pen"], np.float64)
    frame_p = np.zeros(0)
    if frame_m is not None and len(frame_pen):
        singles = np.vstack([pooled_vector(pool_sequence(x[None]), ("mean", "std", "flicker")) for x in frame_pen])
        frame_p = _stream_p(frame_m, singles)
    face_thr = face_m.calibration.threshold if face_m is not None and face_m.calibration else 0.5
    frame_thr = frame_m.calibration.threshold if frame_m is not None and frame_m.calibration else 0.5
    frames: list[FrameResult] = []
    k = 0
    for i, rec in enumerate(payload["samples"]):
        n = len(rec["faces"])
        if n and crop_p.size:
            pf, thr = float(crop_p[k : k + n].max()), face_thr
        elif frame_p.size > i:
            pf, thr = float(frame_p[i]), frame_thr
        else:
            k += n
            continue
        k += n
        frames.append(FrameResult(frame=rec["frame"], timestamp=rec["time"], faces=n, **_frame_fields(pf, thr)))
    tracks: list[FaceResult] = []
    boxes: dict[int, list] = {}
    for rec in payload["samples"]:
        for face in rec["faces"]:
            boxes.setdefault(int(face["track"]), []).append(face["sourceBox"])
    for tid, idx in track_members(v2["crop_track"], v2["crop_time"]).items():
        if face_m is None:
            break
        pt = float(_stream_p(face_m, pooled_vector(pool_sequence(face_pen[idx]))[None])[0])
        box = tuple(int(v) for v in np.median(np.asarray(boxes[tid]), axis=0).round())
        tracks.append(FaceResult(box=box, fake_probability=round(pt, 4), is_deepfake=pt >= face_thr, track_id=tid,
                                 frames=len(idx)))
    return frames, tracks


def _frame_fields(p: float, threshold: float) -> dict:
    fields = verdict_fields(p, threshold)
    return {k: fields[k] for k in ("is_deepfake", "fake_probability", "confidence")}


def components(fusion: FusionV2, vector: dict) -> list[ComponentScore]:
    """Each stream: present or not, its own calibrated probability and its share of the fused logit."""
    contrib = fusion.contributions(vector)
    total = sum(abs(v) for v in contrib.values() if v is not None) or 1.0
    out = []
    for name, m in fusion.streams.items():
        X = m.matrix([vector])
        present = contrib[name] is not None
        fused = present and fusion.weights.get(name, 0.0) > 0
        p = float(_stream_p(m, X)[0]) if present else None
        if not present:
            reason = "absent in this clip (counts as neutral in the fusion)"
        elif not fused:
            reason = "measured, not in the fused score (fusion weight 0 by the training procedure)"
        else:
            reason = f"fusion weight {fusion.weights.get(name, 0.0):.3f}"
        out.append(ComponentScore(
            name=name, used=fused, fake_probability=None if p is None else round(p, 4),
            weight=round(abs(contrib[name]) / total, 4) if fused else None, reason=reason,
        ))
    return out


def track_anomalies(fusion: FusionV2, tracks: list[FaceResult], payload: dict) -> list[Anomaly]:
    face_m = fusion.streams.get("face")
    thr = face_m.calibration.threshold if face_m is not None and face_m.calibration else 0.5
    v2 = payload["v2"]
    members = track_members(v2["crop_track"], v2["crop_time"])
    out = []
    for tr in tracks:
        if not tr.is_deepfake or tr.track_id not in members:
            continue
        ts = np.asarray(v2["crop_time"])[members[tr.track_id]]
        out.append(Anomaly(
            type="Facial inconsistency", severity="high" if tr.fake_probability >= 0.9 else "medium",
            description=f"face track {tr.track_id} ({tr.frames} sampled frame(s)) looks generated to the face stream: "
            f"probability {tr.fake_probability:.2f} (threshold {thr:.2f})",
            value=tr.fake_probability, start=round(float(ts.min()), 3), end=round(float(ts.max()), 3),
        ))
    return out
