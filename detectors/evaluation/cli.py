"""``deepfake-eval``: the one command behind every accuracy figure the project quotes.

    deepfake-eval DATA [--split-file models/split.json] [--subset test] [--reencode both] ...
    deepfake-eval [DATA] --protocol logo --config CONFIG [--views jpeg90] [--out DIR]
    deepfake-eval split MANIFEST --out FILE [--seed 0 --val 0.2 --test 0.3] [--keep-test OLD_SPLIT]

Two protocols. ``split`` (the default): the service's own detectors, run in-process through
``detectors.pipeline.Analyzer``, on the fixed source split's test sources: the headline table and
the calibration check. ``logo``: leave-one-generator-family-out tables for a training config's
streams and head (``detectors.evaluation.logo_eval``): generalisation to unseen generators.

DATA is a manifest CSV (file, label, modality, kind, source_repo ...), a folder holding
``manifest.csv``, ``corpus`` (corpus v2, see ``dataset.corpus_dir``) or a folder laid out as
``<modality>/<real|fake>/...``. Output: a table on stdout, and under ``--out`` a JSON report,
per-file results (JSON lines, split protocol) and ROC / reliability PNGs.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detectors.evaluation import dataset, logo_eval, report, runner
from detectors.evaluation import split as splits
from detectors.training.config import ConfigError

DEFAULT_OUT = "reports/eval-{date}"


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepfake-eval",
        description="Evaluate the service's detectors on labelled media (and `deepfake-eval split` to make a split).",
        epilog="Re-encoded numbers are the honest ones: they cannot come from the container or codec alone.",
    )
    p.add_argument("data", nargs="?", default=None,
                   help="manifest CSV, its folder, 'corpus', or a folder laid out as <modality>/<real|fake>/... "
                        "(logo protocol: default the config's manifest)")
    p.add_argument("--protocol", choices=("split", "logo"), default="split",
                   help="split: the service's detectors on the fixed split (default); logo: leave-one-family-out")
    p.add_argument("--split-file", type=Path, default=None, help="source-level split JSON (e.g. models/split.json)")
    p.add_argument("--subset", choices=("test", "val", "train", "all"), default=None,
                   help="which part of the split to score (default: test with a split file, else all)")
    p.add_argument("--modality", action="append", choices=splits.MODALITIES, default=None,
                   help="only this modality (repeatable; default: all present)")
    p.add_argument("--limit-per-kind", type=int, default=None, metavar="N",
                   help="at most N files per modality x kind x label (seeded sample) for quick runs")
    p.add_argument("--reencode", choices=("none", "only", "both"), default="both",
                   help="score the original files, only re-encoded copies, or both (default)")
    p.add_argument("--out", type=Path, default=None, help=f"report folder (default {DEFAULT_OUT})")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap replicates for CIs (0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of --limit-per-kind sampling")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    p.add_argument("--model-path", type=Path, default=None, help="weights folder (default: settings MODEL_PATH)")
    for m in splits.MODALITIES:
        p.add_argument(f"--{m}-detector", default=None, help=f"registered {m} detector (default: settings)")
    p.add_argument("--torch-threads", type=int, default=None, help="torch threads (default: settings)")
    logo_eval.add_arguments(p)
    return p


def _split_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepfake-eval split",
        description="Assign whole source repositories to train / val / test per modality and write the split JSON.",
    )
    p.add_argument("manifest", help="manifest CSV (or its folder, or 'corpus') with file, label, modality, "
                   "source_repo columns")
    p.add_argument("--out", type=Path, required=True, help="split JSON to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val", type=float, default=0.2, help="target share of files for validation")
    p.add_argument("--test", type=float, default=0.3, help="target share of files for test")
    p.add_argument("--restarts", type=int, default=100, help="random starts of the local search")
    p.add_argument("--per-modality", action="store_true",
                   help="split each modality independently (default: a source shared by modalities gets one part)")
    p.add_argument("--keep-test", type=Path, default=None, metavar="SPLIT",
                   help="an earlier split whose test sources stay in test (e.g. models/split.json)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return p


def split_main(argv: list[str]) -> int:
    args = _split_parser().parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"{args.out} exists; pass --force to overwrite", file=sys.stderr)
        return 2
    manifest = dataset.resolve_manifest(args.manifest)
    rows = dataset.read_manifest(manifest)
    keep = splits.load_split(args.keep_test) if args.keep_test else None
    made = splits.make_split(rows, seed=args.seed, val=args.val, test=args.test, restarts=args.restarts,
                             consistent=not args.per_modality, keep_test=keep,
                             description=f"Generated by `deepfake-eval split {args.manifest} --seed {args.seed} "
                                         f"--val {args.val} --test {args.test}"
                                         + (f" --keep-test {args.keep_test}" if args.keep_test else "")
                                         + "`: whole sources per part, per modality.")
    splits.write_split(made, args.out)
    summary = splits.split_summary(made, rows)
    print(report.format_table([[s["modality"], s["part"], str(s["sources"]), str(s["real"]), str(s["fake"])]
                               for s in summary], ("modality", "part", "sources", "real", "fake")))
    for problem in splits.check_against_manifest(made, rows):
        print(f"note: {problem}")
    print(f"wrote {args.out}")
    return 0


def _settings(args: argparse.Namespace):
    from detectors.settings import Settings

    overrides: dict[str, Any] = {}
    if args.model_path is not None:
        overrides["model_path"] = args.model_path
    for m in splits.MODALITIES:
        name = getattr(args, f"{m}_detector")
        if name:
            overrides[f"{m}_detector"] = name
    if args.torch_threads:
        overrides["torch_threads"] = args.torch_threads
    return Settings(**overrides)


def _git_state(model_path: Path) -> dict[str, Any]:
    """The commit the numbers belong to, and whether the weights folder differs from it."""
    import subprocess

    def git(*cmd: str) -> str | None:
        try:
            done = subprocess.run(["git", *cmd], capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None}
    changed = git("status", "--porcelain", "--", str(model_path))
    return {"commit": commit, "weights_modified_since_commit": bool(changed)}


def run(args: argparse.Namespace) -> int:
    """Select, score, summarise, write; returns the exit code."""
    from detectors.pipeline import Analyzer

    started = datetime.now(UTC)
    split = splits.load_split(args.split_file) if args.split_file else None
    subset = args.subset or ("test" if split is not None else "all")
    items = dataset.select(dataset.load_items(args.data), split=split, subset=subset,
                           modalities=args.modality, limit_per_kind=args.limit_per_kind, seed=args.seed)
    if not items:
        print(f"no files selected from {args.data} (subset {subset}, modalities {args.modality or 'all'})",
              file=sys.stderr)
        return 2
    missing = [it.file for it in items if not it.path.exists()]
    if missing:
        print(f"{len(missing)} listed file(s) do not exist, e.g. {missing[:3]}", file=sys.stderr)
        return 2
    settings = _settings(args)
    try:
        import torch

        torch.set_num_threads(settings.torch_threads)
    except ImportError:  # pragma: no cover - torch is a dependency; the harness itself does not need it
        pass
    analyzer = Analyzer(settings)
    modalities = list(dict.fromkeys(it.modality for it in items))
    used = runner.detectors_used(analyzer, modalities)
    views = {"none": ["original"], "only": ["reencoded"], "both": ["original", "reencoded"]}[args.reencode]
    t0 = time.perf_counter()
    rows = runner.score_items(analyzer, items, views=views, progress=not args.no_progress)
    elapsed = time.perf_counter() - t0
    primary = "reencoded" if "reencoded" in views else "original"

    out = args.out or Path(DEFAULT_OUT.format(date=started.strftime("%Y%m%d-%H%M%S")))
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "command": "deepfake-eval " + " ".join(args.argv),
        "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": str(args.data),
        "split_file": str(args.split_file) if args.split_file else None,
        "subset": subset,
        "modalities": modalities,
        "limit_per_kind": args.limit_per_kind,
        "views": views,
        "primary_view": primary,
        "bootstrap": args.bootstrap,
        "seed": args.seed,
        "detectors": used,
        "host": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                 "torch_threads": settings.torch_threads},
        "git": _git_state(Path(settings.model_path)),
        "files": len(items),
        "wall_seconds": round(elapsed, 1),
        "sources": {m: sorted({it.source for it in items if it.modality == m}) for m in modalities},
        "groups": report.build_groups(rows, n_boot=args.bootstrap, seed=args.seed),
    }
    if split is not None:
        result["split_problems"] = splits.check_against_manifest(
            split, [{"modality": it.modality, "source_repo": it.source} for it in dataset.load_items(args.data)]
        ) if args.data == dataset.CORPUS or Path(args.data).is_file() or (Path(args.data) / dataset.MANIFEST_NAME).is_file() \
            else []
    plots = []
    if not args.no_plots:
        for m in modalities:
            for path in (report.plot_roc(rows, m, out / f"roc_{m}.png", primary),
                         report.plot_reliability(rows, m, out / f"reliability_{m}.png")):
                if path is not None:
                    plots.append(path.name)
    result["plots"] = plots
    report.write_json(result, out / "report.json")
    report.write_rows(rows, out / "results.jsonl")
    print(report.render_report(result, markdown=args.markdown))
    print(f"\nwrote {out}/report.json, results.jsonl" + (", " + ", ".join(plots) if plots else "")
          + f"  ({len(items)} files x {len(views)} view(s) in {elapsed:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "split":
        try:
            return split_main(argv[1:])
        except (dataset.DatasetError, splits.SplitError) as exc:
            print(f"deepfake-eval split: {exc}", file=sys.stderr)
            return 2
    parser = _eval_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if args.protocol == "logo" and not args.config:
        parser.error("--protocol logo needs --config (a training config naming modality and streams)")
    if args.protocol == "split" and args.data is None:
        parser.error("the split protocol needs DATA (a manifest, its folder, 'corpus' or a media folder)")
    if args.protocol == "split" and args.data != dataset.CORPUS:
        args.data = Path(args.data)
    try:
        return logo_eval.run(args) if args.protocol == "logo" else run(args)
    except (dataset.DatasetError, splits.SplitError, ConfigError) as exc:
        print(f"deepfake-eval: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
