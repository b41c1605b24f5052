"""``deepfake-eval --protocol logo``: leave-one-generator-family-out tables for a training config.

For the config's modality and streams: features (cached) as-is, augmented draws and re-encoded
(images JPEG q90; audio 16 kHz WAV and 32 kbit/s MP3; video H.264 CRF 32: the views the config
names or ``--views``); per held-out family, the config's head trained on every other family (as-is
+ augmented) and tested on the held-out family against held-out real sources, as-is and in each
re-encoded view; per stream and fused; the metadata-only baseline under the same folds. Writes
``report.json``, ``tables.md``, ROC curves (pooled held-out scores) and reliability diagrams
(the fusion's probability on unseen families) under ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from detectors.evaluation import logo, plots
from detectors.features.cache import FeatureCache
from detectors.training import head as heads
from detectors.training import recipe
from detectors.training.config import load_config
from detectors.training.streams import AS_IS

# the re-encoded views each modality is reported on when neither config nor --views names any
DEFAULT_VIEWS = {"image": ("jpeg90",), "audio": ("wav16k", "mp3-32k"), "video": ("h264-low",)}


def _summary_line(key: str, rows: list[dict]) -> str:
    s = logo.summary_row(rows)
    if not s.get("n_folds"):
        return f"  {key}: no fold with both classes"
    return (f"  {key}: mean AUC {s['auc']:.3f} (min {s['min_auc']:.3f}), mean EER {100 * s['eer']:.1f} % "
            f"(max {100 * s['max_eer']:.1f} %) over {s['n_folds']} folds")


def render(result: dict[str, Any]) -> str:
    """The text report: per view the fused table, a line per stream, and the baseline table."""
    out = [f"Leave-one-family-out: {result['config']['name']} ({result['modality']}), {result['n_items']} files "
           f"({result['n_fake']} fake), {len(result['folds'])} folds; train as-is"
           + (f" + {result['aug_draws']} aug draw(s)" if result["aug_draws"] else "")]
    for view, tables in result["tables"].items():
        out += ["", f"## test view: {view}", ""]
        if heads.FUSED in tables:
            out.append(logo.format_logo_table(tables[heads.FUSED], title=f"{heads.FUSED} ({view})"))
        out.append("")
        out += [_summary_line(k, r) for k, r in tables.items() if k != heads.FUSED or len(tables) > 2]
        base = result["baseline"].get(view) or {}
        if base:
            out += ["", logo.format_logo_table(next(iter(base.values())), title=f"{recipe.BASELINE} ({view}, same folds)")]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    """Extract, fit per fold, print and write; returns the exit code."""
    started = dt.datetime.now(dt.UTC)
    try:
        import torch

        torch.set_num_threads(args.torch_threads or 1)
    except ImportError:  # pragma: no cover
        pass
    cfg = load_config(args.config)
    views = list(args.views.split(",")) if args.views else list(cfg.views.reencoded or DEFAULT_VIEWS[cfg.modality])
    views = [v for v in views if v and v != AS_IS]
    n_draws = cfg.views.aug_draws if args.aug_draws is None else args.aug_draws
    items = recipe.select_items(cfg, args.data)
    if args.limit_per_group:
        from detectors.evaluation.dataset import cap_per_group

        items = cap_per_group(items, args.limit_per_group)
    cache = FeatureCache(args.feature_cache) if args.feature_cache else FeatureCache()
    log = (lambda m: None) if args.quiet else recipe._print
    t0 = time.monotonic()
    cf = recipe.extract_corpus(items, recipe.build_streams(cfg), views, cfg.views.aug, n_draws, cache, log,
                               progress=not args.no_progress)
    lg = recipe.logo_protocol(cf, cfg, views, n_draws, log)
    if recipe.is_baseline(cfg) and not n_draws:
        base = lg  # the config is the baseline itself: same folds, same fits
    else:
        base_cf = recipe.extract_corpus(cf.items, recipe.build_streams(cfg, baseline=True), views, cache=cache, log=log)
        base = recipe.logo_protocol(base_cf, cfg, views, 0, log) if len(base_cf.items) == len(cf.items) else None
    elapsed = time.monotonic() - t0
    result: dict[str, Any] = {
        "command": "deepfake-eval " + " ".join(args.argv),
        "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "protocol": "logo",
        "modality": cfg.modality,
        "config": cfg.to_dict(),
        "data": str(args.data or cfg.data.manifest),
        "n_items": len(cf.items),
        "n_fake": int(cf.y.sum()),
        "n_dropped": len(cf.dropped),
        "dropped": cf.dropped[:50],
        "aug_draws": n_draws,
        "views": [AS_IS, *views],
        "view_failures": {v: int((~ok).sum()) for v, ok in cf.ok.items()},
        "folds": recipe.fold_descriptions(lg["folds"], cf.items),
        "tables": lg["tables"],
        "summary": {v: {k: logo.summary_row(r) for k, r in t.items()} for v, t in lg["tables"].items()},
        "baseline": base["tables"] if base else {},
        "baseline_note": None if base else "the metadata baseline could not read every file's header",
        "host": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "wall_seconds": round(elapsed, 1),
    }
    out = args.out or Path(f"reports/logo-{cfg.name}-{started.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    written = ["report.json", "tables.md"]
    if not args.no_plots:
        for view, ls in lg["scores"].items():
            curves = {k: heads.pooled(lg["y"], ls, k) for k in ls.scores if ls.scores[k]}
            if base:
                curves[recipe.BASELINE] = heads.pooled(base["y"], base["scores"][view], heads.FUSED)
                if base is lg:
                    curves.pop(heads.FUSED, None)
            name = f"roc_{view}.png"
            if plots.roc_plot(curves, out / name, f"LOGO ROC, pooled held-out families ({view})"):
                written.append(name)
            y, s = heads.pooled(lg["y"], ls, heads.FUSED)
            p = 1.0 / (1.0 + np.exp(-np.clip(s, -40, 40)))
            name = f"reliability_{view}.png"
            if plots.reliability_plot({heads.FUSED: (y, p)}, out / name, f"fusion p(fake) on unseen families ({view})"):
                written.append(name)
    result["files"] = written
    recipe.write_json(result, out / "report.json")
    text = render(result)
    (out / "tables.md").write_text(text + "\n")
    print(text)
    print(f"\nwrote {out}/" + ", ".join(written) + f"  ({len(cf.items)} files in {elapsed:.0f} s)")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--protocol logo`` options of ``deepfake-eval``."""
    g = p.add_argument_group("--protocol logo")
    g.add_argument("--config", default=None, help="training config YAML naming modality, streams, head, views")
    g.add_argument("--views", default=None,
                   help="comma-separated re-encoded views to test on (default: the config's, else " +
                   "; ".join(f"{m}: {','.join(v)}" for m, v in DEFAULT_VIEWS.items()) + ")")
    g.add_argument("--aug-draws", type=int, default=None, help="augmented draws per training file (default: config)")
    g.add_argument("--limit-per-group", type=int, default=None, metavar="N",
                   help="at most N files per fake family / real source (content-ordered, reproducible)")
    g.add_argument("--feature-cache", type=Path, default=None, help="feature cache folder (default: DEEPFAKE_FEATURE_CACHE)")
    g.add_argument("--quiet", action="store_true", help="no extraction log")

