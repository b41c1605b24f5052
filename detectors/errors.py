"""Typed errors raised by the library; the ingress maps each to one HTTP status in one place."""

from __future__ import annotations


class DetectionError(Exception):
    """Base class: every error a user can cause carries a stable code and an HTTP status."""

    code = "detection_error"
    http_status = 400

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict:
        body: dict = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidRequestError(DetectionError):
    code = "invalid_request"
    http_status = 400


class AuthenticationError(DetectionError):
    code = "unauthorized"
    http_status = 401


class UnsupportedMediaError(DetectionError):
    code = "unsupported_media_type"
    http_status = 415


class MediaTypeMismatchError(UnsupportedMediaError):
    code = "media_type_mismatch"


class MediaTooLargeError(DetectionError):
    code = "media_too_large"
    http_status = 413


class CorruptMediaError(DetectionError):
    code = "corrupt_media"
    http_status = 422


class FetchError(DetectionError):
    """The media URL could not be fetched (unreachable, timed out, HTTP error)."""

    code = "fetch_failed"
    http_status = 422


class ForbiddenURLError(FetchError):
    """The URL points at a private, loopback, link-local or metadata address, or a bad scheme."""

    code = "forbidden_url"
    http_status = 400


class LocalPathNotAllowedError(DetectionError):
    code = "local_path_not_allowed"
    http_status = 403


class NotFoundError(DetectionError):
    code = "not_found"
    http_status = 404


class RateLimitedError(DetectionError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after: float, **details: object) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class OverloadedError(DetectionError):
    code = "overloaded"
    http_status = 503

    def __init__(self, message: str, retry_after: float = 1.0, **details: object) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class ModelNotReadyError(DetectionError):
    code = "model_not_ready"
    http_status = 503
