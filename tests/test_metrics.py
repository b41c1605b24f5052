"""Operator metrics are recorded where they happen, without a running Prometheus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from deployments import metrics
from tests.asgi_server import running

ROOT = Path(__file__).resolve().parent.parent
STANDIN_ENV = {"DETECTOR_PLUGINS": '["tests.standin_detectors"]', "IMAGE_DETECTOR": "image-standin",
               "AUDIO_DETECTOR": "audio-standin", "VIDEO_DETECTOR": "video-standin",
               "PYTHON_SERVICE_API_KEY": "metrics-key-123", "RATE_LIMIT_PER_MINUTE": "0"}


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from deployments.api import Service, create_api
    from detectors.settings import get_settings
    from tests.local_graph import local_handles

    with pytest.MonkeyPatch.context() as mp:
        for k, v in {**STANDIN_ENV, "UPLOAD_FOLDER": str(tmp_path_factory.mktemp("scratch")),
                     "LOG_DIR": str(tmp_path_factory.mktemp("logs")), "ALLOW_LOCAL_PATHS": "true"}.items():
            mp.setenv(k, v)
        get_settings.cache_clear()
        with running(create_api(Service(get_settings(), local_handles()))) as base:
            yield base
    get_settings.cache_clear()


def test_a_rejected_request_is_counted_by_reason(url):
    before = metrics.count("deepfake_rejected_total", {"reason": "unauthorized", "status": "401"})
    r = httpx.post(f"{url}/api/analyze", json={"media_url": "/nope.jpg"}, headers={"X-API-Key": "wrong"})
    assert r.status_code == 401
    assert metrics.count("deepfake_rejected_total", {"reason": "unauthorized", "status": "401"}) == before + 1


def test_an_analysis_records_its_stages_verdict_and_bytes(url, tmp_path):
    from tests.media_factory import write_image

    path = write_image(tmp_path / "x.png", size=(64, 48))
    before = metrics.count("deepfake_stage_seconds", {"modality": "image", "stage": "total"})
    r = httpx.post(f"{url}/api/analyze", json={"media_url": str(path), "media_type": "image"},
                   headers={"X-API-Key": "metrics-key-123"}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert metrics.count("deepfake_stage_seconds", {"modality": "image", "stage": "total"}) == before + 1
    assert metrics.count("deepfake_stage_seconds", {"modality": "image", "stage": "prepare"}) >= 1
    assert metrics.count("deepfake_requests_total", {"modality": "image", "verdict": body["verdict"],
                                                     "model": body["modelUsed"]}) >= 1
    hops = dict(p.split("=") for p in r.headers["x-bytes-moved"].split(";"))
    # the stand-in's one model input (an 8x-downsampled 64x48 RGB image) crossed to the model once
    assert int(hops["analysis>image_model"]) >= 8 * 6 * 3
    assert int(hops["ingress>analysis"]) < 2000  # a MediaRef, not the media


def test_the_dashboard_only_plots_recorded_metrics():
    board = json.loads((ROOT / "k8s" / "grafana" / "deepfake-dashboard.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert exprs
    ours = {re.match(r"\w+", e.split("ray_", 1)[1]).group(0).removesuffix("_bucket") for e in exprs
            if "ray_deepfake_" in e}
    assert ours <= set(metrics._SPECS), ours - set(metrics._SPECS)
