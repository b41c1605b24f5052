"""The one builder that wires the graph (``serve run serve_config.yaml`` imports ``build_app``)."""

from __future__ import annotations

from ray.serve import Application

from deployments.ingress import Ingress
from deployments.workers import (
    Aggregator,
    AudioExtractor,
    AudioModel,
    FrameExtractor,
    ImageModel,
    MediaFetcher,
    VideoTemporal,
)


def build_app(args: dict | None = None) -> Application:
    """Ingress → MediaFetcher → FrameExtractor / AudioExtractor → ImageModel / AudioModel /
    VideoTemporal → Aggregator. Replicas, CPUs and batching come from serve_config.yaml."""
    return Ingress.bind(
        MediaFetcher.bind(),
        FrameExtractor.bind(),
        AudioExtractor.bind(),
        VideoTemporal.bind(),
        ImageModel.bind(),
        AudioModel.bind(),
        Aggregator.bind(),
    )
