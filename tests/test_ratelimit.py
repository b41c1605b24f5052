"""Rate limiting per API key (429 + Retry-After) and load shedding at the door (503 + Retry-After)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from deployments.ratelimit import AdmissionGate, TokenBucketLimiter
from detectors.errors import OverloadedError, RateLimitedError
from tests.hardening_app import KEY, standin_api
from tests.media_factory import image_bytes


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# --- token bucket -------------------------------------------------------------------------------


def test_bucket_allows_a_burst_then_refuses_with_the_wait():
    clock = FakeClock()
    limiter = TokenBucketLimiter(per_minute=6, clock=clock)
    for _ in range(6):
        limiter.check("key:a")
    with pytest.raises(RateLimitedError) as info:
        limiter.check("key:a")
    assert info.value.http_status == 429
    assert info.value.retry_after == pytest.approx(10.0)  # one token per 10 s
    clock.t += 4
    with pytest.raises(RateLimitedError) as info:
        limiter.check("key:a")
    assert info.value.retry_after == pytest.approx(6.0)
    clock.t += 6
    limiter.check("key:a")  # refilled exactly one token
    with pytest.raises(RateLimitedError):
        limiter.check("key:a")


def test_buckets_are_per_key_and_refill_up_to_the_burst_only():
    clock = FakeClock()
    limiter = TokenBucketLimiter(per_minute=2, clock=clock)
    limiter.check("key:a")
    limiter.check("key:a")
    limiter.check("key:b")  # another key is not affected
    clock.t += 3600  # an hour idle still gives only `burst` tokens
    limiter.check("key:a")
    limiter.check("key:a")
    with pytest.raises(RateLimitedError):
        limiter.check("key:a")


def test_zero_means_off():
    limiter = TokenBucketLimiter(per_minute=0)
    for _ in range(1000):
        limiter.check("key:a")
    assert len(limiter) == 0


def test_key_table_is_bounded_and_holds_no_raw_keys():
    limiter = TokenBucketLimiter(per_minute=5, max_keys=100)
    for i in range(1000):
        limiter.check(f"key:secret-{i}")
    assert len(limiter) == 100
    assert not any("secret" in slot for slot in limiter._buckets)


# --- admission gate -----------------------------------------------------------------------------


def test_gate_admits_queues_and_sheds():
    async def scenario() -> None:
        gate = AdmissionGate(max_inflight=2, max_waiting=1, max_wait_s=5)
        await gate.acquire()
        await gate.acquire()
        waiter = asyncio.ensure_future(gate.acquire())  # queued
        await asyncio.sleep(0.05)
        assert (gate.inflight, gate.waiting) == (2, 1) and not waiter.done()
        with pytest.raises(OverloadedError) as info:  # queue full: shed at once
            await gate.acquire()
        assert info.value.http_status == 503 and info.value.retry_after >= 1
        await gate.release(0.5)
        await asyncio.wait_for(waiter, 1)  # the queued one got the freed slot
        assert (gate.inflight, gate.waiting, gate.shed) == (2, 0, 1)

    asyncio.run(scenario())


def test_gate_wait_is_bounded_in_time():
    async def scenario() -> None:
        gate = AdmissionGate(max_inflight=1, max_waiting=5, max_wait_s=0.2)
        await gate.acquire()
        start = time.monotonic()
        with pytest.raises(OverloadedError, match="no free slot"):
            await gate.acquire()
        assert 0.15 < time.monotonic() - start < 1.0
        assert gate.waiting == 0

    asyncio.run(scenario())


def test_slot_context_releases_on_error():
    async def scenario() -> None:
        gate = AdmissionGate(max_inflight=1, max_waiting=0, max_wait_s=0)
        with pytest.raises(RuntimeError):
            async with gate.slot():
                assert gate.inflight == 1
                raise RuntimeError("analysis failed")
        assert gate.inflight == 0
        async with gate.slot():
            with pytest.raises(OverloadedError):
                await gate.acquire()

    asyncio.run(scenario())


def test_cancelled_waiter_does_not_lose_the_slot():
    async def scenario() -> None:
        gate = AdmissionGate(max_inflight=1, max_waiting=5, max_wait_s=5)
        await gate.acquire()
        first = asyncio.ensure_future(gate.acquire())
        second = asyncio.ensure_future(gate.acquire())
        await asyncio.sleep(0.05)
        first.cancel()  # a client that went away while queued
        await gate.release(0.1)
        await asyncio.wait_for(second, 1)
        assert gate.inflight == 1 and gate.waiting == 0

    asyncio.run(scenario())


# --- through the API ----------------------------------------------------------------------------


def _post_json(url: str, key: str | None = KEY) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    # A local path while local paths are off: refused (403) after auth and rate limiting, cheaply.
    return httpx.post(f"{url}/api/analyze", json={"media_url": "/nowhere.png"}, headers=headers, timeout=30)


def test_api_returns_429_with_retry_after_past_the_limit(tmp_path):
    with standin_api(tmp_path, RATE_LIMIT_PER_MINUTE="3") as api:
        codes = [_post_json(api.url).status_code for _ in range(3)]
        assert codes == [403, 403, 403]
        r = _post_json(api.url)
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["error"] == "rate_limited" and "per minute" in r.json()["message"]
        assert KEY not in r.text
        assert _post_json(api.url, key="wrong").status_code == 401  # a bad key is refused, not counted
        assert httpx.get(f"{api.url}/api/health").status_code == 200  # ops routes are not limited
        batch = httpx.post(f"{api.url}/api/batch-analyze", json={"media_list": [{"media_url": "/x.png"}]},
                           headers={"X-API-Key": KEY}, timeout=30)
        assert batch.status_code == 429


def test_without_a_configured_key_callers_are_limited_by_address(tmp_path):
    with standin_api(tmp_path, RATE_LIMIT_PER_MINUTE="2", PYTHON_SERVICE_API_KEY="") as api:
        assert [_post_json(api.url, key=None).status_code for _ in range(2)] == [403, 403]
        assert _post_json(api.url, key=None).status_code == 429


def test_saturated_service_sheds_with_503_and_never_hangs(tmp_path, monkeypatch):
    """A slow model, 1 slot and 1 queue place: of 8 simultaneous uploads some are served, the rest
    get 503 + Retry-After at once; nothing else, nothing hangs, health answers throughout."""
    png = image_bytes("png", (64, 64))
    with standin_api(tmp_path) as api:
        det = api.service.handles.analysis._obj.det("image")
        real = det.preprocess

        def slow(ref, progress=None):
            time.sleep(0.4)
            return real(ref)

        monkeypatch.setattr(det, "preprocess", slow)
        gate = api.app.state.admission
        gate.max_inflight, gate.max_waiting, gate.max_wait_s = 1, 1, 5.0

        def upload(_: int) -> tuple[int, str | None, float]:
            start = time.monotonic()
            r = httpx.post(f"{api.url}/api/analyze", files={"file": ("a.png", png)},
                           headers={"X-API-Key": KEY}, timeout=20)
            return r.status_code, r.headers.get("retry-after"), time.monotonic() - start

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(upload, i) for i in range(8)]
            time.sleep(0.1)
            health = httpx.get(f"{api.url}/api/health", timeout=2)
            results = [f.result(timeout=30) for f in futures]
        assert health.status_code == 200
        codes = sorted(code for code, _, _ in results)
        assert set(codes) <= {200, 503} and codes.count(200) >= 2 and codes.count(503) >= 1, codes
        for code, retry_after, elapsed in results:
            if code == 503:
                assert retry_after is not None and int(retry_after) >= 1
                assert elapsed < 1.0  # shed at once, not after waiting
        assert gate.inflight == 0 and gate.waiting == 0
