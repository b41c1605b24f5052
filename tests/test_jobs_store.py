"""The SQLite job store: persistence, leases between runners, idempotent results, many processes."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time

import pytest

from deployments.jobs import JobStore, NewItem


def _items(n: int) -> list[NewItem]:
    return [NewItem(source=f"https://example.org/{i}.jpg") for i in range(n)]


def test_create_get_and_counts(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job = store.create("owner", _items(3))
    assert job.status == "queued" and job.total == 3 and job.done == 0
    assert [i.index for i in store.pending_items(job.id)] == [0, 1, 2]
    body = job.public()
    assert body["progress"] == 0.0 and body["pending"] == 3 and body["job_id"] == job.id
    with sqlite3.connect(tmp_path / "jobs.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_results_survive_a_new_store_object(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job = store.create("o", _items(2))
    assert store.claim(job.id, "r1", 30)
    assert store.start_item(job.id, 0, "r1")
    assert store.record_ok(job.id, 0, {"isDeepfake": False, "verdict": "real"})
    assert store.record_error(job.id, 1, "corrupt_media", "cannot decode", 422)
    assert store.finish(job.id, "r1", "completed")

    again = JobStore(tmp_path / "jobs.db")  # as after an ingress restart
    job2 = again.get(job.id)
    assert job2 is not None and job2.status == "completed" and job2.counts == {"ok": 1, "error": 1}
    items = [i.public() for i in again.items(job.id)]
    assert items[0] == {"index": 0, "source": "https://example.org/0.jpg", "status": "ok", "ok": True,
                        "result": {"isDeepfake": False, "verdict": "real"}}
    assert items[1]["ok"] is False and items[1]["error"] == "corrupt_media" and items[1]["http_status"] == 422


def test_a_recorded_item_is_never_overwritten_or_rerun(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job = store.create("o", _items(2))
    store.claim(job.id, "r1", 30)
    assert store.record_ok(job.id, 0, {"a": 1})
    assert not store.record_ok(job.id, 0, {"a": 2})
    assert not store.record_error(job.id, 0, "x", "y", 500)
    assert not store.start_item(job.id, 0, "r1")
    assert store.items(job.id)[0].result == {"a": 1}
    assert [i.index for i in store.pending_items(job.id)] == [1]


def test_lease_excludes_other_runners_until_it_expires(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job = store.create("o", _items(2))
    assert store.claim(job.id, "r1", lease_s=0.3)
    assert not store.claim(job.id, "r2", lease_s=0.3)
    assert store.claimable() == []
    assert store.start_item(job.id, 0, "r1")
    assert not store.start_item(job.id, 1, "r2")  # only the holder may start items
    time.sleep(0.35)
    assert store.claimable() == [job.id]
    assert store.claim(job.id, "r2", lease_s=30)
    # r1 died while item 0 ran: it is pending again, and counted as an attempt.
    pending = store.pending_items(job.id)
    assert [(i.index, i.status, i.attempts) for i in pending] == [(0, "pending", 1), (1, "pending", 0)]
    assert store.renew([job.id], "r1", 30) == set()
    assert store.renew([job.id], "r2", 30) == {job.id}
    assert not store.finish(job.id, "r1", "completed")
    assert store.get(job.id).attempts == 2


def test_renewing_own_claim_keeps_running_items(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job = store.create("o", _items(1))
    store.claim(job.id, "r1", 30)
    store.start_item(job.id, 0, "r1")
    assert store.claim(job.id, "r1", 30)
    assert store.pending_items(job.id)[0].status == "running"
    assert not store.start_item(job.id, 0, "r1")  # an item runs once at a time, even within one runner


def test_cancel_stops_new_items_and_keeps_results(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job = store.create("o", _items(3))
    store.claim(job.id, "r1", 30)
    store.record_ok(job.id, 0, {"ok": 1})
    assert store.finish(job.id, None, "cancelled", "by the client")
    assert not store.start_item(job.id, 1, "r1")
    assert not store.claim(job.id, "r2", 30)
    got = store.get(job.id)
    assert got.status == "cancelled" and got.counts["ok"] == 1
    with pytest.raises(ValueError):
        store.finish(job.id, None, "running")


def test_list_delete_and_retention(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    a = store.create("alice", _items(1))
    b = store.create("bob", _items(1))
    assert [j.id for j in store.list("alice")] == [a.id]
    store.claim(a.id, "r", 30)
    store.finish(a.id, "r", "completed")
    assert store.expired(time.time() + 1) == [a.id]
    assert store.expired(time.time() - 3600) == []
    assert store.delete(a.id) is not None and store.get(a.id) is None
    assert store.items(a.id) == [] and store.get(b.id) is not None


def _claim_all(path: str, runner: str, job_ids: list[str], out: mp.Queue) -> None:
    store = JobStore(path)
    out.put([j for j in job_ids if store.claim(j, runner, 60)])


def test_claims_are_exclusive_across_processes(tmp_path):
    path = str(tmp_path / "jobs.db")
    store = JobStore(path)
    ids = [store.create("o", _items(1)).id for _ in range(30)]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(path, f"r{i}", ids, out)) for i in range(3)]
    for p in procs:
        p.start()
    claimed = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    flat = [j for c in claimed for j in c]
    assert sorted(flat) == sorted(ids)  # every job claimed exactly once
