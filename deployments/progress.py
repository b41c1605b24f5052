"""Where job progress goes. The default hub only keeps the latest event per job; the Socket.IO
hub (``deployments.socketio_server``) forwards events to clients' rooms."""

from __future__ import annotations

from typing import Protocol


class ProgressHub(Protocol):
    async def publish(self, job_id: str, event: str, data: dict) -> None: ...


class MemoryHub:
    """Keeps the last event of each job (for status polling); forwards nothing."""

    def __init__(self, max_jobs: int = 1000) -> None:
        self.last: dict[str, tuple[str, dict]] = {}
        self.max_jobs = max_jobs

    async def publish(self, job_id: str, event: str, data: dict) -> None:
        if len(self.last) >= self.max_jobs and job_id not in self.last:
            self.last.pop(next(iter(self.last)))
        self.last[job_id] = (event, data)
