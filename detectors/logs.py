"""Logging to stdout and a rotating ``logs/deepfake_detection.log`` (as the usage guide expects)."""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path

LOG_FILE_NAME = "deepfake_detection.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replaces any configured secret (the API key, the secret key) in log messages."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._pattern = re.compile("|".join(re.escape(s) for s in secrets if len(s) >= 4)) if any(
            len(s) >= 4 for s in secrets
        ) else None

    def redact(self, text: str) -> str:
        return self._pattern.sub("[REDACTED]", text) if self._pattern is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is not None:
            msg = record.getMessage()
            if self._pattern.search(msg):
                record.msg, record.args = self.redact(msg), None
            # Tracebacks too: format the exception now (formatters reuse exc_text) and redact it.
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
            if record.stack_info:
                record.stack_info = self.redact(record.stack_info)
        return True


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret (4 characters or longer) replaced by ``[REDACTED]``."""
    return RedactSecrets(secrets).redact(text)


# Servers' own loggers that may log a request's traceback: they get the same filter.
THIRD_PARTY_LOGGERS = ("uvicorn.error", "uvicorn.access", "ray.serve")


def setup_logging(
    level: str = "INFO", log_dir: str | Path = "logs", secrets: list[str] | None = None, console=None
) -> Path:
    """Configure the ``deepfake`` loggers once per process; returns the log file path.

    The console handler writes to stdout (the service) unless ``console`` names another stream
    (the CLI logs to stderr so that its stdout stays machine-readable)."""
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE_NAME
    root = logging.getLogger("deepfake")
    root.setLevel(level)
    if not any(getattr(h, "_deepfake", False) for h in root.handlers):
        redact = RedactSecrets(secrets or [])
        for handler in (
            logging.StreamHandler(console or sys.stdout),
            logging.handlers.RotatingFileHandler(path, maxBytes=10 * 1024 * 1024, backupCount=5),
        ):
            handler.setFormatter(logging.Formatter(_FORMAT))
            handler.addFilter(redact)
            handler._deepfake = True  # type: ignore[attr-defined]
            root.addHandler(handler)
        root.propagate = False
        for name in THIRD_PARTY_LOGGERS:
            logging.getLogger(name).addFilter(redact)
    return path


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"deepfake.{name}")


def log_model_loaded(name: str, detail: str) -> None:
    """The guide's troubleshooting greps for "Model loaded"."""
    get_logger("models").info("Model loaded: %s (%s)", name, detail)
