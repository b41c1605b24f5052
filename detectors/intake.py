"""Turn what a user sent (a URL, an uploaded file, a local path) into a checked ``MediaRef``.

Shared by the CLI, the batch job and the service's MediaFetcher deployment. Every refusal is a
typed error from ``detectors.errors``.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from detectors.errors import InvalidRequestError, LocalPathNotAllowedError, MediaTooLargeError, NotFoundError
from detectors.fetch import FetchPolicy, fetch_to_file
from detectors.media import MediaRef, make_media_ref
from detectors.schema import MediaType
from detectors.settings import Settings

MEDIA_TYPES: tuple[MediaType, ...] = ("image", "video", "audio")


def parse_media_type(value: str | None) -> MediaType | None:
    """Validate a user-supplied ``media_type`` (None/"" means: infer it from the bytes)."""
    if value in (None, "", "auto"):
        return None
    v = str(value).strip().lower()
    if v not in MEDIA_TYPES:
        raise InvalidRequestError(f"media_type must be one of {list(MEDIA_TYPES)}, not '{value}'")
    return v  # type: ignore[return-value]


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        max_bytes=settings.max_upload_bytes,
        connect_timeout=settings.fetch_connect_timeout,
        read_timeout=settings.fetch_read_timeout,
        max_redirects=settings.fetch_max_redirects,
        total_timeout=settings.fetch_total_timeout,
        allow_private=settings.allow_private_urls,
    )


def new_scratch_dir(settings: Settings, prefix: str = "job-") -> Path:
    """A fresh private folder under UPLOAD_FOLDER; the caller removes it with ``remove_scratch``."""
    root = Path(settings.upload_folder)
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


def remove_scratch(path: Path | str | None) -> None:
    if path:
        shutil.rmtree(path, ignore_errors=True)


class Scratch:
    """One job's private folder under UPLOAD_FOLDER, made on first use (``scratch / name``,
    ``str(scratch)``) and removed by ``remove``. Only a download or an upload needs one, and an
    empty folder is not free: creating and removing one costs about 4 ms on the project's ext4
    machine, per request or per batch file."""

    def __init__(self, settings: Settings, prefix: str = "job-") -> None:
        self.settings, self.prefix = settings, prefix
        self._path: Path | None = None

    @property
    def made(self) -> bool:
        return self._path is not None

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = new_scratch_dir(self.settings, self.prefix)
        return self._path

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def remove(self) -> None:
        if self._path is not None:
            remove_scratch(self._path)
            self._path = None


def is_url(text: str) -> bool:
    return urlsplit(text).scheme.lower() in ("http", "https", "ftp", "file", "gopher", "data")


def fetch_url(url: str, media_type: MediaType | None, settings: Settings, scratch: Path | Scratch) -> MediaRef:
    """Download a URL into ``scratch`` and sniff it."""
    dest = scratch / f"url-{uuid.uuid4().hex}"
    fetch_to_file(url, dest, fetch_policy(settings))
    return make_media_ref(dest, media_type, source=url)


def check_upload_size(size: int, settings: Settings) -> None:
    if size > settings.max_upload_bytes:
        raise MediaTooLargeError(
            f"the upload is {size} bytes, over the limit of {settings.max_upload_bytes}",
            limit=settings.max_upload_bytes,
        )


def adopt_file(path: Path, media_type: MediaType | None, settings: Settings, source: str | None) -> MediaRef:
    """Sniff a file already on scratch (an upload) and check its size."""
    check_upload_size(path.stat().st_size, settings)
    return make_media_ref(path, media_type, source=source)


def resolve_local_path(text: str, settings: Settings) -> Path:
    """A local path the server may read: only when ALLOW_LOCAL_PATHS is on, and inside
    LOCAL_PATH_ROOTS when those are set."""
    if not settings.allow_local_paths:
        raise LocalPathNotAllowedError(
            "local file paths are not accepted by this server (set ALLOW_LOCAL_PATHS=true to allow them)"
        )
    path = Path(text.removeprefix("file://")).expanduser().resolve()
    roots = [Path(r).expanduser().resolve() for r in settings.local_path_roots]
    if roots and not any(path.is_relative_to(r) for r in roots):
        raise LocalPathNotAllowedError(f"'{path}' is outside the allowed LOCAL_PATH_ROOTS")
    if not path.is_file():
        raise NotFoundError(f"no such file: {path}")
    return path


def adopt_local_path(text: str, media_type: MediaType | None, settings: Settings) -> MediaRef:
    path = resolve_local_path(text, settings)
    check_upload_size(path.stat().st_size, settings)
    return make_media_ref(path, media_type, source=text)


def open_source(text: str, media_type: MediaType | None, settings: Settings, scratch: Path | Scratch) -> MediaRef:
    """A URL (http/https) or a local path, as the CLI and the batch job accept them; a download goes
    into ``scratch`` (a lazy ``Scratch`` is made only then)."""
    if is_url(text):
        return fetch_url(text, media_type, settings, scratch)
    return adopt_local_path(text, media_type, settings)
