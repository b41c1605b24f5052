"""``deepfake-train MODALITY [options]``: dispatch to ``detectors.<modality>.train.main``."""

from __future__ import annotations

import importlib
import sys

MODALITIES = ("image", "audio", "video")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in MODALITIES:
        print(f"usage: deepfake-train {{{','.join(MODALITIES)}}} [options]   (--help after the modality for its options)")
        return 0 if args and args[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"detectors.{args[0]}.train")
    return int(module.main(args[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
