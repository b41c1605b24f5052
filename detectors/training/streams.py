"""Frozen feature streams, the views they are extracted on, and cached extraction over a corpus.

A stream is a frozen extractor (CLIP, EfficientNet-Lite, Whisper layers, forensic statistics):
``features(path)`` gives named 1-D vectors for one file. A view is what the file goes through
first: ``as-is``, a re-encoding that tests robustness (``jpeg90``, ``wav16k``, ``mp3-32k``,
``h264``, ``h264-low``), or a random augmentation chain (``aug``, registered by each modality;
every seed gives another draw). ``extract`` runs a stream over many files through one view and
caches every result by (stream name, stream version, file sha256 + view + seed), so a second
training run on the same corpus extracts nothing again.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from detectors.errors import DetectionError
from detectors.features.cache import FeatureCache, derived_key, file_key

log = logging.getLogger(__name__)

ViewFn = Callable[[Path, Path, np.random.Generator], Path]
AS_IS = "as-is"


@runtime_checkable
class FeatureStream(Protocol):
    """A frozen extractor: named 1-D feature vectors for one file."""

    name: str
    version: str
    modality: str

    def load(self) -> None: ...

    def features(self, path: Path) -> dict[str, np.ndarray]: ...


_VIEWS: dict[tuple[str, str], ViewFn] = {}


def register_view(modality: str, name: str, fn: ViewFn) -> None:
    """Make ``fn(src, dst_dir, rng) -> path`` available as view ``name`` for ``modality``."""
    if name == AS_IS:
        raise ValueError("'as-is' is the untransformed file")
    _VIEWS[(modality, name)] = fn


def views(modality: str) -> list[str]:
    """The registered view names of a modality (plus ``as-is``)."""
    _register_reencodings()
    return [AS_IS] + sorted(n for m, n in _VIEWS if m == modality)


def view_fn(modality: str, name: str) -> ViewFn:
    _register_reencodings()
    try:
        return _VIEWS[(modality, name)]
    except KeyError:
        raise KeyError(f"no view {name!r} for {modality}; known: {views(modality)}") from None


_REGISTERED = False


def _register_reencodings() -> None:
    """The evaluation harness's re-encodings, as views (lazily: they import the media stack)."""
    global _REGISTERED
    if _REGISTERED:
        return
    _REGISTERED = True
    from detectors.evaluation import reencode
    from detectors.settings import get_settings

    s = get_settings()

    def jpeg90(src: Path, dst: Path, rng: np.random.Generator) -> Path:
        return reencode.reencode_image(src, dst / "view.jpg", s.max_image_pixels)

    def wav16k(src: Path, dst: Path, rng: np.random.Generator) -> Path:
        return reencode.reencode_audio(src, dst / "view.wav", s.max_audio_seconds)

    def mp3_32k(src: Path, dst: Path, rng: np.random.Generator) -> Path:
        return reencode.reencode_audio_mp3(src, dst / "view.mp3", s.max_audio_seconds)

    def h264(src: Path, dst: Path, rng: np.random.Generator) -> Path:
        return reencode.reencode_video(src, dst / "view.mp4", s.max_video_seconds)

    def h264_low(src: Path, dst: Path, rng: np.random.Generator) -> Path:
        return reencode.reencode_video(src, dst / "view.mp4", s.max_video_seconds, crf=reencode.VIDEO_CRF_LOW)

    _VIEWS.setdefault(("image", "jpeg90"), jpeg90)
    _VIEWS.setdefault(("audio", "wav16k"), wav16k)
    _VIEWS.setdefault(("audio", "mp3-32k"), mp3_32k)
    _VIEWS.setdefault(("video", "h264"), h264)
    _VIEWS.setdefault(("video", "h264-low"), h264_low)


@dataclass
class StreamFeatures:
    """A stream's features for many files: one (n, d) matrix per feature name, NaN rows where failed."""

    names: dict[str, np.ndarray]
    ok: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    cache_hits: int = 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.names[name]

    def concat(self, names: Sequence[str]) -> np.ndarray:
        """Several feature names side by side (e.g. mean and max pooling)."""
        return np.concatenate([self.names[n] for n in names], axis=1)


def features_of(stream: FeatureStream, path: Path, view: str = AS_IS, seed: int = 0,
                cache: FeatureCache | None = None) -> dict[str, np.ndarray]:
    """One file's features through one view, from the cache when present."""
    cache = cache or FeatureCache()
    key = derived_key(file_key(path), view, seed if view != AS_IS else 0)

    def compute() -> dict[str, np.ndarray]:
        if view == AS_IS:
            out = stream.features(Path(path))
        else:
            fn = view_fn(stream.modality, view)
            tmp = Path(tempfile.mkdtemp(prefix="view-"))
            try:
                rng = np.random.default_rng([seed, int(key[:8], 16)])
                out = stream.features(fn(Path(path), tmp, rng))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return {k: np.asarray(v, dtype=np.float32).reshape(-1) for k, v in out.items()}

    found = cache.get_or_compute(stream.name, stream.version, key, compute)
    return dict(found) if isinstance(found, dict) else {"features": found}


def extract(
    stream: FeatureStream,
    paths: Sequence[str | Path],
    view: str = AS_IS,
    seed: int = 0,
    cache: FeatureCache | None = None,
    progress: bool = True,
    log_every: int = 200,
) -> StreamFeatures:
    """Features of every file through ``view``; failures become NaN rows with their error kept."""
    cache = cache or FeatureCache()
    start = time.monotonic()
    hits0 = cache.hits
    rows: list[dict[str, np.ndarray] | None] = []
    errors: dict[int, str] = {}
    iterator = enumerate(paths)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(paths), desc=f"{stream.name}/{view}", mininterval=5)
    for i, p in iterator:
        try:
            rows.append(features_of(stream, Path(p), view, seed, cache))
        except (DetectionError, OSError, ValueError, RuntimeError) as exc:
            rows.append(None)
            errors[i] = f"{type(exc).__name__}: {exc}"
        if log_every and (i + 1) % log_every == 0:
            log.info("%s/%s: %d/%d files, %d errors", stream.name, view, i + 1, len(paths), len(errors))
    dims: dict[str, int] = {}
    for r in rows:
        if r is not None:
            for k, v in r.items():
                dims.setdefault(k, v.size)
    names = {k: np.full((len(rows), d), np.nan, dtype=np.float32) for k, d in dims.items()}
    ok = np.zeros(len(rows), dtype=bool)
    for i, r in enumerate(rows):
        if r is None:
            continue
        if set(r) != set(dims) or any(r[k].size != dims[k] for k in dims):
            errors[i] = "feature names or sizes differ from the other files"
            continue
        for k, v in r.items():
            names[k][i] = v
        ok[i] = True
    return StreamFeatures(names, ok, errors, time.monotonic() - start, cache.hits - hits0)
