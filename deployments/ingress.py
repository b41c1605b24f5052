"""The ingress deployment: FastAPI (REST) and Socket.IO (live progress) on one port, built inside
the replica, with the graph's handles and the progress bus shared by all ingress replicas."""

from __future__ import annotations

from ray import serve
from ray.serve.exceptions import RayServeException

from deployments.api import Service
from deployments.orchestrator import GraphHandles
from deployments.progress import BusClient, JobEventHub
from deployments.replica import replica_settings
from deployments.socketio_server import create_realtime_app, socket_capacity
from detectors.logs import get_logger

log = get_logger("ingress")


@serve.deployment
@serve.ingress()
class Ingress:
    """Validates, authenticates, assigns job ids, runs analyses through the graph, reports progress."""

    def __init__(self, analysis, image_model, audio_model, bus=None) -> None:
        self.settings = replica_settings(uses_torch=False)
        self.handles = GraphHandles(analysis, image_model, audio_model)
        # With a bus, every ingress replica hears every job's events (a REST job on one replica
        # streams to a socket on another); without one, events stay on this replica.
        self.hub = JobEventHub(BusClient(bus) if bus is not None else None)
        self.service = Service(self.settings, self.handles, self.hub)
        self.realtime = None
        if not self.settings.auth_enabled:
            log.warning("PYTHON_SERVICE_API_KEY is not set: analysis endpoints accept requests without a key "
                        "(allowed only when ENVIRONMENT is not production)")

    def __serve_build_asgi_app__(self):
        # Built here, inside the replica: a module-level socketio.AsyncServer would be a pickled
        # copy whose emits are silently dropped.
        app, self.realtime = create_realtime_app(self.service, self.hub, max_connections=_socket_limit())
        return app


def _socket_limit() -> int | None:
    """Sockets this replica accepts, from its ``max_ongoing_requests`` (see ``socket_capacity``)."""
    try:
        limit = serve.get_replica_context()._deployment_config.max_ongoing_requests
    except (RayServeException, AttributeError) as exc:  # not in a replica, or Serve changed
        log.warning("socket limit unknown (%s): Socket.IO connections are not capped", type(exc).__name__)
        return None
    capacity = socket_capacity(int(limit))
    log.info("Socket.IO: up to %d sockets on this replica (max_ongoing_requests %d)", capacity, limit)
    return capacity
