"""``deepfake-data build``: turn the source catalogue's git snapshots into the training corpus.

    deepfake-data build [--mirror DIR] [--out DIR] [--catalogue DIR] [--train DIR] [--only image|audio|video]

Idempotent and resumable: a rerun rewrites nothing whose sha256 already matches.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detectors.corpus import build as corpus_build


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepfake-data", description="Corpus tools for deepfake-detection.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build or update the corpus from git snapshots of the catalogue's repositories")
    b.add_argument("--mirror", type=Path, default=Path("/work/.mirror"),
                   help="folder of snapshots: <owner>+<name>/repo (bare or with .git) or <owner>/<name> clones")
    b.add_argument("--out", type=Path, default=None,
                   help="corpus folder (default $DEEPFAKE_CORPUS_DIR or ~/.cache/deepfake-detection/corpus)")
    b.add_argument("--catalogue", type=Path, default=Path("../shared/data/catalogue"), help="catalogue folder")
    b.add_argument("--train", type=Path, default=Path("../shared/data/train"),
                   help="shared train set to merge in (folder with manifest.csv); 'none' to skip")
    b.add_argument("--only", choices=corpus_build.MODALITIES, default=None, help="build one modality only")
    b.add_argument("--verify", action="store_true", help="re-hash every existing output (default: trust size+mtime)")
    b.add_argument("--quiet", action="store_true", help="only the summary")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.catalogue.is_dir():
        print(f"deepfake-data: catalogue folder {args.catalogue} not found", file=sys.stderr)
        return 2
    train = None if str(args.train) == "none" else args.train
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, flush=True))
    report = corpus_build.build(args.mirror, args.out, args.catalogue, train, args.only, args.verify, log)
    for line in corpus_build.summary_lines(report):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
