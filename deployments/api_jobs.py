"""Batches of media over the REST API: ``/api/batch-analyze`` (a handful, one response) and
asynchronous jobs (``/api/jobs``: submit → job id → status/progress → results) kept in ``JobStore``.

Both read the same request (JSON ``media_list`` or multipart ``file`` fields) and run each item
through ``Service.run``: items fan out concurrently over the graph's replicas, and each gets its
own result or its own error. Jobs run in the background of the ingress that took them, with a
bounded number of items in flight, and report progress to the job's Socket.IO room through
``service.hub``; their state lives in SQLite so a restarted ingress resumes unfinished jobs and
still serves finished results.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from deployments.api import (
    JOB_ID_RE,
    MULTIPART_OVERHEAD,
    AnalyzeRequest,
    ApiKey,
    Service,
    _save_upload,
)
from deployments.errors import error_payload
from deployments.jobs import ITEM_STATES, Job, JobItem, JobStore, NewItem, new_runner_id
from detectors import intake
from detectors.errors import InvalidRequestError, MediaTooLargeError, NotFoundError
from detectors.intake import Scratch
from detectors.logs import get_logger
from detectors.settings import Settings

log = get_logger("jobs")

# Defaults until Settings carries them (see ``JobConfig.from_settings``).
DEFAULT_MAX_JOB_ITEMS = 1000
DEFAULT_JOB_CONCURRENCY = 4
DEFAULT_LEASE_S = 30.0
DEFAULT_RETENTION_S = 7 * 24 * 3600.0
MAX_ITEM_ATTEMPTS = 3  # an item interrupted this often (ingress restarts) is recorded as an error
OVERLOAD_RETRIES = 3  # a job item refused for back-pressure (503) is retried this often


@dataclass(frozen=True)
class JobConfig:
    """Job limits and timings; read from ``Settings`` where it has them (``max_job_items``,
    ``job_concurrency``, ``job_lease_s``, ``job_retention_s``), else the defaults above."""

    max_items: int = DEFAULT_MAX_JOB_ITEMS
    concurrency: int = DEFAULT_JOB_CONCURRENCY
    lease_s: float = DEFAULT_LEASE_S
    retention_s: float = DEFAULT_RETENTION_S

    @classmethod
    def from_settings(cls, settings: Settings) -> JobConfig:
        return cls(
            max_items=int(getattr(settings, "max_job_items", DEFAULT_MAX_JOB_ITEMS)),
            concurrency=int(getattr(settings, "job_concurrency", DEFAULT_JOB_CONCURRENCY)),
            lease_s=float(getattr(settings, "job_lease_s", DEFAULT_LEASE_S)),
            retention_s=float(getattr(settings, "job_retention_s", DEFAULT_RETENTION_S)),
        )


class JobRequest(BaseModel):
    """JSON body of ``POST /api/jobs``: the batch body, plus an optional client-chosen job id."""

    media_list: list[AnalyzeRequest] = Field(..., min_length=1)
    job_id: str | None = Field(default=None, description="Optional id (also the Socket.IO room of the job)")


BATCH_OPENAPI: dict = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {
                "type": "object", "required": ["media_list"],
                "properties": {"media_list": {"type": "array", "items": {
                    "type": "object", "required": ["media_url"],
                    "properties": {"media_url": {"type": "string"}, "media_type": {"type": "string"},
                                   "job_id": {"type": "string"}}}},
                               "job_id": {"type": "string"}}}},
            "multipart/form-data": {"schema": {
                "type": "object",
                "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                               "media_type": {"type": "string"}, "job_id": {"type": "string"}}}},
        },
    }
}


# -- reading a batch request -------------------------------------------------------------------


@dataclass
class BatchBody:
    """A parsed batch request: its items (uploads already saved under ``dest``) and the optional job id."""

    items: list[NewItem]
    job_id: str | None = None


def _too_many(n: int, limit: int, hint: str) -> InvalidRequestError:
    return InvalidRequestError(f"{n} items is over the limit of {limit}; {hint}", limit=limit, items=n)


async def read_batch(request: Request, settings: Settings, limit: int, dest: Path | Scratch, hint: str) -> BatchBody:
    """JSON ``{"media_list": [...]}`` or multipart ``file`` fields (saved into ``dest``), at most
    ``limit`` items; raises ``InvalidRequestError`` (400) beyond it."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        return await _read_multipart(request, settings, limit, dest, hint)
    if not ctype.startswith("application/json"):
        raise InvalidRequestError("send JSON (application/json) or a multipart/form-data upload")
    try:
        raw = await request.json()
    except ValueError as exc:
        raise InvalidRequestError(f"the body is not valid JSON: {exc}") from exc
    if isinstance(raw, dict) and isinstance(raw.get("media_list"), list) and len(raw["media_list"]) > limit:
        raise _too_many(len(raw["media_list"]), limit, hint)
    try:
        body = JobRequest.model_validate(raw)
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg")}
                    for e in exc.errors()]
        raise InvalidRequestError("the request body is not valid", problems=problems) from exc
    items = [NewItem(source=it.media_url, media_type=it.media_type, item_job_id=it.job_id) for it in body.media_list]
    return BatchBody(items, body.job_id)


async def _read_multipart(request: Request, settings: Settings, limit: int, dest: Path | Scratch,
                          hint: str) -> BatchBody:
    declared = request.headers.get("content-length")
    cap = limit * (settings.max_upload_bytes + MULTIPART_OVERHEAD)
    if declared and declared.isdigit() and int(declared) > cap:
        raise MediaTooLargeError(f"the upload is {int(declared)} bytes, over the limit of {cap} for {limit} files",
                                 limit=cap)
    try:
        form = await request.form(max_files=limit, max_fields=8)
    except Exception as exc:  # starlette: HTTPException(400) for too many files or fields, a bad body
        detail = str(getattr(exc, "detail", exc))
        if "Too many files" in detail:
            raise _too_many(limit + 1, limit, hint) from exc
        raise InvalidRequestError(f"cannot read the multipart body: {detail}") from exc
    try:
        uploads = [f for f in form.getlist("file") if not isinstance(f, str)]
        if not uploads:
            raise InvalidRequestError("a multipart batch needs one or more 'file' fields")
        media_type = form.get("media_type")
        media_type = media_type if isinstance(media_type, str) and media_type else None
        intake.parse_media_type(media_type)  # a bad value is the whole request's error
        job_id = form.get("job_id")
        dest = Path(dest)  # a lazy Scratch is made here
        dest.mkdir(parents=True, exist_ok=True)
        items = []
        for i, upload in enumerate(uploads):
            path = dest / f"upload-{i:05d}-{uuid.uuid4().hex[:8]}"
            await _save_upload(upload, path, settings.max_upload_bytes)
            items.append(NewItem(source=upload.filename or path.name, media_type=media_type, upload_path=str(path)))
        return BatchBody(items, job_id if isinstance(job_id, str) and job_id else None)
    finally:
        await form.close()


# -- one item ----------------------------------------------------------------------------------


async def analyze_item(service: Service, item: NewItem, job_id: str | None) -> dict:
    """Run one item through the graph: ``{"ok": True, "result"}`` or ``{"ok": False, "status", "error",
    "message"}``. Never raises for an item's own failure (bad URL, corrupt file, timeout ...)."""
    try:
        item_job = service.new_job_id(job_id)
        if item.upload_path:
            upload_path = item.upload_path

            async def ref_factory(scratch: Path) -> Any:
                mt = intake.parse_media_type(item.media_type)
                return await service.intake_files.adopt_upload(upload_path, mt, item.source)
        else:
            def ref_factory(scratch: Path) -> Any:
                return service.intake(item.source, item.media_type, scratch)

        result = await service.run(item_job, ref_factory, follow=job_id is not None)
        return {"ok": True, "result": result.to_json_dict()}
    except Exception as exc:
        status, err, headers = error_payload(exc)
        out = {"ok": False, "status": status, **err}
        if "Retry-After" in headers:
            out["retry_after"] = float(headers["Retry-After"])
        return out


async def run_batch_request(service: Service, request: Request) -> dict:
    """``POST /api/batch-analyze``: all items concurrently (they spread over the model replicas)."""
    settings = service.settings
    scratch = Scratch(settings, prefix="batch-")  # made only for multipart uploads
    try:
        body = await read_batch(request, settings, settings.max_batch_items, scratch,
                                "send fewer items, or submit a job (POST /api/jobs) or use deepfake-batch")

        async def one(index: int, item: NewItem) -> dict:
            outcome = await analyze_item(service, item, item.item_job_id)
            outcome.pop("retry_after", None)
            return {"index": index, "source": item.source, **outcome}

        items = await asyncio.gather(*(one(i, it) for i, it in enumerate(body.items)))
    finally:
        scratch.remove()
    failed = sum(1 for it in items if not it["ok"])
    return {"results": items, "total": len(items), "succeeded": len(items) - failed, "failed": failed}


# -- the background runner ---------------------------------------------------------------------


def owner_of(key: str) -> str:
    """Who may see a job: a digest of the API key that submitted it ("anonymous" with auth off)."""
    return "anonymous" if key == "anonymous" else hashlib.sha256(key.encode()).hexdigest()[:24]


def files_root(settings: Settings) -> Path:
    """Uploads of jobs are kept beside the job database (the same volume) until the job ends."""
    return Path(settings.job_db_path).parent / "job-files"


class JobRunner:
    """Runs this ingress's jobs in the background and adopts jobs whose runner died.

    Holds a lease on each job it runs and renews it; a sweeper claims unfinished jobs with an
    expired lease (after a restart, or from a dead replica) and purges jobs past retention.
    """

    def __init__(self, service: Service, store: JobStore, config: JobConfig) -> None:
        self.service = service
        self.store = store
        self.config = config
        self.runner_id = new_runner_id()
        self.slots = asyncio.Semaphore(config.concurrency)
        self.tasks: dict[str, asyncio.Task] = {}
        self._sweeper: asyncio.Task | None = None

    def start(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(), name="job-sweeper")

    async def stop(self, release: bool = True) -> None:
        """Stop working. ``release`` hands the leases back at once (a clean shutdown); without it
        they run out after ``lease_s``, as when the process dies."""
        running = list(self.tasks)
        tasks = [t for t in [self._sweeper, *self.tasks.values()] if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if release and running:
            await asyncio.to_thread(self.store.renew, running, self.runner_id, -1.0)
        self.tasks.clear()
        self._sweeper = None

    async def submit(self, job_id: str) -> bool:
        """Claim a job and run it here; False if another runner holds it."""
        if job_id in self.tasks:
            return True
        if not await asyncio.to_thread(self.store.claim, job_id, self.runner_id, self.config.lease_s):
            return False
        if job_id in self.tasks:  # claimed meanwhile by this runner (the sweeper and a request at once)
            return True
        task = asyncio.get_running_loop().create_task(self._run(job_id), name=f"job-{job_id}")
        self.tasks[job_id] = task
        task.add_done_callback(lambda t, j=job_id: self._done(j, t))
        return True

    def _done(self, job_id: str, task: asyncio.Task) -> None:
        self.tasks.pop(job_id, None)
        if not task.cancelled() and task.exception() is not None:
            # The lease is no longer renewed: the sweeper adopts the job again once it runs out.
            log.error("job %s stopped on an error; it resumes after its lease runs out", job_id,
                      exc_info=task.exception())

    async def _sweep_forever(self) -> None:
        period = max(0.05, self.config.lease_s / 3)
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # the sweeper must survive a locked or briefly unavailable database
                log.exception("job sweeper failed; retrying")
            await asyncio.sleep(period)

    async def sweep(self) -> None:
        """Renew our leases, adopt orphaned jobs, purge expired ones."""
        held = await asyncio.to_thread(self.store.renew, list(self.tasks), self.runner_id, self.config.lease_s)
        for job_id in set(self.tasks) - held:
            log.warning("lost the lease of job %s; another runner took it over", job_id)
            self.tasks[job_id].cancel()
        for job_id in await asyncio.to_thread(self.store.claimable):
            if await self.submit(job_id):
                log.info("resuming job %s", job_id)
        old = await asyncio.to_thread(self.store.expired, time.time() - self.config.retention_s)
        for job_id in old:
            await delete_job(self.store, job_id)

    async def _run(self, job_id: str) -> None:
        job = await asyncio.to_thread(self.store.get, job_id)
        if job is None:
            return
        items = await asyncio.to_thread(self.store.pending_items, job_id)
        counts = {"ok": job.counts.get("ok", 0), "error": job.counts.get("error", 0)}
        await self._publish(job, counts, "started", f"{job.done}/{job.total} items done")
        await asyncio.gather(*(self._item(job, item, counts) for item in items))
        left = await asyncio.to_thread(self.store.pending_items, job_id)
        if left:  # lease lost or job cancelled: whoever holds the job finishes it
            return
        if await asyncio.to_thread(self.store.finish, job_id, self.runner_id, "completed"):
            await self._publish(job, counts, "completed", "job complete")
            await publish_final(self.service, self.store, job_id)
            _remove_files(job)

    async def _item(self, job: Job, item: JobItem, counts: dict[str, int]) -> None:
        async with self.slots:
            if item.attempts >= MAX_ITEM_ATTEMPTS:
                outcome = {"ok": False, "status": 500, "error": "interrupted",
                           "message": f"the analysis was interrupted {item.attempts} times; not retried"}
            else:
                if not await asyncio.to_thread(self.store.start_item, job.id, item.index, self.runner_id):
                    return  # cancelled, or the lease went to another runner
                new = NewItem(item.source, item.media_type, item.upload_path, item.item_job_id)
                outcome = await analyze_item(self.service, new, item.item_job_id)
                for _ in range(OVERLOAD_RETRIES):
                    if outcome["ok"] or outcome.get("status") != 503:
                        break
                    await asyncio.sleep(float(outcome.get("retry_after", 1.0)))
                    outcome = await analyze_item(self.service, new, item.item_job_id)
            if outcome["ok"]:
                recorded = await asyncio.to_thread(self.store.record_ok, job.id, item.index, outcome["result"])
            else:
                recorded = await asyncio.to_thread(self.store.record_error, job.id, item.index, outcome["error"],
                                                   outcome.get("message", ""), outcome.get("status"))
        if recorded:
            counts["ok" if outcome["ok"] else "error"] += 1
            done = counts["ok"] + counts["error"]
            await self._publish(job, counts, "item_done", f"{done}/{job.total} items done",
                                {"index": item.index, "source": item.source, "ok": outcome["ok"],
                                 **({} if outcome["ok"] else {"error": outcome["error"]})})

    async def _publish(self, job: Job, counts: dict[str, int], stage: str, message: str,
                       item: dict | None = None) -> None:
        fields = _count_fields(job.total, counts)
        data = {"job_id": job.id, "stage": stage, "progress": fields.pop("progress"), "message": message, **fields}
        if item is not None:
            data["item"] = item
        await self.service.hub.publish(job.id, "progress_update", data)


def _count_fields(total: int, counts: dict[str, int]) -> dict:
    done = counts.get("ok", 0) + counts.get("error", 0)
    return {"progress": 100.0 if total == 0 else round(100.0 * done / total, 1), "total": total, "done": done,
            "succeeded": counts.get("ok", 0), "failed": counts.get("error", 0)}


async def publish_final(service: Service, store: JobStore, job_id: str) -> None:
    """The job's terminal event: ``analysis_complete`` carrying what ``GET /api/jobs/{id}`` returns
    (a job's "result" is its status and the link to its results), so Socket.IO subscribers see the
    job end as they see a single analysis end."""
    job = await asyncio.to_thread(store.get, job_id)
    if job is not None:
        # ``jobId`` as well: a single analysis's analysis_complete (its result JSON) carries that key.
        await service.hub.publish(job_id, "analysis_complete", {**job.public(), "jobId": job_id, **_links(job_id)})


def _links(job_id: str) -> dict:
    url = f"/api/jobs/{job_id}"
    return {"status_url": url, "results_url": f"{url}/results"}


def _remove_files(job: Job) -> None:
    if job.files_dir:
        shutil.rmtree(job.files_dir, ignore_errors=True)


async def delete_job(store: JobStore, job_id: str) -> Job | None:
    job = await asyncio.to_thread(store.delete, job_id)
    if job is not None:
        _remove_files(job)
    return job


def get_runner(app: FastAPI) -> JobRunner:
    """This app's runner, created (and its sweeper started) on first use."""
    runner = getattr(app.state, "job_runner", None)
    if runner is None:
        service: Service = app.state.service
        runner = JobRunner(service, JobStore(service.settings.job_db_path), JobConfig.from_settings(service.settings))
        app.state.job_runner = runner
    runner.start()
    return runner


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start at boot (so a restarted ingress resumes its jobs at once); hand leases back at shutdown."""
    get_runner(app)
    yield
    await get_runner(app).stop(release=True)


# -- routes ------------------------------------------------------------------------------------

router = APIRouter(prefix="/api/jobs", tags=["jobs"], lifespan=_lifespan)


async def _owned(request: Request, key: str, job_id: str) -> tuple[JobRunner, Job]:
    runner = get_runner(request.app)
    job = await asyncio.to_thread(runner.store.get, job_id) if JOB_ID_RE.match(job_id) else None
    if job is None or job.owner != owner_of(key):
        raise NotFoundError(f"no job '{job_id}'")
    return runner, job


@router.post("", status_code=202, openapi_extra=BATCH_OPENAPI, response_model=None)
async def submit_job(request: Request, key: ApiKey) -> JSONResponse:
    """Queue a job over many media (the batch-analyze body, a larger limit); answers 202 with its id."""
    runner = get_runner(request.app)
    settings = runner.service.settings
    job_id = uuid.uuid4().hex
    files = files_root(settings) / job_id
    try:
        body = await read_batch(request, settings, runner.config.max_items, files,
                                "split the collection, or use deepfake-batch for whole folders and buckets")
        if body.job_id is not None:
            job_id = runner.service.new_job_id(body.job_id)
            if await asyncio.to_thread(runner.store.get, job_id) is not None:
                raise InvalidRequestError(f"job_id '{job_id}' is already in use")
        has_files = any(it.upload_path for it in body.items)
        try:
            job = await asyncio.to_thread(runner.store.create, owner_of(key), body.items, job_id,
                                          str(files) if has_files else None)
        except sqlite3.IntegrityError as exc:
            raise InvalidRequestError(f"job_id '{job_id}' is already in use") from exc
    except BaseException:
        shutil.rmtree(files, ignore_errors=True)
        raise
    if not has_files:
        shutil.rmtree(files, ignore_errors=True)
    await runner.submit(job.id)
    links = _links(job.id)
    return JSONResponse({**job.public(), **links}, status_code=202, headers={"Location": links["status_url"]})


@router.get("")
async def list_jobs(request: Request, key: ApiKey, limit: int = Query(50, ge=1, le=500),
                    offset: int = Query(0, ge=0)) -> dict:
    """This API key's jobs, newest first."""
    runner = get_runner(request.app)
    jobs = await asyncio.to_thread(runner.store.list, owner_of(key), limit, offset)
    return {"jobs": [j.public() for j in jobs], "offset": offset, "limit": limit}


@router.get("/{job_id}")
async def job_status(request: Request, job_id: str, key: ApiKey) -> dict:
    """Status, progress (percent of items done) and counts."""
    _, job = await _owned(request, key, job_id)
    return job.public()


@router.get("/{job_id}/results")
async def job_results(request: Request, job_id: str, key: ApiKey, offset: int = Query(0, ge=0),
                      limit: int = Query(100, ge=1, le=1000), status: str | None = Query(None)) -> dict:
    """A page of per-item results and errors, in submission order (finished items so far)."""
    if status is not None and status not in ITEM_STATES:
        raise InvalidRequestError(f"status must be one of {list(ITEM_STATES)}")
    runner, job = await _owned(request, key, job_id)
    items = await asyncio.to_thread(runner.store.items, job_id, offset, limit, status)
    nxt = offset + len(items) if len(items) == limit else None
    return {**job.public(), "offset": offset, "limit": limit, "next_offset": nxt,
            "results": [it.public() for it in items]}


@router.post("/{job_id}/cancel")
async def cancel_job(request: Request, job_id: str, key: ApiKey) -> dict:
    """Stop a job: items not started are not run; finished results stay readable."""
    runner, job = await _owned(request, key, job_id)
    if await asyncio.to_thread(runner.store.finish, job_id, None, "cancelled", "cancelled by the client"):
        # Items in flight finish and are recorded; no further item starts (``start_item`` refuses).
        _remove_files(job)
        await publish_final(runner.service, runner.store, job_id)
    _, job = await _owned(request, key, job_id)
    return job.public()


@router.delete("/{job_id}")
async def remove_job(request: Request, job_id: str, key: ApiKey) -> dict:
    """Cancel if running, then delete the job, its results and its uploads."""
    runner, _ = await _owned(request, key, job_id)
    await delete_job(runner.store, job_id)  # a runner still on it finds no row and starts nothing more
    return {"job_id": job_id, "deleted": True}
