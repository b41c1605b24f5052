"""``image-clip``: the image detector v2: frozen CLIP ViT-B/16 (+ EfficientNet-Lite0, forensic)
features, linear heads per view, calibrated fusion and a two-operating-point verdict.

preprocess:  decode, faces, forensic features (native resolution), the views as model inputs:
             one (k, 224, 224, 3) stack per image (whole image resized, then the native crops the
             model was trained with) and one (224, 224, 3) aligned crop per face (at most 3).
infer:       an image stack -> the weighted sum of the image-level heads' scores; a face crop ->
             the weighted sum of the face heads' scores (so the video detector's face crops work).
postprocess: + the forensic heads, the fusion bias, Platt calibration, the verdict from the
             operating points fitted on held-out families; evidence per view and per face.
"""

from __future__ import annotations

import math
import time

import numpy as np

from detectors.base import Part, Prepared, ProgressFn, no_progress, register
from detectors.calibration import Calibration
from detectors.image import forensics
from detectors.image.detector import ImageDetectorBase, severity_of
from detectors.image.prepare import ImageEvidence, prepare_rgb
from detectors.image.streams import FACE_KEYS, FORENSIC_KEYS, FaceCache, ImageStream, stream_factory
from detectors.image.v2_model import MODEL_FILE, V2Model
from detectors.image.views import MAX_FACES, native_crop, pool
from detectors.media import MediaRef, load_image
from detectors.recipes.device import select_device
from detectors.recipes.payloads import ImagePayload
from detectors.schema import AnalysisResult, Anomaly, ComponentScore, FaceResult, verdict_fields

MODEL_SUBDIR = "v2"


@register("image-clip")
class ClipImageDetector(ImageDetectorBase):
    """Image detector v2 (see the module docstring); weights in ``MODEL_PATH/image/v2``."""

    whole_short = 0  # > 0: the whole view at equalised resolution, as the heads were trained (from the model file)

    def load(self) -> None:
        self.load_part("all")

    def load_part(self, part: Part, models: object = None) -> None:
        """A "host" (prepare and fuse) loads heads, faces and forensic ranges, not the backbones."""
        if self._loaded:
            return
        self._load_common(self.model_dir)  # faces + v1 forensic ranges (for readable anomalies)
        path = self.model_dir / MODEL_SUBDIR / MODEL_FILE
        if not path.exists():
            raise FileNotFoundError(f"no {MODEL_FILE} in {path.parent}; train with `deepfake-train image`")
        self.model = V2Model.load(path)
        self.streams: dict[str, ImageStream] = {}
        shared_faces = FaceCache(None)
        shared_faces.detector = self.faces
        for short, cfg in self.model.streams.items():
            stream = stream_factory(short)(crops=tuple(cfg["crops"]), faces=bool(cfg["faces"]), face_cache=shared_faces,
                                           whole_short=int(cfg.get("whole_short", 0)))
            if stream.version != cfg["version"] or stream.name != cfg["name"]:
                raise RuntimeError(
                    f"{path} was trained on stream {cfg['name']} {cfg['version']}, this code has {stream.name} "
                    f"{stream.version}: retrain with `deepfake-train image`"
                )
            self.streams[short] = stream
        heads = self.model.heads
        # heads the fusion gave weight 0 change nothing: their streams and views are not run
        self.active_heads = active = [h for h in heads if self.model.fusion_weights.get(h, 0.0) > 0]
        self.image_heads = [h for h in active if heads[h]["stream"] != "forensic" and not self.model.spec(h).face]
        self.face_heads = [h for h in active if heads[h]["stream"] != "forensic" and self.model.spec(h).face]
        self.forensic_heads = [h for h in heads if heads[h]["stream"] == "forensic"]
        for short in {heads[h]["stream"] for h in self.image_heads + self.face_heads}:
            if part != "host":  # a host (prepare and fuse) holds no backbone and needs no device
                self.streams[short].device = select_device(self.settings.device).name  # ONNX CLIP: onnx_providers
                self.streams[short].load()
        self.crops = tuple(next((c["crops"] for s, c in self.model.streams.items() if s != "forensic"), ()))
        self.whole_short = int(next((c.get("whole_short", 0) for s, c in self.model.streams.items() if s != "forensic"), 0))
        self._loaded = True

    @property
    def model_used(self) -> str:
        if not self.loaded:
            return "image-clip"
        ran = {self.model.heads[h]["stream"] for h in self.image_heads + self.face_heads}
        ran |= {self.model.heads[h]["stream"] for h in self.forensic_heads if self.model.fusion_weights.get(h, 0.0) > 0}
        names = [f"{c['name']} {c['version']}" for s, c in self.model.streams.items() if s in ran]
        used = self.active_heads
        how = f"linear head {used[0]}, calibrated" if len(used) == 1 else f"linear heads {', '.join(used)}, calibrated fusion"
        return f"image-clip {self.model.meta.get('version', '')}: streams " + ", ".join(names) + f"; {how}"

    @property
    def operating_points(self):
        """The verdict policy's two thresholds (fitted on held-out families), for ``/api/status``."""
        return self.model.operating_points if self.loaded else None

    def info(self) -> dict:
        out = super().info()
        if self.loaded:
            ops = self.model.operating_points
            out.update(version=self.model.meta.get("version"), streams=list(self.model.streams),
                       real_below=ops.real_below, fake_above=ops.fake_above)
        return out

    # ---------------------------------------------------------------- preprocess
    def preprocess(self, ref: MediaRef, progress: ProgressFn = no_progress) -> Prepared[ImagePayload]:
        timings: dict[str, float] = {}
        t = time.perf_counter()
        rgb = load_image(ref.path, self.settings.max_image_pixels)
        luma, qtable = forensics.read_jpeg_luma(ref.path) if ref.format == "jpeg" else (None, None)
        timings["decode"] = time.perf_counter() - t
        progress("decode", 1.0, {"width": rgb.shape[1], "height": rgb.shape[0]})
        inputs, ev = prepare_rgb(rgb, self.faces, ref.format, luma, qtable, max_faces=MAX_FACES,
                                 timings=timings, progress=progress, whole_short=self.whole_short,
                                 face_crops=bool(self.face_heads))
        if ev.inconclusive:
            return Prepared(ref=ref, payload={"evidence": ev}, timings=timings)
        whole, faces = inputs[0], inputs[1:]  # face crops only when a face head reads them (faces stay in the evidence)
        stack = np.stack([whole, *(native_crop(rgb, c) for c in self.crops)])
        return Prepared(ref=ref, model_inputs=[stack, *faces], payload={"evidence": ev}, timings=timings)

    # --------------------------------------------------------------------- infer
    def _stream_features(self, short: str, crops: list[np.ndarray]) -> dict[str, np.ndarray]:
        return self.streams[short].embed(crops) if crops else {}

    def infer(self, inputs: list[np.ndarray]) -> list[float]:
        """Per input: image stack -> image-level heads' weighted sum; face crop -> face heads' sum."""
        if not inputs:
            return []
        image_idx = [i for i, x in enumerate(inputs) if np.ndim(x) == 4]
        face_idx = [i for i, x in enumerate(inputs) if np.ndim(x) == 3]
        out = np.zeros(len(inputs))
        w = self.model.fusion_weights
        view_names = ["whole", *self.crops]
        for short in {self.model.heads[h]["stream"] for h in self.image_heads}:
            used = {k.split(".")[0] for h in self.image_heads if self.model.heads[h]["stream"] == short
                    for k in self.model.heads[h]["keys"]}
            pick = [v for v, view in enumerate(view_names) if view in used]
            flat = [inputs[i][v] for i in image_idx for v in pick]
            reps = self._stream_features(short, flat)
            k = len(pick)
            for j, i in enumerate(image_idx):
                feats = {f"{view_names[v]}.{rep}": mat[j * k + n : j * k + n + 1] for rep, mat in reps.items()
                         for n, v in enumerate(pick)}
                for h in self.image_heads:
                    if self.model.heads[h]["stream"] == short:
                        out[i] += w.get(h, 0.0) * float(self.model.head_score(h, feats)[0])
        for short in {self.model.heads[h]["stream"] for h in self.face_heads}:
            reps = self._stream_features(short, [inputs[i] for i in face_idx])
            for j, i in enumerate(face_idx):
                feats = {}
                for rep, mat in reps.items():
                    feats[f"face_mean.{rep}"] = feats[f"face_max.{rep}"] = mat[j : j + 1]
                for h in self.face_heads:
                    if self.model.heads[h]["stream"] == short:
                        out[i] += w.get(h, 0.0) * float(self.model.head_score(h, feats)[0])
        return [float(v) for v in out]

    def _no_face_part(self) -> float:
        """What the face heads add for an image without a face (their score on absent features)."""
        total = 0.0
        for h in self.face_heads:
            spec = self.model.spec(h)
            feats = {k: np.full((1, len(self.model.heads[h]["probe"]["mean"]) // len(spec.keys)), np.nan) for k in spec.keys}
            total += self.model.fusion_weights.get(h, 0.0) * float(self.model.head_score(h, feats)[0])
        return total

    def _forensic_part(self, ev: ImageEvidence) -> tuple[float, dict[str, float]]:
        feats = {"image.forensic": np.array([[ev.forensics.image.get(k, np.nan) for k in FORENSIC_KEYS]])}
        vecs = [np.array([f.get(k, np.nan) for k in FACE_KEYS], np.float32) for f in ev.forensics.faces[:MAX_FACES]]
        mean, mx = pool(vecs, len(FACE_KEYS))
        feats["face_mean.forensic"], feats["face_max.forensic"] = mean[None], mx[None]
        scores = {h: float(self.model.head_score(h, feats)[0]) for h in self.forensic_heads}
        return sum(self.model.fusion_weights.get(h, 0.0) * s for h, s in scores.items()), scores

    # --------------------------------------------------------------- postprocess
    def postprocess(self, prepared: Prepared[ImagePayload], scores: list[float]) -> AnalysisResult:
        ev: ImageEvidence = prepared.payload["evidence"]
        if ev.inconclusive:
            return self._inconclusive(ev, ev.inconclusive, self.model_used)
        if not scores:
            return self._inconclusive(ev, "the model produced no score for this image", self.model_used)
        m = self.model
        image_part = float(scores[0])
        # without face heads no crop was sent: each face adds what an absent face adds (nothing)
        face_parts = ([float(s) for s in scores[1 : 1 + len(ev.faces)]] if self.face_heads
                      else [self._no_face_part()] * len(ev.faces))
        face_part = max(face_parts) if face_parts else self._no_face_part()
        forensic_part, forensic_scores = self._forensic_part(ev)
        z = m.fusion_bias + image_part + face_part + forensic_part
        p = float(m.calibration.probability(z))
        ops = m.operating_points
        result = AnalysisResult(**verdict_fields(p, ops), media_type="image", model_used=self.model_used,
                                width=ev.width, height=ev.height)
        anomalies, _, _ = self.forensic_anomalies(ev)
        # evidence per view: what each part says on its own (z with the other parts at their no-evidence value)
        base = m.fusion_bias + self._no_face_part()
        face_cal = Calibration(a=m.calibration.a, b=m.calibration.b)
        faces: list[FaceResult] = []
        for i, face in enumerate(ev.faces[: len(face_parts)]):
            pf = float(face_cal.probability(m.fusion_bias + image_part + face_parts[i] + forensic_part))
            fake = ops.verdict(pf) == "fake"
            faces.append(FaceResult(box=face.box, fake_probability=round(pf, 4), is_deepfake=fake))
            if fake:
                x, y, w_, h_ = face.box
                anomalies.append(Anomaly(
                    type="Facial inconsistency", severity=severity_of(pf, ops.fake_above),
                    description=(f"Face {i + 1} (at x={x}, y={y}, {w_}x{h_} px) looks manipulated: with this face "
                                 f"the fused probability of fake is {pf:.2f} (fake at >= {ops.fake_above:.2f})."),
                    value=round(pf, 4)))
        result.faces = faces
        comps = []
        w = m.fusion_weights
        p_image = float(face_cal.probability(base + image_part + forensic_part))
        comps.append(ComponentScore(
            name="image-level heads: " + ", ".join(self.image_heads), used=True, fake_probability=round(p_image, 4),
            weight=round(sum(w.get(h, 0.0) for h in self.image_heads), 4),
            reason=("whole image resized" if not self.whole_short else
                    f"whole image at equalised resolution (short side {self.whole_short} px, JPEG q90), resized")
            + (f" + native crops ({', '.join(self.crops)})" if self.crops else "")
            + "; probability of the fusion without the face evidence"))
        if self.face_heads:
            comps.append(ComponentScore(
                name="face heads: " + ", ".join(self.face_heads), used=bool(face_parts),
                fake_probability=max((f.fake_probability for f in faces), default=None),
                weight=round(sum(w.get(h, 0.0) for h in self.face_heads), 4),
                reason=(f"{len(face_parts)} aligned face crop(s); the most suspicious counts"
                        + (f" ({ev.faces_found} found)" if ev.faces_found > len(face_parts) else ""))
                if face_parts else "no face found"))
        for h in self.forensic_heads:
            cal = m.head_calibration.get(h)
            pc = float(cal.probability(forensic_scores[h])) if cal is not None else None
            comps.append(ComponentScore(
                name=h, used=w.get(h, 0.0) > 0, fake_probability=None if pc is None or not math.isfinite(pc) else round(pc, 4),
                weight=round(w.get(h, 0.0), 4),
                reason=f"{len([a for a in anomalies if a.normal_range is not None])} forensic feature(s) outside the "
                "real-photo range" + ("" if w.get(h, 0.0) > 0 else "; weight 0 in the fusion, listed for information")))
        result.components = comps
        if ops.verdict(p_image) == "fake" and not any(f.is_deepfake for f in faces):
            anomalies.append(Anomaly(
                type="Synthesis artifacts", severity=severity_of(p_image, ops.fake_above),
                description=(f"The whole image looks generated to the CLIP/EfficientNet heads: probability {p_image:.2f} "
                             f"without the face evidence (fake at >= {ops.fake_above:.2f})."),
                value=round(p_image, 4)))
        result.anomalies = sorted(anomalies, key=lambda a: {"high": 0, "medium": 1, "low": 2}[a.severity])
        return result

