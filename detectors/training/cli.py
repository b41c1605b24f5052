"""``deepfake-train MODALITY [options]``: dispatch to ``detectors.<modality>.train.main``;
``deepfake-train recipe CONFIG --out DIR``: the generic probe recipe (``detectors.training.recipe``)."""

from __future__ import annotations

import importlib
import sys

MODALITIES = ("image", "audio", "video")
COMMANDS = (*MODALITIES, "recipe")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        print(f"usage: deepfake-train {{{','.join(MODALITIES)}}} [options]   (--help after the modality for its options)\n"
              "       deepfake-train recipe CONFIG --out DIR [--data MANIFEST] [--split SPLIT]   (a training config)")
        return 0 if args and args[0] in ("-h", "--help") else 2
    name = "detectors.training.recipe" if args[0] == "recipe" else f"detectors.{args[0]}.train"
    module = importlib.import_module(name)
    return int(module.main(args[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
