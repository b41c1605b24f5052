"""Persistent store of asynchronous batch jobs: SQLite (WAL) at ``settings.job_db_path`` by default.

A job is a list of items (URLs, allowed local paths, or uploads kept beside the database) and,
per item, its state and its result or error. Everything a client can ask for (status, progress,
results) is read from here, so a restarted ingress loses no job and no finished result.

Several processes (ingress replicas on one node, or a CLI) may share one database: every call
opens its own connection, writes are short transactions, and a job is run by whichever runner
holds its *lease* (``lease_owner`` / ``lease_until``). A runner renews its leases while it works;
when it dies, the lease runs out and another runner (or the same ingress after a restart) claims
the job and runs the items that never recorded a result. A finished item is never run again.

SQLite suits one node (a volume mounted by the ingress). It must not sit on a network file system
shared by ingresses on several nodes: there, point ``JOB_DB_PATH`` at one replica's volume and run
one ingress replica, or put another store behind this class's methods.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

JOB_STATES = ("queued", "running", "completed", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running")
ITEM_STATES = ("pending", "running", "ok", "error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    status       TEXT NOT NULL,
    total        INTEGER NOT NULL,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    lease_owner  TEXT,
    lease_until  REAL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    files_dir    TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, lease_until);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, created_at);
CREATE TABLE IF NOT EXISTS items (
    job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL,
    source        TEXT NOT NULL,
    media_type    TEXT,
    upload_path   TEXT,
    item_job_id   TEXT,
    status        TEXT NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,
    http_status   INTEGER,
    error_code    TEXT,
    error_message TEXT,
    result        TEXT,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS items_status ON items (job_id, status);
"""


@dataclass
class NewItem:
    """One item of a job as submitted: a URL or path, or an upload kept at ``upload_path``."""

    source: str
    media_type: str | None = None
    upload_path: str | None = None
    item_job_id: str | None = None


@dataclass
class JobItem:
    """An item as stored: its state and, once finished, its result or error."""

    job_id: str
    index: int
    source: str
    media_type: str | None
    upload_path: str | None
    item_job_id: str | None
    status: str
    attempts: int
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    result: dict | None = None

    def public(self) -> dict:
        """The item as the API returns it (the same shape as ``/api/batch-analyze`` items)."""
        body: dict = {"index": self.index, "source": self.source, "status": self.status}
        if self.status == "ok":
            body.update(ok=True, result=self.result)
        elif self.status == "error":
            body.update(ok=False, error=self.error_code, message=self.error_message)
            if self.http_status is not None:
                body["http_status"] = self.http_status
        return body


@dataclass
class Job:
    """A job's record plus its item counts by state."""

    id: str
    owner: str
    status: str
    total: int
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    lease_owner: str | None
    lease_until: float | None
    attempts: int
    error: str | None
    files_dir: str | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.counts.get("ok", 0) + self.counts.get("error", 0)

    @property
    def finished(self) -> bool:
        return self.status not in ACTIVE_STATES

    def public(self) -> dict:
        """Status, progress and counts as ``GET /api/jobs/{id}`` returns them."""
        progress = 100.0 if self.total == 0 else round(100.0 * self.done / self.total, 1)
        return {
            "job_id": self.id,
            "status": self.status,
            "progress": progress,
            "total": self.total,
            "done": self.done,
            "succeeded": self.counts.get("ok", 0),
            "failed": self.counts.get("error", 0),
            "pending": self.counts.get("pending", 0) + self.counts.get("running", 0),
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "error": self.error,
        }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def new_runner_id() -> str:
    """A lease owner name unique to this process and runner (host, pid, random suffix)."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobStore:
    """Jobs and per-item results in one SQLite file; safe across threads and processes."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = busy_timeout_s
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; persists in the file
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection; one transaction per ``with`` block (committed on success)."""
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")  # durable at each WAL checkpoint; safe with WAL
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: takes the write lock up front, so claims are atomic."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- jobs ---------------------------------------------------------------------------------

    def create(self, owner: str, items: list[NewItem], job_id: str | None = None,
               files_dir: str | None = None) -> Job:
        """Store a new queued job and its items in one transaction."""
        job_id = job_id or uuid.uuid4().hex
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO jobs (id, owner, status, total, created_at, updated_at, files_dir) "
                "VALUES (?, ?, 'queued', ?, ?, ?, ?)",
                (job_id, owner, len(items), now, now, files_dir),
            )
            db.executemany(
                "INSERT INTO items (job_id, idx, source, media_type, upload_path, item_job_id, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(job_id, i, it.source, it.media_type, it.upload_path, it.item_job_id, now)
                 for i, it in enumerate(items)],
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            counts = dict(db.execute(
                "SELECT status, count(*) FROM items WHERE job_id = ? GROUP BY status", (job_id,)
            ).fetchall())
        return Job(**dict(row), counts=counts)

    def list(self, owner: str, limit: int = 50, offset: int = 0) -> list[Job]:
        """The owner's jobs, newest first."""
        with self._connect() as db:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM jobs WHERE owner = ? ORDER BY created_at DESC LIMIT ? OFFSET ?",
                (owner, limit, offset),
            ).fetchall()]
        return [j for j in (self.get(i) for i in ids) if j is not None]

    def claim(self, job_id: str, runner: str, lease_s: float) -> bool:
        """Take (or renew) the lease of an unfinished job whose lease is free or expired."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT lease_owner FROM jobs WHERE id = ? AND status IN ('queued', 'running') "
                             "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
                             (job_id, runner, now)).fetchone()
            if row is None:
                return False
            db.execute(
                "UPDATE jobs SET lease_owner = ?, lease_until = ?, status = 'running', updated_at = ?, "
                "started_at = coalesce(started_at, ?), attempts = attempts + ? WHERE id = ?",
                (runner, now + lease_s, now, now, int(row[0] != runner), job_id),
            )
            if row[0] != runner:
                # Items left 'running' by a runner that died were interrupted: they run again.
                db.execute("UPDATE items SET status = 'pending', updated_at = ? "
                           "WHERE job_id = ? AND status = 'running'", (now, job_id))
        return True

    def renew(self, job_ids: list[str], runner: str, lease_s: float) -> set[str]:
        """Extend this runner's leases; returns the ids it still holds."""
        if not job_ids:
            return set()
        now = time.time()
        held: set[str] = set()
        with self._write() as db:
            for job_id in job_ids:
                cur = db.execute(
                    "UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
                    (now + lease_s, job_id, runner),
                )
                if cur.rowcount == 1:
                    held.add(job_id)
        return held

    def claimable(self, limit: int = 20) -> list[str]:
        """Unfinished jobs nobody holds a live lease on (new, or left by a dead runner), oldest first."""
        with self._connect() as db:
            return [r[0] for r in db.execute(
                "SELECT id FROM jobs WHERE status IN ('queued', 'running') "
                "AND (lease_owner IS NULL OR lease_until < ?) ORDER BY created_at LIMIT ?",
                (time.time(), limit),
            ).fetchall()]

    def finish(self, job_id: str, runner: str | None, status: str, error: str | None = None) -> bool:
        """Mark a job completed / failed / cancelled and release its lease (only its holder may, unless
        ``runner`` is None: cancellation by a user)."""
        if status not in JOB_STATES or status in ACTIVE_STATES:
            raise ValueError(f"not a final job state: {status}")
        now = time.time()
        with self._write() as db:
            if runner is None:
                cur = db.execute(
                    "UPDATE jobs SET status = ?, error = ?, finished_at = ?, updated_at = ?, lease_owner = NULL "
                    "WHERE id = ? AND status IN ('queued', 'running')",
                    (status, error, now, now, job_id),
                )
            else:
                cur = db.execute(
                    "UPDATE jobs SET status = ?, error = ?, finished_at = ?, updated_at = ?, lease_owner = NULL "
                    "WHERE id = ? AND lease_owner = ? AND status = 'running'",
                    (status, error, now, now, job_id, runner),
                )
        return cur.rowcount == 1

    def delete(self, job_id: str) -> Job | None:
        """Remove a job and its items; returns what was removed (its files are the caller's)."""
        job = self.get(job_id)
        if job is None:
            return None
        with self._write() as db:
            db.execute("DELETE FROM items WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return job

    def expired(self, finished_before: float, limit: int = 100) -> list[str]:
        """Finished jobs older than ``finished_before`` (for retention)."""
        with self._connect() as db:
            return [r[0] for r in db.execute(
                "SELECT id FROM jobs WHERE status NOT IN ('queued', 'running') AND finished_at < ? LIMIT ?",
                (finished_before, limit),
            ).fetchall()]

    # -- items --------------------------------------------------------------------------------

    def pending_items(self, job_id: str) -> list[JobItem]:
        """Items with no recorded outcome, in order."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM items WHERE job_id = ? AND status IN ('pending', 'running') ORDER BY idx",
                (job_id,),
            ).fetchall()
        return [_item(r) for r in rows]

    def start_item(self, job_id: str, index: int, runner: str) -> bool:
        """Mark a pending item running, only while ``runner`` holds the job's lease; counts the attempt.
        False when the lease is gone, the job ended, or the item is already running or finished."""
        now = time.time()
        with self._write() as db:
            held = db.execute("SELECT 1 FROM jobs WHERE id = ? AND lease_owner = ? AND status = 'running'",
                              (job_id, runner)).fetchone()
            if held is None:
                return False
            cur = db.execute(
                "UPDATE items SET status = 'running', attempts = attempts + 1, updated_at = ? "
                "WHERE job_id = ? AND idx = ? AND status = 'pending'",
                (now, job_id, index),
            )
        return cur.rowcount == 1

    def record_ok(self, job_id: str, index: int, result: dict) -> bool:
        """Store an item's result; a no-op (False) if the item already has an outcome."""
        return self._record(job_id, index, "ok", result=json.dumps(result))

    def record_error(self, job_id: str, index: int, code: str, message: str, http_status: int | None) -> bool:
        """Store an item's error; a no-op (False) if the item already has an outcome."""
        return self._record(job_id, index, "error", code=code, message=message, http_status=http_status)

    def _record(self, job_id: str, index: int, status: str, result: str | None = None, code: str | None = None,
                message: str | None = None, http_status: int | None = None) -> bool:
        now = time.time()
        with self._write() as db:
            cur = db.execute(
                "UPDATE items SET status = ?, result = ?, error_code = ?, error_message = ?, http_status = ?, "
                "updated_at = ? WHERE job_id = ? AND idx = ? AND status IN ('pending', 'running')",
                (status, result, code, message, http_status, now, job_id, index),
            )
            db.execute("UPDATE jobs SET updated_at = ? WHERE id = ?", (now, job_id))
        return cur.rowcount == 1

    def items(self, job_id: str, offset: int = 0, limit: int = 100, status: str | None = None) -> list[JobItem]:
        """A page of a job's items in order, optionally only those in one state."""
        sql = "SELECT * FROM items WHERE job_id = ?"
        args: list = [job_id]
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY idx LIMIT ? OFFSET ?"
        args += [limit, offset]
        with self._connect() as db:
            return [_item(r) for r in db.execute(sql, args).fetchall()]


def _item(row: sqlite3.Row) -> JobItem:
    return JobItem(
        job_id=row["job_id"], index=row["idx"], source=row["source"], media_type=row["media_type"],
        upload_path=row["upload_path"], item_job_id=row["item_job_id"], status=row["status"],
        attempts=row["attempts"], http_status=row["http_status"], error_code=row["error_code"],
        error_message=row["error_message"], result=json.loads(row["result"]) if row["result"] else None,
    )
