"""The one builder that wires the graph (``serve run serve_config.yaml`` imports ``build_app``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ray.serve import Application

from deployments.analysis import Analysis
from deployments.ingress import Ingress
from deployments.models import AudioModel, ImageModel
from deployments.progress import ProgressBus

SERVE_CONFIG = Path(__file__).resolve().parent.parent / "serve_config.yaml"


def build_app(args: dict | None = None) -> Application:
    """The application builder ``serve run serve_config.yaml`` calls (Serve builders take exactly
    one argument); serve_config.yaml's per-deployment settings are applied by Serve itself."""
    return build_graph()


def build_graph(options: dict[str, dict[str, Any]] | None = None) -> Application:
    """Ingress → Analysis (every modality's recipe) → ImageModel / AudioModel (+ ProgressBus).

    The model handles are bound into Analysis, which calls them directly (model composition): the
    media never goes back through the ingress. The ingress holds them too, for ``/api/status``.
    In-process callers (tests, benchmarks) pass serve_config.yaml's settings as ``options``.
    """
    opts = options or {}

    def d(deployment):
        return deployment.options(**opts[deployment.name]) if deployment.name in opts else deployment

    image_model = d(ImageModel).bind()
    audio_model = d(AudioModel).bind()
    analysis = d(Analysis).bind(image_model, audio_model)
    return d(Ingress).bind(analysis, image_model, audio_model, d(ProgressBus).bind())


def deployment_options(config_path: str | Path = SERVE_CONFIG, app_name: str = "deepfake") -> dict[str, dict]:
    """Per-deployment options of one application in a Serve config file, keyed by deployment name."""
    config = yaml.safe_load(Path(config_path).read_text())
    app = next(a for a in config["applications"] if a["name"] == app_name)
    return {d["name"]: {k: v for k, v in d.items() if k != "name"} for d in app.get("deployments", [])}
