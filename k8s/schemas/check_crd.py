"""Compare rayservice-v1.schema.yaml with an upstream KubeRay RayService CRD; list every difference.

Use it when moving to a new KubeRay release: download that release's ``ray.io_rayservices.yaml``
(helm-chart/kuberay-operator/crds/ in the KubeRay repository), run

    python k8s/schemas/check_crd.py path/to/ray.io_rayservices.yaml

and edit the trimmed schema until it prints nothing. At every level the trimmed schema describes, it
checks the field names, types, enums, minimums and ``required`` lists against the CRD's v1
``openAPIV3Schema``. Branches kept as a bare type and the Kubernetes core types (``$ref`` into
kubernetes-defs.json) are compared by type only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

SCHEMA = Path(__file__).resolve().parent / "rayservice-v1.schema.yaml"
# Enums the CRD does not write as ``enum``: managedBy is checked by a CEL rule
# (x-kubernetes-validations) with the same two values; upgradeStrategy.type by the operator.
STRICTER_ENUMS = {"spec.managedBy", "spec.rayClusterConfig.managedBy", "spec.upgradeStrategy.type"}


def crd_schema(crd: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    """The ``openAPIV3Schema`` of ``version`` in a CustomResourceDefinition."""
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            return entry["schema"]["openAPIV3Schema"]
    raise ValueError(f"the CRD has no version {version}")


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    """A node with local ``$ref`` followed (siblings kept); None for a Kubernetes core type."""
    ref = node.get("$ref")
    if ref is None:
        return node
    if not ref.startswith("#/$defs/"):
        return None
    merged = {**_resolve(defs[ref.removeprefix("#/$defs/")], defs), **{k: v for k, v in node.items() if k != "$ref"}}
    return merged


def compare(ours: dict[str, Any], crd: dict[str, Any], defs: dict[str, Any], path: str = "spec") -> list[str]:
    """Differences between a node of the trimmed schema and the CRD's node at the same path."""
    node = _resolve(ours, defs)
    if node is None or "allOf" in node:  # Kubernetes core type: the CRD inlines the same Go type
        return [] if crd.get("type") == "object" else [f"{path}: CRD type {crd.get('type')}, ours a Kubernetes object"]
    problems = []
    if node.get("type") != crd.get("type"):
        problems.append(f"{path}: type {node.get('type')} here, {crd.get('type')} in the CRD")
    if "enum" in crd and sorted(node.get("enum", [])) != sorted(crd["enum"]):
        problems.append(f"{path}: enum {node.get('enum')} here, {crd['enum']} in the CRD")
    elif "enum" in node and "enum" not in crd and path not in STRICTER_ENUMS:
        problems.append(f"{path}: enum {node['enum']} here, none in the CRD")
    if "minimum" in crd and node.get("minimum") != crd["minimum"]:
        problems.append(f"{path}: minimum {node.get('minimum')} here, {crd['minimum']} in the CRD")
    if "properties" in node:
        ours_p, crd_p = node["properties"], crd.get("properties", {})
        for name in sorted(set(crd_p) - set(ours_p)):
            problems.append(f"{path}.{name}: in the CRD, missing here")
        for name in sorted(set(ours_p) - set(crd_p)):
            problems.append(f"{path}.{name}: here, not in the CRD")
        for name in sorted(set(ours_p) & set(crd_p)):
            problems += compare(ours_p[name], crd_p[name], defs, f"{path}.{name}")
        if sorted(node.get("required", [])) != sorted(crd.get("required", [])):
            problems.append(f"{path}: required {node.get('required', [])} here, {crd.get('required', [])} in the CRD")
    if isinstance(node.get("items"), dict) and isinstance(crd.get("items"), dict):
        problems += compare(node["items"], crd["items"], defs, f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict) and isinstance(crd.get("additionalProperties"), dict):
        problems += compare(node["additionalProperties"], crd["additionalProperties"], defs, f"{path}{{}}")
    return problems


def check(crd: dict[str, Any], schema: dict[str, Any] | None = None) -> list[str]:
    """Every difference between the trimmed schema's ``spec`` and the CRD's."""
    schema = schema or yaml.safe_load(SCHEMA.read_text())
    return compare(schema["properties"]["spec"], crd_schema(crd)["properties"]["spec"], schema["$defs"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", type=Path, help="ray.io_rayservices.yaml of the KubeRay release")
    args = parser.parse_args(argv)
    crds = [d for d in yaml.safe_load_all(args.crd.read_text()) if d]
    problems = check(crds[0])
    print("\n".join(problems) or "the trimmed schema matches the CRD")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
