"""A disk cache of extracted features, keyed by file content and extractor version.

Training and evaluation extract the same frozen features (CLIP, Whisper, forensic statistics ...)
from the same corpus many times: with a different head, another fold, a new calibration. The
cache makes every run after the first one read arrays instead of running a backbone. A key is
(extractor name, extractor version, content key); the content key is the sha256 of the file, plus
the name of the view or augmentation when one file yields several inputs. Bumping an extractor's
version is how its cached features are invalidated.

Layout: ``<root>/<extractor>/<version>/<key[:2]>/<key>.npz``; writes are atomic (temp file and
rename), so an interrupted run leaves no half-written entry and concurrent writers are safe.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "deepfake-detection" / "features"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")

Features = np.ndarray | Mapping[str, np.ndarray]


def default_cache_dir() -> Path:
    """``DEEPFAKE_FEATURE_CACHE`` if set, else ``~/.cache/deepfake-detection/features``."""
    return Path(os.environ.get("DEEPFAKE_FEATURE_CACHE") or DEFAULT_CACHE_DIR)


@lru_cache(maxsize=65536)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_key(path: str | Path) -> str:
    """sha256 of a file's bytes (memoised per path, size and modification time)."""
    st = os.stat(path)
    return _sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def derived_key(base: str, *parts: object) -> str:
    """A content key for one view / augmentation of a file: sha256 of the base key and the parts."""
    text = "\x1f".join([base, *(str(p) for p in parts)])
    return hashlib.sha256(text.encode()).hexdigest()


class FeatureCache:
    """Get, put and get-or-compute feature arrays (or dicts of arrays) by extractor and content key."""

    def __init__(self, root: str | Path | None = None, read_only: bool = False) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.read_only = read_only
        self.hits = 0
        self.misses = 0

    def path(self, extractor: str, version: str, key: str) -> Path:
        for name, value in (("extractor", extractor), ("version", version), ("key", key)):
            if not _SAFE.match(value):
                raise ValueError(f"feature cache {name} {value!r} is not a safe file name")
        return self.root / extractor / version / key[:2] / f"{key}.npz"

    def get(self, extractor: str, version: str, key: str) -> Features | None:
        """The cached features, or None. A single array comes back as an array, a dict as a dict."""
        p = self.path(extractor, version, key)
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError):
            return None  # unreadable entry: recompute (and overwrite) rather than fail a training run
        return arrays["__array__"] if set(arrays) == {"__array__"} else arrays

    def put(self, extractor: str, version: str, key: str, value: Features) -> None:
        if self.read_only:
            return
        arrays = {"__array__": np.asarray(value)} if isinstance(value, np.ndarray) else dict(value)
        p = self.path(extractor, version, key)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_or_compute(self, extractor: str, version: str, key: str, compute: Callable[[], Features]) -> Features:
        """Cached features for the key, computing and storing them on a miss."""
        found = self.get(extractor, version, key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        value = compute()
        self.put(extractor, version, key, value)
        return value
