"""Shared fixtures: the shared data folder (skipped when absent) and test settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("DEEPFAKE_SHARED_DATA", ROOT.parent / "shared" / "data" / "train"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data/train, or skip with a clear message when it is not there."""
    if not (SHARED_DATA / "manifest.csv").exists():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set DEEPFAKE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture()
def settings(tmp_path):
    from detectors.settings import Settings

    return Settings(upload_folder=tmp_path / "scratch", log_dir=tmp_path / "logs", environment="test")
