"""The builder's memory between runs: what each source blob became, so reruns do no work.

An append-only JSON-lines file under ``<out>/.state/``. Each record is keyed by the source blob
id (or shared file) plus the processing rule that applied, so changing one rule re-processes only
the files it covers. A run interrupted half-way leaves the records of the files it finished: the
next run resumes from there. The file is compacted (rewritten atomically) at the end of a run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class BuildState:
    """Records by key; ``put`` appends to disk at once (so an interrupted run keeps its progress)."""

    def __init__(self, out: Path) -> None:
        self.path = out / ".state" / "records.jsonl"
        self.records: dict[str, dict[str, Any]] = {}
        self.used: set[str] = set()
        if self.path.is_file():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:  # a torn last line after a kill
                        continue
                    self.records[rec["key"]] = rec
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def get(self, key: str) -> dict[str, Any] | None:
        rec = self.records.get(key)
        if rec is not None:
            self.used.add(key)
        return rec

    def put(self, key: str, rec: dict[str, Any]) -> None:
        rec = {**rec, "key": key}
        self.records[key] = rec
        self.used.add(key)
        self._fh.write(json.dumps(rec, sort_keys=True) + "\n")
        self._fh.flush()

    def close(self, compact: bool = True) -> None:
        self._fh.close()
        if not compact:
            return
        text = "".join(json.dumps(self.records[k], sort_keys=True) + "\n" for k in sorted(self.used))
        if self.path.read_text(encoding="utf-8") != text:
            tmp = self.path.with_name(f".records.tmp{os.getpid()}")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)
