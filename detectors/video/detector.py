"""``video-default``: sampled snippets over the whole clip, face tracks scored by the image model,
temporal and lip-sync cues, the sound track's verdict, and a calibrated fusion of all of them.

The steps run in the video recipe (``detectors.recipes.base.VideoRecipe``), in one process or in
the Serve graph's ``Analysis`` deployment alike:

preprocess  index the clip, sample up to ``settings.max_video_frames`` snippets (spread in time +
            scene cuts), detect faces, aligned crops for the 'image' model, small context crops and
            landmarks for the temporal step, a lip window, the sound track.
temporal    flow, differencing, landmark jitter, boundary flicker, lip sync, from the payload only.
infer       none: a video detector has no model of its own (the recipe sends the crops to 'image').
postprocess fusion -> verdict, per-frame and per-track results, anomalies.
"""

from __future__ import annotations

import math
import time
from typing import Any

import cv2
import numpy as np

from detectors.base import Detector, Prepared, ProgressFn, no_progress, register
from detectors.errors import CorruptMediaError
from detectors.faces import IMAGE_INPUT_SIZE, FaceDetector, align_crop
from detectors.media import AudioClip, MediaRef, load_audio
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
from detectors.video.frames import (
    SNIPPET_LENGTH,
    DecodedFrame,
    SnippetReader,
    VideoIndex,
    plan_samples,
    probe_video,
)
from detectors.video.fusion import FACE_FEATURES, FEATURE_TEXT, FUSION_FILE, FusionModel, range_severity
from detectors.video.lipsync import (
    LIP_WINDOW_MAX_FRAMES,
    LIP_WINDOW_SECONDS,
    audio_energy_at,
    mouth_activity,
    mouth_patch,
)
from detectors.video.temporal import temporal_analysis
from detectors.video.tracks import (
    MAX_CONTEXT_FACES,
    MAX_FACES,
    FaceFollower,
    context_crop,
    context_window,
    link_tracks,
    snippet_landmarks,
)

DETECT_MAX_SIDE = 480  # Haar runs on a copy this large (about 50-100 ms per frame on one core)
ANALYSIS_MAX_SIDE = 1280  # frames are decoded at most this large (4K clips would waste memory)
LIP_MAX_SIDE = 640  # lip-window frames: enough for the mouth, a quarter of the pixels of 720p
DECODE_THREADS = 2


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _source_box(box: list[int] | tuple[int, ...], scale: float) -> tuple[int, int, int, int]:
    """A box found on the analysis copy, in source (display) pixels."""
    x, y, w, h = (float(v) / scale for v in box)
    return (int(round(x)), int(round(y)), int(round(w)), int(round(h)))


@register("video-default")
class VideoDetector(Detector):
    """Face tracks + temporal cues + sound track, fused and calibrated on validation sources."""

    modality = "video"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.faces = FaceDetector(max_side=DETECT_MAX_SIDE)
        self.fusion: FusionModel | None = None

    # ------------------------------------------------------------------ load
    def load(self) -> None:
        """Face models and the fusion weights; without ``fusion.json`` verdicts are inconclusive."""
        if self._loaded:
            return
        self.faces.load()
        path = self.model_dir / FUSION_FILE
        self.fusion = FusionModel.load(path) if path.exists() else None
        self._loaded = True

    @property
    def model_used(self) -> str:
        image = self.fusion.info.get("image_detector", "image model") if self.fusion else "image model"
        version = self.fusion.info.get("version", "") if self.fusion else "untrained"
        return f"video-default {version}: {image} on face tracks + temporal cues + audio, calibrated fusion"

    def info(self) -> dict:
        out = super().info()
        out["fusion"] = None if self.fusion is None else {
            "version": self.fusion.info.get("version"),
            "threshold": self.fusion.calibration.threshold,
            "operating_points": operating_points_info(self.fusion.verdict_points),
            "features": self.fusion.features,
        }
        return out

    # ------------------------------------------------------------ preprocess
    def preprocess(self, ref: MediaRef, progress: ProgressFn = no_progress) -> Prepared[VideoPayload]:
        """Sample snippets over the whole clip, find faces, build crops and temporal inputs."""
        if not self.faces.loaded:
            self.faces.load()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        n_max = self.settings.max_video_frames
        index = probe_video(ref.path, self.settings.max_video_seconds, n_max, self.settings.max_image_pixels)
        samples = plan_samples(index, n_max)
        timings["probe"] = round(time.perf_counter() - t0, 4)
        progress("video_frames", 0.0, {"planned": len(samples), "totalFrames": index.total_frames,
                                       "duration": round(index.duration, 3), "sceneCuts": len(index.scene_cuts)})
        audio: AudioClip | None = None
        audio_note: str | None = None
        if index.has_audio:
            t = time.perf_counter()
            try:
                audio = load_audio(ref.path, self.settings.max_video_seconds + 1.0)
            except CorruptMediaError as exc:
                audio_note = f"the sound track could not be decoded: {exc.message}"
            timings["audio_decode"] = round(time.perf_counter() - t, 4)
        inputs: list[np.ndarray] = []
        records: list[dict] = []
        faces_total = 0
        t = time.perf_counter()
        with SnippetReader(index, threads=DECODE_THREADS, max_side=ANALYSIS_MAX_SIDE) as reader:
            for k, sample in enumerate(samples):
                frames = reader.read(sample.time, SNIPPET_LENGTH)
                if not frames:
                    continue
                rec = self._snippet_record(index, sample.kind, frames, inputs)
                records.append(rec)
                faces_total += len(rec["faces"])
                frac = (k + 1) / len(samples)
                progress("video_frames", frac, {"frame": rec["frame"], "timestamp": rec["time"],
                                                "analyzed": len(records), "total": len(samples)})
                progress("video_faces", frac, {"frame": rec["frame"], "timestamp": rec["time"],
                                               "faces": len(rec["faces"]), "facesTotal": faces_total})
            timings["frames_and_faces"] = round(time.perf_counter() - t, 4)
            tracks = link_tracks(
                [(r["time"], [f["box"] for f in r["faces"]]) for r in records], [c.time for c in index.scene_cuts]
            )
            for tr in tracks:
                for link in tr.links:
                    records[link.sample]["faces"][link.face]["track"] = tr.track_id
            t = time.perf_counter()
            lip = self._lip_window(reader, index, records, audio) if audio is not None else None
            timings["lip_window"] = round(time.perf_counter() - t, 4)
            decode = {"seeks": reader.stats.seeks, "decodedFrames": reader.stats.decoded_frames,
                      "reopened": reader.stats.reopened}
        timings["preprocess"] = round(time.perf_counter() - t0, 4)
        payload: VideoPayload = {
            "video": index.summary(),
            "samples": records,
            "tracks": [
                {"id": tr.track_id, "links": [[lk.sample, lk.face] for lk in tr.links]} for tr in tracks
            ],
            "lip": lip,
            "decode": decode,
            "crops": len(inputs),
            "audioNote": audio_note,
            "summary": {"frames": len(records), "faces": faces_total, "tracks": len(tracks),
                        "duration": round(index.duration, 3)},
        }
        return Prepared(ref, inputs, payload, audio=audio, timings=timings)

    def _snippet_record(self, index: VideoIndex, kind: str, frames: list[DecodedFrame], inputs: list[np.ndarray]) -> dict:
        """Faces of one snippet: crops for the model (first frame), landmarks and context for all frames."""
        rgb0 = frames[0].rgb
        scale = rgb0.shape[1] / max(index.width, 1)
        faces = self.faces.detect(rgb0)[:MAX_FACES]
        entries: list[dict] = []
        grays = [cv2.cvtColor(f.rgb, cv2.COLOR_RGB2GRAY) for f in frames] if faces else []
        for i, face in enumerate(faces):
            entry: dict[str, Any] = {
                "box": [int(v) for v in face.box],
                "sourceBox": list(_source_box(face.box, scale)),
                "score": round(float(face.score), 4),
                "crop": len(inputs),
                "landmarks": None,
                "context": None,
                "window": None,
                "track": -1,
            }
            inputs.append(align_crop(rgb0, face, IMAGE_INPUT_SIZE))
            if i < MAX_CONTEXT_FACES:
                window = context_window(face.box)
                entry["window"] = list(window)
                entry["context"] = np.stack([context_crop(f.rgb, window) for f in frames])
                entry["landmarks"] = snippet_landmarks(self.faces, grays, face)
            entries.append(entry)
        return {"frame": int(frames[0].index), "time": round(float(frames[0].time), 4), "kind": kind,
                "frames": len(frames), "faces": entries}

    def _lip_window(self, reader: SnippetReader, index: VideoIndex, records: list[dict], audio: Any) -> dict | None:
        """Mouth activity and speech loudness over a few contiguous seconds around the clip's middle.

        Frames are decoded at most LIP_MAX_SIDE wide and dropped as soon as their mouth patch is
        taken, so the window costs a few kB whatever the resolution.
        """
        candidates = [(abs(r["time"] - index.duration / 2), i) for i, r in enumerate(records) if r["faces"]]
        if not candidates:
            return None
        _, i = min(candidates)
        rec = records[i]
        first = rec["faces"][0]
        n = int(min(LIP_WINDOW_MAX_FRAMES, round(LIP_WINDOW_SECONDS * index.fps), index.total_frames - rec["frame"]))
        if n < 10:
            return None
        follower: FaceFollower | None = None
        patches: list[np.ndarray | None] = []
        times: list[float] = []
        for frame in reader.iter_frames(rec["time"], n, max_side=LIP_MAX_SIDE):
            gray = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2GRAY)
            if follower is None:
                s = gray.shape[1] / max(index.width, 1)
                follower = FaceFollower(self.faces, tuple(int(round(v * s)) for v in first["sourceBox"]))
            lm = follower.step(gray)
            patches.append(None if lm is None else mouth_patch(gray, lm))
            times.append(frame.time)
        if len(times) < 10 or all(p is None for p in patches):
            return None
        activity = mouth_activity(patches)
        span = times[-1] - times[0]
        fps = (len(times) - 1) / span if span > 0 else index.fps
        energy = audio_energy_at(audio.samples, audio.sample_rate, np.asarray(times), window=2.0 / fps)
        return {
            "start": round(times[0], 4),
            "fps": round(fps, 4),
            "track": first["track"],
            "activity": [round(float(v), 6) for v in activity],
            "energy": [round(float(v), 5) for v in energy],
        }

    # -------------------------------------------------------------- temporal
    def temporal(self, prepared: Prepared[VideoPayload]) -> dict:
        """Temporal and lip-sync features from the payload alone (the recipe's temporal step)."""
        t = time.perf_counter()
        out = temporal_analysis(prepared.payload)
        out["seconds"] = round(time.perf_counter() - t, 4)
        return out

    # ----------------------------------------------------------------- infer
    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        """None: the video recipe sends the face crops to the 'image' model (``detectors.recipes``)."""
        raise TypeError("a video detector has no model of its own: run the video recipe "
                        "(detectors.pipeline.Analyzer), which scores the face crops with the image model")

    # ----------------------------------------------------------- postprocess
    def feature_values(self, prepared: Prepared[VideoPayload], scores: list[float],
                       audio_result: AnalysisResult | None) -> dict:
        """The fusion's inputs for one clip (None where a component has nothing to say)."""
        payload = prepared.payload
        temporal = payload.get("temporal") or {}
        values: dict[str, float | None] = dict.fromkeys(FACE_FEATURES)
        if scores:
            s = np.asarray(scores, dtype=np.float64)
            values["face_score_mean"] = float(s.mean())
            values["face_score_q90"] = float(np.quantile(s, 0.9))
            track_means = self._track_scores(payload, scores)
            long_tracks = [m for m, n in track_means.values() if n >= 2]
            values["face_track_max"] = float(max(long_tracks or [m for m, _ in track_means.values()]))
        values.update(temporal.get("features", {}))
        values["audio_logit"] = None
        if _has_speech(audio_result):
            assert audio_result is not None and audio_result.fake_probability is not None
            values["audio_logit"] = _logit(float(audio_result.fake_probability))
        return values

    @staticmethod
    def _track_scores(payload: dict, scores: list[float]) -> dict[int, tuple[float, int]]:
        """Mean raw crop score and number of scored snippets per track id."""
        per: dict[int, list[float]] = {}
        for rec in payload["samples"]:
            for face in rec["faces"]:
                per.setdefault(int(face["track"]), []).append(float(scores[face["crop"]]))
        return {tid: (float(np.mean(v)), len(v)) for tid, v in per.items()}

    def postprocess(self, prepared: Prepared[VideoPayload], scores: list[float],
                    audio_result: AnalysisResult | None = None) -> AnalysisResult:
        """Calibrated fusion into the video verdict, per-frame and per-track results, anomalies;
        ``audio_result`` is the sound track's verdict (the recipe's audio sub-analysis)."""
        payload = prepared.payload
        if "temporal" not in payload or payload["temporal"] is None:
            payload["temporal"] = temporal_analysis(payload)
        if len(scores) != payload.get("crops", 0):
            raise ValueError(f"expected {payload.get('crops', 0)} face-crop scores, got {len(scores)}")
        video = payload["video"]
        records = payload["samples"]
        n_faces = sum(len(r["faces"]) for r in records)
        speech = _has_speech(audio_result)
        common = {
            "media_type": "video",
            "model_used": self.model_used,
            "total_frames": video["totalFrames"],
            "analyzed_frames": len(records),
            "fps": round(float(video["fps"]), 3),
            "width": video["width"],
            "height": video["height"],
            "duration": video["duration"],
            "audio_track": audio_result,
        }
        if n_faces == 0 and not speech:
            why = "no sound track" if audio_result is None else "no speech in the sound track"
            if payload.get("audioNote"):
                why = payload["audioNote"]
            return AnalysisResult(
                **inconclusive_fields(f"no face found in {len(records)} sampled frames and {why}"),
                **common, frame_analysis=[], face_tracks=[], deepfake_frame_ratio=0.0,
                components=self._components(payload, None, {}, audio_result),
            )
        if self.fusion is None:
            return AnalysisResult(
                **inconclusive_fields(
                    f"the video fusion is not trained (no {FUSION_FILE} in {self.model_dir}); "
                    "train it with `deepfake-train video`"
                ),
                **common,
                components=self._components(payload, None, {}, audio_result),
            )
        fusion = self.fusion
        values = self.feature_values(prepared, scores, audio_result)
        p = fusion.probability(values)
        frames, tracks = self._frames_and_tracks(payload, scores, fusion)
        faced = [f for f in frames if f.faces > 0]
        ratio = float(np.mean([f.is_deepfake for f in faced])) if faced else 0.0
        result = AnalysisResult(
            **verdict_fields(p, fusion.verdict_points),
            **common,
            frame_analysis=frames,
            face_tracks=tracks,
            deepfake_frame_ratio=round(ratio, 4),
        )
        result.components = self._components(payload, fusion, values, audio_result)
        result.anomalies = self._anomalies(payload, fusion, values, tracks, audio_result)
        if n_faces == 0:
            note = "no face found in the sampled frames: the verdict rests on the sound track"
            result.verdict_reason = f"{result.verdict_reason}; {note}" if result.verdict_reason else note
        return result

    def _frames_and_tracks(
        self, payload: dict, scores: list[float], fusion: FusionModel
    ) -> tuple[list[FrameResult], list[FaceResult]]:
        cal = fusion.crop_calibration
        frames: list[FrameResult] = []
        for rec in payload["samples"]:
            if not rec["faces"]:
                continue  # no face, no score: the frame is counted in analyzedFrames only
            ps = [float(cal.probability(scores[f["crop"]])) for f in rec["faces"]]
            p = max(ps)
            frames.append(FrameResult(frame=rec["frame"], timestamp=rec["time"], faces=len(ps),
                                      **_frame_verdict(p, cal.threshold)))
        tracks: list[FaceResult] = []
        by_track: dict[int, list[tuple[dict, dict]]] = {}
        for rec in payload["samples"]:
            for face in rec["faces"]:
                by_track.setdefault(int(face["track"]), []).append((rec, face))
        for tid, items in sorted(by_track.items()):
            raw = float(np.mean([scores[f["crop"]] for _, f in items]))
            p = float(cal.probability(raw))
            box = tuple(int(v) for v in np.median(np.asarray([f["sourceBox"] for _, f in items]), axis=0).round())
            tracks.append(FaceResult(box=box, fake_probability=round(p, 4), is_deepfake=p >= cal.threshold,
                                     track_id=tid, frames=len(items)))
        return frames, tracks

    def _components(
        self, payload: dict, fusion: FusionModel | None, values: dict, audio_result: AnalysisResult | None
    ) -> list[ComponentScore]:
        contrib = fusion.contributions(values) if fusion is not None else {}
        total = sum(abs(v) for v in contrib.values()) or 1.0

        def share(names: tuple[str, ...] | list[str]) -> float | None:
            if fusion is None:
                return None
            return round(sum(abs(contrib.get(n, 0.0)) for n in names) / total, 4)

        temporal = payload.get("temporal") or {}
        tfeats = {k: v for k, v in (temporal.get("features") or {}).items() if k != "lip_sync"}
        n_faces = sum(len(r["faces"]) for r in payload["samples"])
        face_p = None
        if fusion is not None and values.get("face_track_max") is not None:
            face_p = round(float(fusion.crop_calibration.probability(values["face_track_max"])), 4)
        lip = temporal.get("lipSync")
        inputs = set(fusion.features) if fusion is not None else set()
        not_input = "; computed and range-checked, but not a fusion input of this model (see its model card)"
        temporal_in = [n for n in tfeats if n in inputs]
        face_in = [n for n in FACE_FEATURES if n in inputs]
        out = [
            ComponentScore(
                name="face-tracks", used=n_faces > 0 and bool(face_in), fake_probability=face_p,
                weight=share(face_in) if face_in else None,
                reason=(f"{n_faces} face crop(s) in {len(payload['tracks'])} track(s); the most suspicious track counts"
                        if n_faces else "no face found in the sampled frames"),
            ),
            ComponentScore(
                name="temporal",
                used=bool(temporal_in) and any(tfeats.get(n) is not None for n in temporal_in),
                weight=share(temporal_in) if temporal_in else None,
                reason=((f"{temporal.get('faceSnippets', 0)} face snippet(s); "
                         + ", ".join(f"{k}={v:.3g}" for k, v in tfeats.items() if v is not None))
                        if any(v is not None for v in tfeats.values()) else "no face snippets")
                + ("" if temporal_in or fusion is None else not_input),
            ),
            ComponentScore(
                name="audio-track",
                used=_has_speech(audio_result) and "audio_logit" in inputs,
                fake_probability=None if audio_result is None else audio_result.fake_probability,
                weight=share(["audio_logit"]) if "audio_logit" in inputs else None,
                reason=("no sound track" if audio_result is None
                        else (audio_result.verdict_reason or "speech analysed")
                        if audio_result.verdict == "inconclusive" else f"audio verdict: {audio_result.verdict}")
                + ("" if "audio_logit" in inputs or fusion is None else "; not a fusion input of this model"),
            ),
            ComponentScore(
                name="lip-sync",
                used=lip is not None and "lip_sync" in inputs,
                weight=share(["lip_sync"]) if "lip_sync" in inputs else None,
                reason=(f"mouth activity vs speech loudness: r={lip['correlation']:.2f} at {lip['lagSeconds']:+.2f} s "
                        f"over {lip['frames']} frames from {lip['start']:.2f} s" if lip
                        else "needs a tracked face and a sound track with loudness changes")
                + ("" if "lip_sync" in inputs or fusion is None else not_input),
            ),
        ]
        return out

    def _anomalies(
        self, payload: dict, fusion: FusionModel, values: dict, tracks: list[FaceResult],
        audio_result: AnalysisResult | None,
    ) -> list[Anomaly]:
        out: list[Anomaly] = []
        per_sample = (payload.get("temporal") or {}).get("perSample", [])
        for name, (lo, hi) in fusion.ranges.items():
            v = values.get(name)
            if v is None or not math.isfinite(float(v)):
                continue
            sev = range_severity(float(v), lo, hi)
            if sev is None:
                continue
            kind, high_text, low_text = FEATURE_TEXT.get(name, ("Temporal inconsistency", "", ""))
            text = high_text if v > hi else low_text
            if not text:
                continue
            where = [s for s in per_sample if name in s]
            start = end = frame = None
            if where:
                worst = max(where, key=lambda s: s[name]) if v > hi else min(where, key=lambda s: s[name])
                start, frame = float(worst["time"]), int(worst["frame"])
                end = start + SNIPPET_LENGTH / max(payload["video"]["fps"], 1e-6)
            out.append(Anomaly(
                type=kind, severity=sev, value=round(float(v), 4), normal_range=(lo, hi),
                description=f"{text} ({name} = {float(v):.3g}; real videos: {lo:.3g} to {hi:.3g})",
                start=None if start is None else round(start, 3), end=None if end is None else round(end, 3),
                frame=frame,
            ))
        thr = fusion.crop_calibration.threshold
        times = {r["frame"]: r["time"] for r in payload["samples"]}
        for tr in tracks:
            if not tr.is_deepfake:
                continue
            ts = [times[payload["samples"][s]["frame"]] for s, _ in _links(payload, tr.track_id)]
            excess = (tr.fake_probability - thr) / max(1e-6, 1 - thr)
            out.append(Anomaly(
                type="Facial inconsistency",
                severity="high" if excess >= 0.6 else "medium" if excess >= 0.25 else "low",
                description=f"face track {tr.track_id} ({tr.frames} sampled frame(s)) looks manipulated to the image "
                f"model: probability {tr.fake_probability:.2f} (threshold {thr:.2f})",
                value=tr.fake_probability, start=round(min(ts), 3), end=round(max(ts), 3),
            ))
        if audio_result is not None and audio_result.verdict == "fake":
            out.append(Anomaly(
                type="Synthetic voice", severity="medium",
                description=f"the sound track looks synthetic to the audio detector "
                f"(probability {audio_result.fake_probability:.2f}); see audioTrack",
                value=audio_result.fake_probability,
            ))
        order = {"high": 0, "medium": 1, "low": 2}
        return sorted(out, key=lambda a: order[a.severity])


def _links(payload: dict, track_id: int) -> list[list[int]]:
    for tr in payload["tracks"]:
        if tr["id"] == track_id:
            return tr["links"]
    return []


def _has_speech(audio_result: AnalysisResult | None) -> bool:
    """The sound track carried something the audio detector could judge (not inconclusive)."""
    return (
        audio_result is not None
        and audio_result.verdict != "inconclusive"
        and audio_result.fake_probability is not None
    )


def _frame_verdict(p: float, threshold: float) -> dict:
    fields = verdict_fields(p, threshold)
    return {k: fields[k] for k in ("is_deepfake", "fake_probability", "confidence")}
