"""The one place where exceptions become HTTP responses (and Socket.IO ``analysis_error`` payloads)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from deployments import metrics
from detectors.errors import DetectionError, OverloadedError, RateLimitedError
from detectors.logs import RedactSecrets, get_logger
from detectors.settings import get_settings

log = get_logger("errors")


def as_detection_error(exc: BaseException) -> DetectionError | None:
    """The typed error behind ``exc``, unwrapping Ray's task/replica wrappers; None if there is none."""
    if isinstance(exc, DetectionError):
        return exc
    cause = getattr(exc, "cause", None)
    if isinstance(cause, DetectionError):
        return cause
    name = type(exc).__name__
    if name in ("BackPressureError", "DeploymentUnavailableError"):
        return OverloadedError("the service is at capacity; retry shortly", retry_after=2.0)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or name in ("RequestCancelledError",):
        return OverloadedError("the analysis did not finish in time; retry later", retry_after=5.0)
    if name in ("ActorDiedError", "RayActorError", "ActorUnavailableError", "WorkerCrashedError"):
        return OverloadedError("a model replica restarted during the analysis; retry", retry_after=2.0)
    return None


def _redact(value: object, redactor: RedactSecrets) -> object:
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, dict):
        return {k: _redact(v, redactor) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v, redactor) for v in value]
    return value


def redact_body(body: dict) -> dict:
    """An error body without the configured secrets (a client may paste its key into a URL or path,
    and messages repeat what was sent)."""
    s = get_settings()
    return _redact(body, RedactSecrets([s.python_service_api_key.get_secret_value(),
                                        s.secret_key.get_secret_value()]))  # type: ignore[return-value]


def error_payload(exc: BaseException, count: bool = True) -> tuple[int, dict, dict]:
    """(status, JSON body, headers) for any exception; unknown errors become a logged 500.
    ``count``: record it in ``deepfake_rejected_total`` (False where the same error is answered
    again further up)."""
    err = as_detection_error(exc)
    if err is None:
        log.exception("internal error", exc_info=exc)
        if count:
            metrics.rejected("internal_error", 500)
        return 500, {"error": "internal_error", "message": "internal error; see the server log"}, {}
    if count:
        metrics.rejected(err.code, err.http_status)
    headers = {}
    if isinstance(err, (RateLimitedError, OverloadedError)):
        headers["Retry-After"] = str(max(1, int(round(err.retry_after))))
    return err.http_status, redact_body(err.to_dict()), headers


def install_error_handlers(app: FastAPI) -> None:
    """Typed errors → their status; validation errors → 400; everything else → JSON 500."""

    @app.exception_handler(DetectionError)
    async def _detection(_: Request, exc: DetectionError) -> JSONResponse:
        status, body, headers = error_payload(exc)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]), "problem": e.get("msg")} for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid_request", "message": "the request body is not valid",
                             "details": {"problems": problems}}, status_code=400)

    @app.exception_handler(ClientDisconnect)
    async def _gone(_: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client left while its body was read: not a server fault (no 500, no traceback in the log).
        log.info("client disconnected before its request body was read")
        return JSONResponse({"error": "client_disconnected", "message": "the client disconnected"}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "message": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _other(_: Request, exc: Exception) -> JSONResponse:
        status, body, headers = error_payload(exc)
        return JSONResponse(body, status_code=status, headers=headers)
