"""Operator metrics through Ray Serve's custom metrics API (exported by Ray's Prometheus endpoint).

Every metric is also kept in this process's ``RECORDED`` (name -> {tags: value}) so that tests can
check what was recorded without Prometheus. Names (Ray adds the ``ray_`` prefix on export):

- ``deepfake_requests_total{modality, verdict, model}``   analyses finished, by verdict
- ``deepfake_rejected_total{reason, status}``             requests refused (typed error -> HTTP)
- ``deepfake_stage_seconds{modality, stage}``             per-stage latency (histogram)
- ``deepfake_model_batch_inputs{model}``                  inputs per model batch (histogram)
- ``deepfake_model_info{modality, detector, version}``    1 per loaded model version (gauge)
- ``deepfake_ingress_inflight`` / ``_waiting``            the ingress admission queue (gauges)

Serve's own ``serve_batch_queue_length`` and ``serve_deployment_queued_queries`` complete the
queue picture.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0]
BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64]

_SPECS: dict[str, tuple[str, str, tuple[str, ...], list[float] | None]] = {
    "deepfake_requests_total": ("counter", "Analyses finished, by modality, verdict and model",
                                ("modality", "verdict", "model"), None),
    "deepfake_rejected_total": ("counter", "Requests refused, by reason (the typed error) and HTTP status",
                                ("reason", "status"), None),
    "deepfake_stage_seconds": ("histogram", "Seconds per analysis stage", ("modality", "stage"), LATENCY_BUCKETS_S),
    "deepfake_model_batch_inputs": ("histogram", "Inputs per model batch", ("model",), BATCH_BUCKETS),
    "deepfake_model_info": ("gauge", "1 for each model version a replica holds", ("modality", "detector", "version"),
                            None),
    "deepfake_ingress_inflight": ("gauge", "Analyses running on this ingress replica", (), None),
    "deepfake_ingress_waiting": ("gauge", "Analyses waiting for a slot on this ingress replica", (), None),
}

RECORDED: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
_lock = threading.Lock()
_metrics: dict[str, Any] = {}


def _metric(name: str) -> Any | None:
    """The Ray metric object (created on first use); None when Ray's metrics are unavailable."""
    if name not in _metrics:
        kind, description, tags, buckets = _SPECS[name]
        try:
            from ray.serve import metrics as serve_metrics

            if kind == "counter":
                _metrics[name] = serve_metrics.Counter(name, description=description, tag_keys=tags)
            elif kind == "gauge":
                _metrics[name] = serve_metrics.Gauge(name, description=description, tag_keys=tags)
            else:
                _metrics[name] = serve_metrics.Histogram(name, description=description, boundaries=buckets,
                                                         tag_keys=tags)
        except Exception:  # metrics must never break an analysis
            _metrics[name] = None
    return _metrics[name]


def _record(name: str, value: float, tags: dict[str, str]) -> None:
    kind = _SPECS[name][0]
    key = tuple(sorted(tags.items()))
    with _lock:
        seen = RECORDED[name]
        seen[key] = value if kind == "gauge" else seen.get(key, 0.0) + (1.0 if kind == "histogram" else value)
    m = _metric(name)
    if m is None:
        return
    try:
        if kind == "counter":
            m.inc(value, tags=tags or None)
        elif kind == "gauge":
            m.set(value, tags=tags or None)
        else:
            m.observe(value, tags=tags or None)
    except Exception:  # e.g. a tag value Ray refuses: the in-process record still has it
        pass


def count(name: str, tags: dict[str, str]) -> float:
    """What this process recorded for ``name`` with exactly these tags (observations for a histogram)."""
    return RECORDED[name].get(tuple(sorted(tags.items())), 0.0)


def finished(modality: str, verdict: str, model: str) -> None:
    _record("deepfake_requests_total", 1.0, {"modality": modality, "verdict": verdict, "model": model[:80]})


def rejected(reason: str, status: int) -> None:
    _record("deepfake_rejected_total", 1.0, {"reason": reason, "status": str(status)})


def stage(modality: str, name: str, seconds: float) -> None:
    _record("deepfake_stage_seconds", float(seconds), {"modality": modality, "stage": name})


def model_batch(model: str, inputs: int, requests: int, seconds: float) -> None:
    _record("deepfake_model_batch_inputs", float(inputs), {"model": model})
    stage(model, "model_batch", seconds)


def model_info(modality: str, detector: str, version: str) -> None:
    _record("deepfake_model_info", 1.0, {"modality": modality, "detector": detector, "version": version or "none"})


def admission(inflight: int, waiting: int) -> None:
    _record("deepfake_ingress_inflight", float(inflight), {})
    _record("deepfake_ingress_waiting", float(waiting), {})
