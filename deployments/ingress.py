"""The ingress deployment: FastAPI (REST) built inside the replica, with the graph's handles."""

from __future__ import annotations

from ray import serve

from deployments.api import Service, create_api
from deployments.orchestrator import GraphHandles
from deployments.workers import _settings
from detectors.logs import get_logger

log = get_logger("ingress")


@serve.deployment
@serve.ingress()
class Ingress:
    """Validates, authenticates, assigns job ids, runs analyses through the graph, reports progress."""

    def __init__(self, fetcher, frames, audio, temporal, image_model, audio_model, aggregator) -> None:
        self.settings = _settings()
        self.handles = GraphHandles(fetcher, frames, audio, temporal, image_model, audio_model, aggregator)
        self.service = Service(self.settings, self.handles)
        if not self.settings.auth_enabled:
            log.warning("PYTHON_SERVICE_API_KEY is not set: analysis endpoints accept requests without a key "
                        "(allowed only when ENVIRONMENT is not production)")

    def __serve_build_asgi_app__(self):
        # Built here, inside the replica: objects created at module level would be pickled copies.
        return create_api(self.service)
