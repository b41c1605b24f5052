"""serve_config.yaml uses only keys this Ray version accepts, and names the graph's deployments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.serve.config import AutoscalingConfig
from ray.serve.schema import (
    DeploymentSchema,
    HTTPOptionsSchema,
    RayActorOptionsSchema,
    ServeApplicationSchema,
    ServeDeploySchema,
)

CONFIG = Path(__file__).resolve().parent.parent / "serve_config.yaml"
USER_CONFIG_KEYS = {"max_batch_size", "batch_wait_timeout_s"}  # what _BatchedModel.reconfigure reads


def unknown_keys(cfg: dict) -> list[str]:
    """Every key Ray would silently ignore (Serve's schemas do not forbid extra keys)."""
    bad: list[str] = []

    def check(obj: dict, model, where: str) -> None:
        for key in obj:
            if key not in model.model_fields:
                bad.append(f"{where}.{key}")

    check(cfg, ServeDeploySchema, "")
    check(cfg.get("http_options", {}), HTTPOptionsSchema, "http_options")
    for app in cfg.get("applications", []):
        check(app, ServeApplicationSchema, f"app[{app.get('name')}]")
        for dep in app.get("deployments", []):
            where = f"{app.get('name')}.{dep.get('name')}"
            check(dep, DeploymentSchema, where)
            check(dep.get("autoscaling_config") or {}, AutoscalingConfig, f"{where}.autoscaling_config")
            check(dep.get("ray_actor_options") or {}, RayActorOptionsSchema, f"{where}.ray_actor_options")
            for key in dep.get("user_config") or {}:
                if key not in USER_CONFIG_KEYS:
                    bad.append(f"{where}.user_config.{key}")
    return bad


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_config_parses_and_has_no_ignored_keys(config):
    ServeDeploySchema.model_validate(config)
    assert unknown_keys(config) == []


def test_checker_catches_misspelled_keys(config):
    import copy

    broken = copy.deepcopy(config)
    dep = broken["applications"][0]["deployments"][2]
    dep.setdefault("autoscaling_config", {})["target_num_ongoing_requests_per_replica"] = 3
    dep["max_concurrent_queries"] = 4
    assert len(unknown_keys(broken)) == 2


def test_every_deployment_in_the_graph_is_configured(config):
    from deployments.app import build_app

    app = config["applications"][0]
    assert app["import_path"] == "deployments.app:build_app"
    names = {d["name"] for d in app["deployments"]}
    built = build_app({})
    graph_names = set()
    stack = [built]
    while stack:
        dep = stack.pop()._bound_deployment
        graph_names.add(dep.name)
        stack.extend(a for a in (*dep.init_args, *dep.init_kwargs.values()) if hasattr(a, "_bound_deployment"))
    assert graph_names == names


def test_fits_two_cores_and_has_back_pressure(config):
    deps = config["applications"][0]["deployments"]
    minimum = sum(
        d["ray_actor_options"]["num_cpus"] * (d.get("autoscaling_config", {}).get("min_replicas") or d.get("num_replicas", 1))
        for d in deps
    )
    assert minimum <= 2.0
    for d in deps:
        if d["name"] != "Ingress":
            assert d.get("max_queued_requests", -1) > 0, d["name"]
    # Fixed counts on the 2-core machine (the cluster autoscales them: k8s/sync_serve_config.py).
    counted = {d["name"]: d.get("num_replicas") for d in deps}
    assert counted["Analysis"] >= 2 and counted["ImageModel"] >= 1 and counted["AudioModel"] >= 1


def test_builder_is_callable_the_way_serve_run_calls_it():
    """``serve run`` rejects builders that take more than one parameter."""
    import inspect

    from deployments.app import build_app

    assert len(inspect.signature(build_app).parameters) == 1
    from ray.serve._private.api import call_user_app_builder_with_args_if_necessary

    assert call_user_app_builder_with_args_if_necessary(build_app, {}) is not None
