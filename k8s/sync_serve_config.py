"""Copy serve_config.yaml into k8s/rayservice.yaml's ``serveConfigV2`` block, so both run one graph.

``python k8s/sync_serve_config.py`` rewrites the block in place (verbatim, comments included);
``--check`` only reports whether it is out of date (exit 1). tests/test_k8s.py compares the two
parsed configs and names this command when they differ.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVE_CONFIG = ROOT / "serve_config.yaml"
RAYSERVICE = ROOT / "k8s" / "rayservice.yaml"
KEY = re.compile(r"^(?P<indent>[ ]*)serveConfigV2:[ ]*\|[ ]*$")


def render(rayservice_text: str, serve_config_text: str) -> str:
    """``rayservice_text`` with its ``serveConfigV2: |`` block replaced by ``serve_config_text``."""
    lines = rayservice_text.splitlines()
    starts = [i for i, line in enumerate(lines) if KEY.match(line)]
    if len(starts) != 1:
        raise ValueError(f"expected one 'serveConfigV2: |' line in the RayService, found {len(starts)}")
    start = starts[0]
    indent = len(KEY.match(lines[start]).group("indent")) + 2
    end = start + 1
    # The block runs while lines are blank or indented deeper than the key.
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip(" ")) >= indent):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():  # blank lines after the block stay outside it
        end -= 1
    block = [(" " * indent + line) if line.strip() else "" for line in serve_config_text.rstrip("\n").splitlines()]
    if any("\t" in line for line in block):
        raise ValueError("serve_config.yaml contains a tab; YAML block scalars cannot hold it safely")
    return "\n".join(lines[: start + 1] + block + lines[end:]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the block is out of date; write nothing")
    args = parser.parse_args(argv)
    current = RAYSERVICE.read_text()
    updated = render(current, SERVE_CONFIG.read_text())
    if args.check:
        if updated != current:
            print(f"{RAYSERVICE} is out of date: run python k8s/sync_serve_config.py", file=sys.stderr)
            return 1
        return 0
    if updated != current:
        RAYSERVICE.write_text(updated)
        print(f"updated serveConfigV2 in {RAYSERVICE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
