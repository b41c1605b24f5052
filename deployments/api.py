"""The REST API (FastAPI): routes, authentication and intake; analysis runs through the graph.

``create_api(service)`` builds the app from a ``Service``; the Serve ingress gives it real
deployment handles, tests may give it stand-ins.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from deployments import metrics
from deployments.errors import error_payload, install_error_handlers
from deployments.orchestrator import Emit, GraphHandles, Intake, Orchestrator, no_emit
from deployments.progress import MemoryHub, ProgressHub
from deployments.ratelimit import check_rate, install_admission_gate
from deployments.transfer import server_timing
from detectors import __version__, intake
from detectors.errors import AuthenticationError, DetectionError, InvalidRequestError, MediaTooLargeError
from detectors.intake import Scratch
from detectors.logs import get_logger
from detectors.media import MediaRef
from detectors.schema import AnalysisResult
from detectors.settings import Settings

log = get_logger("api")
JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
UPLOAD_CHUNK = 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024


class AnalyzeRequest(BaseModel):
    """JSON body of ``POST /api/analyze`` (the usage guide's fields)."""

    media_url: str = Field(..., min_length=1, max_length=4096, description="http(s) URL, or a server path if allowed")
    media_type: str | None = Field(default=None, description="image | video | audio; sniffed when omitted")
    job_id: str | None = Field(default=None, description="Optional client-chosen id to follow progress over Socket.IO")


class BatchRequest(BaseModel):
    media_list: list[AnalyzeRequest] = Field(..., min_length=1)


class Service:
    """Intake, analysis and progress for one ingress replica."""

    def __init__(self, settings: Settings, handles: GraphHandles, hub: ProgressHub | None = None) -> None:
        self.settings = settings
        self.handles = handles
        self.intake_files = Intake(settings)
        self.orchestrator = Orchestrator(handles)
        self.hub: ProgressHub = hub or MemoryHub()
        self.started = time.time()

    def new_job_id(self, requested: str | None = None) -> str:
        if requested is None:
            return uuid.uuid4().hex
        if not JOB_ID_RE.match(requested):
            raise InvalidRequestError("job_id must be 8-64 letters, digits, '-' or '_'")
        return requested

    def emitter(self, job_id: str, extra: Emit | None = None) -> Emit:
        """Progress events of one job go to the hub (and so to the job's Socket.IO room)."""

        async def emit(stage: str, percent: float, message: str, partial: dict | None) -> None:
            data = {"job_id": job_id, "stage": stage, "progress": percent, "message": message}
            if partial:
                data["partial"] = partial
            await self.hub.publish(job_id, "progress_update", data)
            if extra is not None:
                await extra(stage, percent, message, partial)

        return emit

    async def intake(self, media_url: str, media_type: str | None, scratch: Path | Scratch) -> MediaRef:
        mt = intake.parse_media_type(media_type)
        if intake.is_url(media_url):
            return await self.intake_files.fetch_url(media_url, mt, str(scratch))
        return await self.intake_files.adopt_local(media_url, mt)

    async def run(self, job_id: str, ref_factory: Any, emit: Emit = no_emit, follow: bool = True,
                  timings: dict[str, float] | None = None) -> AnalysisResult:
        """Intake (via ``ref_factory(scratch)``), analyse, publish the outcome; scratch always removed.

        ``follow``: someone may listen (a Socket.IO start, or a client-chosen job id): the job's
        events go to the progress hub (started, the recipe's stages, the outcome). Otherwise nobody
        can know the job id before the answer: no event is published, and the analysis is one call
        to the Analysis deployment. ``timings``, when given, gets the seconds per step (intake, the
        Analysis call and what it reports, total) for the ``Server-Timing`` header."""
        scratch = Scratch(self.settings)
        emit = self.emitter(job_id, emit) if follow else emit
        start = time.perf_counter()
        try:
            if follow:
                await emit("started", 0.0, "analysis started", None)
            ref = await ref_factory(scratch)
            intake_s = time.perf_counter() - start
            metrics.stage(ref.media_type, "intake", intake_s)
            steps: dict[str, float] = {"intake": intake_s}
            result = await asyncio.wait_for(self.orchestrator.analyze(ref, emit, follow, steps),
                                            self.settings.request_timeout_s)
            result.job_id = job_id
            result.source = ref.source
            total = time.perf_counter() - start
            result.processing_time = round(total, 3)
            metrics.stage(ref.media_type, "total", result.processing_time)
            metrics.finished(ref.media_type, result.verdict, result.model_used)
            if follow:
                await self.hub.publish(job_id, "analysis_complete", result.to_json_dict())
            if timings is not None:
                timings.update(steps)
                timings["ingress"] = total
            return result
        except BaseException as exc:
            if follow:
                status, body, _ = error_payload(exc, count=False)  # counted where the error is answered
                await self.hub.publish(job_id, "analysis_error", {"job_id": job_id, "status": status, **body})
            raise
        finally:
            scratch.remove()

    async def analyze_url(self, req: AnalyzeRequest, job_id: str, emit: Emit = no_emit,
                          follow: bool = True, timings: dict[str, float] | None = None) -> AnalysisResult:
        return await self.run(job_id, lambda scratch: self.intake(req.media_url, req.media_type, scratch), emit,
                              follow, timings)

    async def status(self) -> dict:
        async def info(name: str, handle: Any) -> tuple[str, Any]:
            try:
                return name, await asyncio.wait_for(handle.info.remote(), 5.0)
            except Exception as exc:  # reported, not raised: status must answer while a model is down
                return name, {"error": type(exc).__name__}

        pairs = await asyncio.gather(
            *(info(n, getattr(self.handles, n)) for n in ("analysis", "image_model", "audio_model"))
        )
        deployments = dict(pairs)
        ready = all("error" not in v for v in deployments.values())
        return {"status": "ready" if ready else "degraded", "models_ready": ready, "version": __version__,
                "uptime_s": round(time.time() - self.started, 1), "deployments": deployments,
                "operating_points": collect_operating_points(deployments)}


def collect_operating_points(deployments: dict[str, Any]) -> dict[str, Any]:
    """Each loaded detector's verdict operating points and measured error rates, by detector name.

    Deployments report ``{modality: detector_status(...)}``; the same detector loaded in several
    deployments (its host part in Analysis, its model part in a model deployment) is listed once.
    """
    out: dict[str, Any] = {}
    for info in deployments.values():
        if not isinstance(info, dict):
            continue
        for entry in info.values():
            if isinstance(entry, dict) and entry.get("name") and "operating_points" in entry:
                out.setdefault(entry["name"], {"modality": entry.get("modality"), **(entry["operating_points"] or {})})
    return out


def transfer_header(result: AnalysisResult) -> dict[str, str]:
    """``X-Bytes-Moved: hop=bytes;...``: what the analysis moved between processes (benchmarks read it)."""
    hops = result.transfer
    return {"X-Bytes-Moved": ";".join(f"{k}={v}" for k, v in sorted(hops.items()))} if hops else {}


def response_headers(result: AnalysisResult, timings: dict[str, float]) -> dict[str, str]:
    """``X-Bytes-Moved`` and ``Server-Timing`` (seconds per step as the ingress and Analysis saw
    them: intake, analysis call, queue, recipe, models, ingress total; in ms) of one analysis."""
    headers = transfer_header(result)
    if timings:
        headers["Server-Timing"] = server_timing(timings)
    return headers


def _check_key(settings: Settings, provided: str | None) -> None:
    expected = settings.python_service_api_key.get_secret_value()
    if not expected:
        return
    if not provided:
        raise AuthenticationError("missing API key: send it in the X-API-Key header")
    if not hmac.compare_digest(provided.encode(), expected.encode()):
        raise AuthenticationError("invalid API key")


async def require_key(request: Request) -> str:
    """Dependency of every analysis endpoint: the X-API-Key header, compared in constant time."""
    key = request.headers.get("x-api-key")
    _check_key(request.app.state.service.settings, key)
    check_rate(request, key)  # 429 with Retry-After past RATE_LIMIT_PER_MINUTE for this key
    return key or "anonymous"


ApiKey = Annotated[str, Depends(require_key)]


async def _save_upload(upload: Any, dest: Path, limit: int) -> int:
    written = 0
    with open(dest, "wb") as fh:
        while chunk := await upload.read(UPLOAD_CHUNK):
            written += len(chunk)
            if written > limit:
                raise MediaTooLargeError(f"the upload is over the limit of {limit} bytes", limit=limit)
            fh.write(chunk)
    return written


def create_api(service: Service) -> FastAPI:
    settings = service.settings
    app = FastAPI(
        title="Deepfake detection",
        version=__version__,
        description="Detects manipulated or synthesised images, videos and audio. See the README.",
    )
    install_error_handlers(app)
    app.state.service = service
    install_admission_gate(app, settings)  # 503 with Retry-After when saturated, never a hang

    @app.get("/api/health", tags=["ops"])
    async def health() -> dict:
        """Liveness: the ingress answers. No key needed."""
        return {"status": "ok", "version": __version__}

    @app.get("/api/status", tags=["ops"])
    async def status() -> dict:
        """Readiness: each deployment's detectors, loaded state and weights version."""
        return await service.status()

    @app.post("/api/analyze", tags=["analysis"], response_model=None)
    async def analyze(request: Request, _key: ApiKey) -> JSONResponse:
        """Analyse one medium: JSON ``{"media_url", "media_type"}`` or a multipart ``file`` upload."""
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            return await _analyze_upload(request)
        if not ctype.startswith("application/json"):
            raise InvalidRequestError("send JSON (application/json) or a multipart/form-data upload")
        try:
            body = AnalyzeRequest.model_validate(await request.json())
        except ValueError as exc:
            raise InvalidRequestError(f"invalid JSON body: {exc}") from exc
        job_id = service.new_job_id(body.job_id)
        timings: dict[str, float] = {}
        result = await service.analyze_url(body, job_id, follow=body.job_id is not None, timings=timings)
        return JSONResponse(result.to_json_dict(), headers=response_headers(result, timings))

    async def _analyze_upload(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes + MULTIPART_OVERHEAD:
            raise MediaTooLargeError(
                f"the upload is {int(declared)} bytes, over the limit of {settings.max_upload_bytes}",
                limit=settings.max_upload_bytes,
            )
        form = await request.form(max_files=1, max_fields=8)
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InvalidRequestError("multipart upload needs a 'file' field")
            media_type = form.get("media_type")
            requested = form.get("job_id")
            job_id = service.new_job_id(requested if isinstance(requested, str) and requested else None)

            async def ref_factory(scratch: Path) -> MediaRef:
                dest = scratch / f"upload-{uuid.uuid4().hex}"
                await _save_upload(upload, dest, settings.max_upload_bytes)
                mt = intake.parse_media_type(media_type if isinstance(media_type, str) else None)
                return await service.intake_files.adopt_upload(str(dest), mt, upload.filename)

            timings: dict[str, float] = {}
            result = await service.run(job_id, ref_factory, follow=bool(requested), timings=timings)
            return JSONResponse(result.to_json_dict(), headers=response_headers(result, timings))
        finally:
            await form.close()

    from deployments.api_jobs import BATCH_OPENAPI, run_batch_request
    from deployments.api_jobs import router as jobs_router

    @app.post("/api/batch-analyze", tags=["analysis"], openapi_extra=BATCH_OPENAPI)
    async def batch_analyze(request: Request, _key: ApiKey) -> JSONResponse:
        """Analyse several media concurrently (JSON ``media_list`` or multipart ``file`` fields, at most
        MAX_BATCH_ITEMS); each item gets its result or its own error."""
        return JSONResponse(await run_batch_request(service, request))

    app.include_router(jobs_router)  # /api/jobs: asynchronous batch jobs (deployments/api_jobs.py)

    return app


__all__ = ["AnalyzeRequest", "BatchRequest", "DetectionError", "Service", "create_api"]
