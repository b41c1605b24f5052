"""Start the real graph with ``serve.run`` on a local Ray (serve_config.yaml's sizes), for integration tests."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.asgi_server import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextmanager
def serve_graph(env: dict[str, str], overrides: dict[str, dict] | None = None, timeout: float = 240,
                direct_ingress: bool = False) -> Iterator[str]:
    """Yield the base URL of a running graph; ``env`` reaches every replica (settings come from it).

    ``direct_ingress``: Serve's direct ingress (``RAY_SERVE_ENABLE_DIRECT_INGRESS``): the one Ingress
    replica serves HTTP on a port of its own, without the HTTP proxy's hop; the URL is that port's.
    """
    direct_port = free_port() if direct_ingress else None
    if direct_port is not None:  # the replica port range is [min, max): exactly this port
        env = {**env, "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1", "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(direct_port),
               "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(direct_port + 1)}
    import ray
    from ray import serve

    from deployments.app import build_graph, deployment_options

    env = {"RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1", "PYTHONPATH": ROOT, **env}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from detectors.settings import get_settings

    get_settings.cache_clear()
    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env}, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        options = deployment_options()
        for name, extra in (overrides or {}).items():
            options[name] = {**options.get(name, {}), **extra}
        serve.run(build_graph(options), name="deepfake", route_prefix="/", blocking=False)
        base = f"http://127.0.0.1:{direct_port or port}"
        deadline = time.time() + timeout
        while True:
            try:
                if httpx.get(f"{base}/api/status", timeout=10).json().get("models_ready"):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.time() > deadline:
                raise RuntimeError("the Serve graph did not become ready")
            time.sleep(1)
        yield base
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
