"""Frozen feature streams of the image v2 detector (the training core's ``FeatureStream``).

Each stream decodes a file, finds its faces (shared, cached: every stream sees the same faces),
builds the views (``views.py``) and returns named 1-D vectors per view and representation,
e.g. ``whole.pen``, ``centre.pen``, ``face_mean.pen``, ``face_max.pen``. A file without a face
gets NaN face vectors (the heads treat the face views as absent for it).

The backbones live in ``clip_stream.py`` and ``effnet_stream.py``; this module holds the shared
machinery and the two cheap streams: the forensic features and the v1 MobileNetV2 trunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from detectors.errors import CorruptMediaError, DetectionError
from detectors.faces import Face, FaceDetector
from detectors.features.cache import FeatureCache, file_key
from detectors.image import forensics
from detectors.image.views import MAX_FACES, MAX_PIXELS, ImageViews, aug_view, make_views, pool, sbi_view
from detectors.training.streams import register_view

FACES_EXTRACTOR = ("faces-haar-dlib5", "1")
register_view("image", "aug", aug_view)
register_view("image", "sbi", sbi_view)


def load_rgb(path: Path) -> np.ndarray:
    """RGB uint8 pixels; an unreadable file raises a media error (the caller records it)."""
    from detectors.media import load_image

    try:
        return load_image(path, MAX_PIXELS)
    except DetectionError:
        raise
    except Exception as exc:  # decoders raise many types; the contract is one media error
        raise CorruptMediaError(f"cannot decode {Path(path).name}: {exc}") from exc


class FaceCache:
    """Faces of a file, computed once and shared by every stream (cached by file content)."""

    def __init__(self, cache: FeatureCache | None = None) -> None:
        self.detector = FaceDetector()
        self.cache = cache

    def load(self) -> None:
        self.detector.load()

    def faces(self, path: Path | None, rgb: np.ndarray) -> list[Face]:
        def compute() -> dict[str, np.ndarray]:
            found = self.detector.detect(rgb)[:MAX_FACES]
            boxes = np.array([f.box for f in found], np.int64).reshape(-1, 4)
            lms = np.array([f.landmarks if f.landmarks is not None else np.full((5, 2), np.nan) for f in found],
                           np.float32).reshape(-1, 5, 2)
            scores = np.array([f.score for f in found], np.float32)
            return {"boxes": boxes, "landmarks": lms, "scores": scores}

        if self.cache is None or path is None:
            d = compute()
        else:
            d = self.cache.get_or_compute(*FACES_EXTRACTOR, file_key(path), compute)  # type: ignore[assignment]
        out = []
        for box, lm, sc in zip(d["boxes"], d["landmarks"], d["scores"], strict=True):
            out.append(Face(box=tuple(int(v) for v in box), score=float(sc),
                            landmarks=None if np.isnan(lm).any() else np.asarray(lm, np.float32)))
        return out


class ImageStream:
    """Base of the image streams: decode, faces, views, backbone, pooled per view."""

    name: ClassVar[str] = "image-stream"
    base_version: ClassVar[str] = "1"
    modality: ClassVar[str] = "image"
    crops: tuple[str, ...] = ("centre",)
    use_faces: bool = True

    def __init__(self, crops: tuple[str, ...] | None = None, faces: bool | None = None,
                 face_cache: FaceCache | None = None, whole_short: int = 0) -> None:
        if crops is not None:
            self.crops = tuple(crops)
        if faces is not None:
            self.use_faces = faces
        self.whole_short = int(whole_short)  # > 0: the whole view at equalised resolution (views.equalise_resolution)
        self.face_cache = face_cache or FaceCache(FeatureCache())
        self.timings: dict[str, list[float]] = {}
        self._loaded = False

    @property
    def version(self) -> str:
        """Bumped with the code (``base_version``) and naming the views, which change the outputs."""
        crops = "".join(c[0] if c == "centre" else c for c in self.crops) or "none"
        equalised = f"-s{self.whole_short}" if self.whole_short else ""
        return f"{self.base_version}-c{crops}-f{int(self.use_faces)}{equalised}"

    def load(self) -> None:
        if self._loaded:
            return
        if self.use_faces:
            self.face_cache.load()
        self._load_backbone()
        self._loaded = True

    def _load_backbone(self) -> None:
        raise NotImplementedError

    def embed(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Representation name -> (len(inputs), d) for a list of 224 px RGB uint8 views."""
        raise NotImplementedError

    def _tick(self, what: str, t0: float) -> float:
        t = time.perf_counter()
        self.timings.setdefault(what, []).append(t - t0)
        return t

    def views(self, path: Path | None, rgb: np.ndarray) -> ImageViews:
        faces = self.face_cache.faces(path, rgb) if self.use_faces else []
        return make_views(rgb, faces, self.crops, whole_short=self.whole_short)

    def features(self, path: Path) -> dict[str, np.ndarray]:
        """Named 1-D float32 vectors of one file (see the module docstring)."""
        self.load()
        t = time.perf_counter()
        rgb = load_rgb(path)
        t = self._tick("decode", t)
        views = self.views(path, rgb)
        t = self._tick("faces+views", t)
        return self.features_of_views(views)

    def features_of_views(self, views: ImageViews) -> dict[str, np.ndarray]:
        names, inputs = views.batch()
        t = time.perf_counter()
        reps = self.embed(inputs)
        self._tick(f"backbone x{len(inputs)}", t)
        out: dict[str, np.ndarray] = {}
        face_idx = [i for i, n in enumerate(names) if n.startswith("face")]
        for rep, mat in reps.items():
            for i, n in enumerate(names):
                if not n.startswith("face"):
                    out[f"{n}.{rep}"] = mat[i].astype(np.float32)
            if self.use_faces:
                mean, mx = pool([mat[i] for i in face_idx], mat.shape[1])
                out[f"face_mean.{rep}"], out[f"face_max.{rep}"] = mean, mx
        out["meta.faces"] = np.array([len(face_idx)], np.float32)
        return out


# --- forensic features ---------------------------------------------------------------------------

FORENSIC_KEYS = (
    "edge_density", "edge_strength_spread", "saturation_mean", "hue_entropy", "channel_residual_corr",
    "noise_level", "noise_spread", "laplacian_var_log", "hf_energy_ratio", "spectral_slope", "hf_falloff",
    "upsampling_replica", "upsampling_lag", "jpeg_replica", "jpeg_blockiness", "jpeg_grid_misaligned",
    "double_jpeg", "error_level", "error_level_spread",
)
FACE_KEYS = ("face_noise_ratio", "face_sharpness_ratio", "face_ela_ratio")


class ForensicStream(ImageStream):
    """The v1 forensic features (``forensics.py``) at native resolution: ``image.forensic`` (whole
    image), and ``face_mean`` / ``face_max`` of the face-vs-surroundings ratios."""

    name = "forensic"
    base_version = "1"

    def _load_backbone(self) -> None:
        pass

    def features(self, path: Path) -> dict[str, np.ndarray]:
        self.load()
        t = time.perf_counter()
        rgb = load_rgb(path)
        luma, qtable = (None, None)
        try:
            luma, qtable = forensics.read_jpeg_luma(str(path))
        except Exception:  # not a JPEG Pillow can re-read: the JPEG-only features stay NaN
            luma, qtable = None, None
        t = self._tick("decode", t)
        faces = self.face_cache.faces(path, rgb) if self.use_faces else []
        t = self._tick("faces", t)
        return self.features_of_rgb(rgb, faces, luma, qtable)

    def features_of_rgb(self, rgb: np.ndarray, faces: list[Face], luma=None, qtable=None) -> dict[str, np.ndarray]:
        t = time.perf_counter()
        rep = forensics.analyse(rgb, [f.box for f in faces], luma, qtable)
        self._tick("forensics", t)
        out = {"image.forensic": np.array([rep.image.get(k, np.nan) for k in FORENSIC_KEYS], np.float32)}
        vecs = [np.array([f.get(k, np.nan) for k in FACE_KEYS], np.float32) for f in rep.faces]
        if self.use_faces:
            mean, mx = pool(vecs, len(FACE_KEYS))
            out["face_mean.forensic"], out["face_max.forensic"] = mean, mx
        out["meta.faces"] = np.array([len(faces)], np.float32)
        return out


# --- v1 backbone (for the v1 baseline, and kept only if it adds something) -----------------------


class MobileNetV2Stream(ImageStream):
    """The v1 frozen ImageNet MobileNetV2 trunk (stages 3/6/13/18 pooled): ``whole.mnv2`` etc."""

    name = "mobilenetv2-imagenet"
    base_version = "1"
    crops: tuple[str, ...] = ()

    def _load_backbone(self) -> None:
        import torch

        from detectors.image.backbone import load_backbone

        torch.set_num_threads(1)
        self.model = load_backbone()

    def embed(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        from detectors.image.backbone import extract

        return {"mnv2": extract(self.model, inputs)}


STREAMS: dict[str, Callable[..., ImageStream]] = {}


def stream_factory(name: str) -> Callable[..., ImageStream]:
    """The stream class for a short name ('clip', 'effnet', 'forensic', 'mnv2')."""
    if not STREAMS:
        from detectors.image.clip_stream import ClipStream
        from detectors.image.effnet_stream import EffNetLiteStream

        STREAMS.update(clip=ClipStream, effnet=EffNetLiteStream, forensic=ForensicStream, mnv2=MobileNetV2Stream)
    try:
        return STREAMS[name]
    except KeyError:
        raise KeyError(f"unknown image stream {name!r}; known: {sorted(STREAMS)}") from None
