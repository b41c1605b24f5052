"""``deepfake-serve``: start a local Ray and the Serve graph from serve_config.yaml (Ctrl-C stops)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deepfake-serve", description=__doc__)
    parser.add_argument("--config", default=str(ROOT / "serve_config.yaml"), help="Serve config file")
    args = parser.parse_args(argv)
    try:  # fail loudly, before Ray starts, on a bad setting
        from detectors.settings import get_settings

        settings = get_settings()
    except ValueError as exc:
        print(f"deepfake-serve: bad configuration: {exc}", file=sys.stderr)
        return 2
    settings.upload_folder.mkdir(parents=True, exist_ok=True)
    # A local single-user Ray: token auth off (see README, "Ray authentication").
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    serve_bin = shutil.which("serve") or str(Path(sys.executable).parent / "serve")
    os.chdir(ROOT)
    os.execv(serve_bin, [serve_bin, "run", args.config])
    return 0  # pragma: no cover


if __name__ == "__main__":
    raise SystemExit(main())
