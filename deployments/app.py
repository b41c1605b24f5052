"""The one builder that wires the graph (``serve run serve_config.yaml`` imports ``build_app``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ray.serve import Application

from deployments.ingress import Ingress
from deployments.progress import ProgressBus
from deployments.workers import (
    Aggregator,
    AudioExtractor,
    AudioModel,
    FrameExtractor,
    ImageModel,
    MediaFetcher,
    VideoTemporal,
)

SERVE_CONFIG = Path(__file__).resolve().parent.parent / "serve_config.yaml"


def build_app(args: dict | None = None) -> Application:
    """The application builder ``serve run serve_config.yaml`` calls (Serve builders take exactly
    one argument); serve_config.yaml's per-deployment settings are applied by Serve itself."""
    return build_graph()


def build_graph(options: dict[str, dict[str, Any]] | None = None) -> Application:
    """Ingress → MediaFetcher → FrameExtractor / AudioExtractor → ImageModel / AudioModel /
    VideoTemporal → Aggregator (+ ProgressBus). In-process callers (tests, benchmarks) pass
    serve_config.yaml's per-deployment settings as ``options`` (see ``deployment_options``)."""
    opts = options or {}

    def d(deployment):
        return deployment.options(**opts[deployment.name]) if deployment.name in opts else deployment

    return d(Ingress).bind(
        d(MediaFetcher).bind(),
        d(FrameExtractor).bind(),
        d(AudioExtractor).bind(),
        d(VideoTemporal).bind(),
        d(ImageModel).bind(),
        d(AudioModel).bind(),
        d(Aggregator).bind(),
        d(ProgressBus).bind(),  # job events between ingress replicas (Socket.IO progress)
    )


def deployment_options(config_path: str | Path = SERVE_CONFIG, app_name: str = "deepfake") -> dict[str, dict]:
    """Per-deployment options of one application in a Serve config file, keyed by deployment name."""
    config = yaml.safe_load(Path(config_path).read_text())
    app = next(a for a in config["applications"] if a["name"] == app_name)
    return {d["name"]: {k: v for k, v in d.items() if k != "name"} for d in app.get("deployments", [])}
