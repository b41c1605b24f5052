"""One typed settings object, read from the environment and ``.env``; a bad value fails at start."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_PATH = PROJECT_ROOT / "models"


class Settings(BaseSettings):
    """Service and library settings. Names are the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(
        env_file=(PROJECT_ROOT / ".env", ".env"), env_file_encoding="utf-8", extra="ignore"
    )

    # The usage guide's variables.
    secret_key: SecretStr = Field(default=SecretStr(""), description="Signs job tokens; required in production.")
    python_service_api_key: SecretStr = Field(default=SecretStr(""), description="X-API-Key for analysis endpoints.")
    model_path: Path = Field(default=DEFAULT_MODEL_PATH, description="Folder with the detectors' weights.")
    upload_folder: Path = Field(default=PROJECT_ROOT / "temp", description="Scratch for fetched and uploaded media.")
    environment: Literal["development", "production", "test"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_dir: Path = PROJECT_ROOT / "logs"

    # Server.
    host: str = "0.0.0.0"
    port: int = Field(default=8000, ge=1, le=65535)

    # Detector choice by registered name; a transformers checkpoint folder or hub id in
    # IMAGE_MODEL / AUDIO_MODEL selects the transformers path ("image-hf" / "audio-hf").
    image_detector: str = "image-clip"
    audio_detector: str = "audio-whisper"
    video_detector: str = "video-v2"
    detector_plugins: list[str] = Field(
        default_factory=list, description="Extra modules to import that register detectors (by name)."
    )
    image_model: str | None = Field(default=None, description="AutoModelForImageClassification dir or id.")
    audio_model: str | None = Field(default=None, description="AutoModelForAudioClassification dir or id.")
    torch_threads: int = Field(default=1, ge=1, le=64)
    analysis_concurrency: int = Field(
        default=2, ge=1, le=16,
        description="Recipes one Analysis replica runs at once, each with its own host detectors (not thread-safe).")
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="Model replicas: CUDA when a GPU is visible (auto), or force cpu / cuda.")

    # Limits.
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=50_000_000, gt=0)
    max_video_seconds: float = Field(default=900.0, gt=0)
    max_video_frames: int = Field(default=30, ge=1, le=600, description="Frames sampled per video.")
    max_audio_seconds: float = Field(default=900.0, gt=0)
    max_batch_items: int = Field(default=10, ge=1, le=1000)

    # Intake policy.
    allow_local_paths: bool = False
    local_path_roots: list[Path] = Field(default_factory=list)
    allow_private_urls: bool = False
    fetch_connect_timeout: float = Field(default=5.0, gt=0)
    fetch_read_timeout: float = Field(default=30.0, gt=0)
    fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    fetch_total_timeout: float = Field(default=120.0, gt=0, description="Whole download, redirects included.")

    # Protection.
    rate_limit_per_minute: int = Field(default=120, ge=0, description="Requests per API key per minute; 0 = off.")
    request_timeout_s: float = Field(default=300.0, gt=0)
    max_concurrent_analyses: int = Field(default=32, ge=1, description="Per ingress replica; more wait.")
    max_queued_analyses: int = Field(default=64, ge=0, description="Waiting per ingress replica; more get 503.")
    queue_timeout_s: float = Field(default=10.0, gt=0, description="Longest wait for a slot before 503.")

    # Jobs (asynchronous batches, /api/jobs).
    job_db_path: Path = PROJECT_ROOT / "temp" / "jobs.sqlite3"
    max_job_items: int = Field(default=1000, ge=1, le=100_000)
    job_concurrency: int = Field(default=4, ge=1, le=64, description="Items of one job analysed at once.")
    job_lease_s: float = Field(default=30.0, gt=0, description="A runner that stops renewing loses its jobs.")
    job_retention_s: float = Field(default=7 * 24 * 3600.0, gt=0, description="Finished jobs are kept this long.")

    @model_validator(mode="after")
    def _absolute_paths(self) -> Settings:
        # Ray replicas may run in another working directory: fix relative paths once, here.
        for name in ("model_path", "upload_folder", "log_dir", "job_db_path"):
            object.__setattr__(self, name, Path(getattr(self, name)).expanduser().resolve())
        return self

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.environment == "production":
            if not self.python_service_api_key.get_secret_value():
                raise ValueError("PYTHON_SERVICE_API_KEY must be set when ENVIRONMENT=production")
            if not self.secret_key.get_secret_value():
                raise ValueError("SECRET_KEY must be set when ENVIRONMENT=production")
        return self

    @property
    def auth_enabled(self) -> bool:
        return bool(self.python_service_api_key.get_secret_value())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
