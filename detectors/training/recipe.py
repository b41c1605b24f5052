"""The generic training command of probe-based detectors: config -> features -> head -> calibration.

``deepfake-train recipe CONFIG --out DIR`` (``train``) does, for the config's modality:

1. rows: the manifest (corpus v2 by default) through the one manifest reader, filtered and capped
   as the config says; each row's part from the fixed source split (``models/split.json``);
2. features: every stream of the config through ``streams.extract`` (cached by file hash and
   stream version), as-is, ``aug_draws`` draws of the augmentation view and each re-encoded view;
3. head: ``head.fit_head`` on the **train** sources (as-is + augmented copies): a linear probe per
   stream (C chosen on family-grouped inner folds) and their non-negative fusion;
4. calibration: Platt on the **val** sources' fused scores, then the verdict policy's two
   operating points (``fit_operating_points``) on the same val probabilities;
5. the headline table on the **test** sources (used for nothing else), as-is and re-encoded, with
   a metadata-only baseline trained and calibrated the same way;
6. the leave-one-family-out table (``logo_protocol``: the same head, per fold, over all rows);
7. writes ``weights.json`` (probes, fusion, calibration, operating points, config, data), ``metrics.json``,
   ``logo.json`` and ``TRAINING.md`` (a model-card section) into the model directory.

``RecipeModel.load(dir)`` reads the weights back for a detector: per-stream features in, calibrated
p(fake) out, and ``operating_points`` for ``verdict_fields``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.calibration import (
    Calibration,
    OperatingPoints,
    fit_operating_points,
    fit_platt,
    operating_rates,
)
from detectors.evaluation import dataset, logo, metrics
from detectors.evaluation import split as splits
from detectors.features.cache import FeatureCache
from detectors.settings import PROJECT_ROOT
from detectors.training import head as heads
from detectors.training.config import StreamConfig, TrainingConfig, load_config
from detectors.training.stream_registry import create_stream
from detectors.training.streams import AS_IS, FeatureStream, extract

Log = Callable[[str], None]
WEIGHTS_FILE = "weights.json"
BASELINE = "metadata baseline"


def _print(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------ rows and features
def select_items(cfg: TrainingConfig, data: str | Path | None = None) -> list[dataset.Item]:
    """The config's rows: its modality from the manifest, kinds / groups filtered, capped per group."""
    items = dataset.load_manifest(data if data is not None else cfg.data.manifest, [cfg.modality])
    if cfg.data.kinds:
        items = [it for it in items if it.kind in cfg.data.kinds or not it.label]
    if cfg.data.exclude_groups:
        items = [it for it in items if it.group not in cfg.data.exclude_groups]
    return dataset.cap_per_group(items, cfg.data.cap_per_group)


def build_streams(cfg: TrainingConfig, baseline: bool = False) -> dict[str, tuple[StreamConfig, FeatureStream]]:
    """Stream key -> (its config, the loaded stream); ``baseline`` builds the metadata stream instead."""
    configs = [StreamConfig(f"{cfg.modality}/metadata")] if baseline else list(cfg.streams)
    out = {}
    for sc in configs:
        stream = create_stream(sc.name, dict(sc.params), cfg.modules)
        if stream.modality != cfg.modality:
            raise ValueError(f"stream {sc.name} is a {stream.modality} stream, the config is for {cfg.modality}")
        stream.load()
        out[sc.key] = (sc, stream)
    return out


def is_baseline(cfg: TrainingConfig) -> bool:
    """The config's only stream is the metadata baseline itself."""
    return [s.name for s in cfg.streams] == [f"{cfg.modality}/metadata"] and not cfg.streams[0].features


@dataclass
class CorpusFeatures:
    """Feature matrices of every row in every view: ``X[view][stream key]`` is (n_rows, dim)."""

    items: list[dataset.Item]
    X: dict[str, dict[str, np.ndarray]]
    ok: dict[str, np.ndarray]  # view -> every stream gave features for the row
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (file, error) with no as-is features
    seconds: float = 0.0

    @property
    def y(self) -> np.ndarray:
        return np.array([it.label for it in self.items], dtype=int)

    @property
    def rows(self) -> list[dict[str, str]]:
        return [it.as_row() for it in self.items]


def _columns(sf, sc: StreamConfig) -> np.ndarray:
    names = list(sc.features) or sorted(sf.names)
    missing = [n for n in names if n not in sf.names]
    if missing and sf.ok.any():
        raise KeyError(f"stream {sc.name} has no features {missing}; it gives {sorted(sf.names)}")
    if not sf.ok.any():
        return np.full((len(sf.ok), 1), np.nan, np.float32)
    return sf.concat(names)


def aug_view_name(draw: int) -> str:
    return f"aug:{draw}"


def extract_corpus(
    items: Sequence[dataset.Item],
    streams: Mapping[str, tuple[StreamConfig, FeatureStream]],
    views: Sequence[str] = (),
    aug: str = "aug",
    aug_draws: int = 0,
    cache: FeatureCache | None = None,
    log: Log = _print,
    progress: bool = False,
) -> CorpusFeatures:
    """Features of every item as-is (items with none are dropped), ``aug_draws`` draws of ``aug``
    (seeds 1..n) and each of ``views``; all through the feature cache."""
    cache = cache or FeatureCache()
    t0 = time.monotonic()
    items = list(items)
    paths = [it.path for it in items]

    def run(view: str, seed: int, paths_: list[Path]) -> tuple[dict[str, np.ndarray], np.ndarray, dict[int, str]]:
        X, ok, errors = {}, np.ones(len(paths_), bool), {}
        for key, (sc, stream) in streams.items():
            sf = extract(stream, paths_, view=view, seed=seed, cache=cache, progress=progress)
            X[key] = _columns(sf, sc)
            ok &= sf.ok
            errors.update(sf.errors)
            log(f"  {key} / {view}{f' #{seed}' if view == aug else ''}: {len(paths_)} files, "
                f"{sf.cache_hits} cached, {len(sf.errors)} errors, {sf.seconds:.0f} s")
        return X, ok, errors

    X0, ok0, err0 = run(AS_IS, 0, paths)
    dropped = [(items[i].file, err0.get(i, "no features")) for i in np.flatnonzero(~ok0)]
    keep = np.flatnonzero(ok0)
    items = [items[i] for i in keep]
    paths = [paths[i] for i in keep]
    X = {AS_IS: {k: v[keep] for k, v in X0.items()}}
    ok = {AS_IS: np.ones(len(items), bool)}
    for d in range(1, aug_draws + 1):
        X[aug_view_name(d)], ok[aug_view_name(d)], _ = run(aug, d, paths)
    for v in views:
        X[v], ok[v], _ = run(v, 0, paths)
    return CorpusFeatures(items, X, ok, dropped, time.monotonic() - t0)


def with_augmented(cf: CorpusFeatures, idx: np.ndarray, n_draws: int) -> tuple[dict[str, np.ndarray], np.ndarray, list[dict], np.ndarray]:
    """Training matrices of rows ``idx`` as-is plus their augmented draws (failed draws left out).

    Returns (X, y, rows, original row index of each training row)."""
    y_all, rows_all = cf.y, cf.rows
    parts = [idx] + [idx[cf.ok[aug_view_name(d)][idx]] for d in range(1, n_draws + 1)]
    views = [AS_IS] + [aug_view_name(d) for d in range(1, n_draws + 1)]
    X = {k: np.vstack([cf.X[v][k][p] for v, p in zip(views, parts, strict=True)]) for k in cf.X[AS_IS]}
    src = np.concatenate(parts)
    return X, y_all[src], [rows_all[i] for i in src], src


# ------------------------------------------------------------------ leave-one-family-out
def folds_with_augmented(folds: Sequence[logo.Fold], n: int, n_draws: int, ok: Mapping[str, np.ndarray]) -> list[logo.Fold]:
    """Folds over rows stacked as [as-is; aug 1; ...; aug D]: augmented copies of a fold's training
    rows join its training side (never its test side)."""
    out = []
    for f in folds:
        extra = [f.train[ok[aug_view_name(d)][f.train]] + d * n for d in range(1, n_draws + 1)]
        out.append(logo.Fold(f.name, f.families, np.concatenate([f.train, *extra]), f.test, f.test_real_sources))
    return out


def logo_protocol(cf: CorpusFeatures, cfg: TrainingConfig, views: Sequence[str] = (), n_draws: int = 0,
                  log: Log = _print) -> dict[str, Any]:
    """LOGO scores of the config's head over all rows: as-is and each re-encoded view (train as-is
    + augmented, test in the view). Returns folds, ``tables[view][key]`` (run_logo rows) and the
    held-out scores (``heads.LogoScores`` per view) for plots."""
    n, y, rows = len(cf.items), cf.y, cf.rows
    folds = logo.logo_folds(rows, min_fakes=cfg.logo.min_fakes, n_real_groups=cfg.logo.n_real_groups, seed=cfg.seed)
    ext = folds_with_augmented(folds, n, n_draws, cf.ok)
    X, y_ext, rows_ext, _ = with_augmented(cf, np.arange(n), n_draws)
    pad = {k: np.full((len(y_ext) - n, v.shape[1]), np.nan, np.float32) for k, v in X.items()}
    test_X = {v: {k: np.vstack([cf.X[v][k], pad[k]]) for k in X} for v in views}
    log(f"LOGO: {len(folds)} folds over {n} rows ({int(y.sum())} fake), {len(X)} stream(s), views {[AS_IS, *views]}")
    t0 = time.monotonic()
    scores = heads.logo_scores(X, y_ext, rows_ext, ext, test_X, Cs=cfg.head.Cs, n_inner=cfg.head.n_inner,
                               weighted=cfg.head.weighted, fuse=cfg.head.fusion != "none")
    tables = {v: heads.logo_rows(y_ext, s, n_boot=cfg.logo.n_boot) for v, s in scores.items()}
    log(f"LOGO fitted in {time.monotonic() - t0:.0f} s")
    return {"folds": folds, "y": y_ext, "tables": tables, "scores": scores}


def fold_descriptions(folds: Sequence[logo.Fold], items: Sequence[dataset.Item]) -> list[dict]:
    return [{"fold": f.name, "families": list(f.families), "n_train": int(len(f.train)), "n_test": int(len(f.test)),
             "test_real_sources": list(f.test_real_sources),
             "test_fake_sources": sorted({items[i].source for i in f.test if items[i].label})} for f in folds]


# ------------------------------------------------------------------ fixed split: fit, calibrate, report
def split_parts(items: Sequence[dataset.Item], split: Mapping[str, Any], modality: str) -> np.ndarray:
    """Each item's part ("train" / "val" / "test", "" when its source is not in the split)."""
    return np.array([splits.part_of(split, modality, it.source) or "" for it in items])


@dataclass
class SplitFit:
    head: heads.FittedHead
    calibration: Calibration
    operating_points: OperatingPoints
    metrics: dict[str, Any]


def _headline(y: np.ndarray, p: np.ndarray, ops: OperatingPoints, n_boot: int) -> dict[str, Any]:
    out = metrics.summarize(y, p, ops.fake_above, n_boot=n_boot)
    out.update(operating_rates(p, y, ops.real_below, ops.fake_above))
    return out


def fit_on_split(cf: CorpusFeatures, parts: np.ndarray, cfg: TrainingConfig, views: Sequence[str], n_draws: int,
                 n_boot: int = 1000) -> SplitFit:
    """Head on train (+aug), Platt and operating points on val, headline metrics on test (and val)."""
    y = cf.y
    idx = {p: np.flatnonzero(parts == p) for p in splits.PARTS}
    for p in ("train", "val"):
        if len(np.unique(y[idx[p]])) < 2:
            raise ValueError(f"the split's {p} sources need real and fake {cfg.modality} files; "
                             f"they have {int((y[idx[p]] == 0).sum())} real / {int(y[idx[p]].sum())} fake")
    X, y_tr, rows_tr, _ = with_augmented(cf, idx["train"], n_draws)
    head = heads.fit_head(X, y_tr, rows_tr, np.arange(len(y_tr)), Cs=cfg.head.Cs, n_inner=cfg.head.n_inner,
                          weighted=cfg.head.weighted, fuse=cfg.head.fusion != "none")
    val_sources = sorted({cf.items[i].source for i in idx["val"]})
    fitted_on = f"val sources ({len(val_sources)}): " + ", ".join(val_sources)
    cal = fit_platt(head.score(cf.X[AS_IS], idx["val"]), y[idx["val"]], fitted_on=fitted_on)
    p_val = np.asarray(cal.probability(head.score(cf.X[AS_IS], idx["val"])))
    ops = fit_operating_points(p_val, y[idx["val"]], cfg.operating_points.max_fpr, cfg.operating_points.max_fnr,
                               fitted_on=fitted_on)
    out: dict[str, Any] = {"rows": {p: {"n": int(len(i)), "real": int((y[i] == 0).sum()), "fake": int(y[i].sum()),
                                         "sources": sorted({cf.items[j].source for j in i})} for p, i in idx.items()},
                           "val": _headline(y[idx["val"]], p_val, ops, n_boot), "test": {}}
    if len(idx["test"]):
        for v in (AS_IS, *views):
            p = np.asarray(cal.probability(head.score(cf.X[v], idx["test"])))
            yt = y[idx["test"]]
            row = _headline(yt, p, ops, n_boot)
            row["per_stream_auc"] = {k: metrics.auc(yt, s) for k, s in head.stream_scores(cf.X[v], idx["test"]).items()}
            out["test"][v] = row
    return SplitFit(head, cal, ops, out)


# ------------------------------------------------------------------ model directory
def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    return value


def write_json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(_finite(obj), indent=1, default=str) + "\n")


@dataclass
class RecipeModel:
    """A trained recipe head as a detector loads it: per-stream features -> calibrated p(fake)."""

    modality: str
    streams: list[dict]  # {key, name, version, features, params}
    head: heads.FittedHead
    calibration: Calibration
    operating_points: OperatingPoints
    info: dict = field(default_factory=dict)

    def probability(self, features: Mapping[str, Mapping[str, np.ndarray]]) -> float:
        """p(fake) from ``{stream key: {feature name: vector}}`` (each stream's ``features(path)``)."""
        X = {}
        for s in self.streams:
            names = s["features"] or sorted(features[s["key"]])
            X[s["key"]] = np.concatenate([np.asarray(features[s["key"]][n], np.float64).reshape(-1) for n in names])[None]
        return float(self.calibration.probability(self.head.score(X)[0]))

    @classmethod
    def load(cls, model_dir: str | Path) -> RecipeModel:
        d = json.loads((Path(model_dir) / WEIGHTS_FILE).read_text())
        return cls(d["modality"], d["streams"], heads.FittedHead.from_dict(d["head"]),
                   Calibration.from_dict(d["calibration"]), OperatingPoints.from_dict(d["operating_points"]),
                   d.get("info", {}))


def _fmt_ci(v: float | None, ci: Sequence | None, pct: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    lo, hi = (ci or [math.nan, math.nan])[:2]
    f = (lambda x: f"{100 * x:.1f} %") if pct else (lambda x: f"{x:.3f}")
    return f"{f(v)} [{f(lo) if math.isfinite(lo) else '–'}, {f(hi) if math.isfinite(hi) else '–'}]"


def model_card_section(result: Mapping[str, Any]) -> str:
    """Markdown for a model card: data, split, operating points, headline and LOGO tables, baselines."""
    cfg, split_m, ops = result["config"], result["split_metrics"], result["operating_points"]
    lines = [f"## Training: `{cfg['name']}` ({cfg['modality']})", "",
             f"- Command: `{result['command']}` ({result['date']}, seed {cfg['seed']})",
             f"- Data: `{result['data']}`, {result['n_items']} files ({result['n_dropped']} without features left out); "
             f"split `{result['split']}`",
             f"- Streams: {', '.join(s['key'] for s in result['streams'])}; head: linear probes "
             f"(C from {list(cfg['head']['Cs'])} on family-grouped inner folds)"
             + (f", non-negative fusion {json.dumps({k: round(v, 3) for k, v in result['fusion_weights'].items()})}"
                if len(result["fusion_weights"]) > 1 else ""),
             f"- Augmentation: {cfg['views']['aug_draws']} draw(s) of `{cfg['views']['aug']}` per training file; "
             f"re-encoded views: {', '.join(cfg['views']['reencoded']) or 'none'}",
             f"- Calibration: Platt on the val sources; operating points (at most {100 * ops['max_fpr']:.0f} % of val "
             f"reals called fake, {100 * ops['max_fnr']:.0f} % of val fakes called real): real below "
             f"**{ops['real_below']:.3f}**, fake at or above **{ops['fake_above']:.3f}**; measured on val: "
             + ", ".join(f"{k} {100 * v:.1f} %" for k, v in ops["measured"].items()
                         if isinstance(v, float) and k not in ("n_real", "n_fake")),
             "", "### Test sources (fixed split; used for nothing else)", "",
             "| view | model | files (real/fake) | AUC [95% CI] | EER [95% CI] | reals called fake | fakes called real "
             "| inconclusive (real/fake) |", "|---|---|---|---|---|---|---|---|"]
    for name, block in (("model", split_m), (BASELINE, result.get("baseline_split_metrics") or {})):
        for view, m in (block.get("test") or {}).items():
            lines.append(
                f"| {view} | {name} | {m['n_real']}/{m['n_fake']} | {_fmt_ci(m['auc'], m['auc_ci'])} | "
                f"{_fmt_ci(m['eer'], m['eer_ci'], True)} | {100 * m['real_called_fake']:.1f} % | "
                f"{100 * m['fake_called_real']:.1f} % | {100 * m['real_inconclusive']:.0f} % / {100 * m['fake_inconclusive']:.0f} % |")
    for view, tables in (result.get("logo") or {}).items():
        lines += ["", f"### Leave-one-family-out, test {view} (train as-is{' + aug' if cfg['views']['aug_draws'] else ''})", ""]
        streams = [k for k in tables if k != heads.FUSED]
        for key in (heads.FUSED, *(streams if len(streams) > 1 else [])):  # one stream: its table is the fusion
            if key in tables:
                lines += [logo.format_logo_table(tables[key], title=key), ""]
        base = (result.get("baseline_logo") or {}).get(view, {})
        if base:
            lines += [logo.format_logo_table(next(iter(base.values())), title=f"{BASELINE} (same folds)"), ""]
    lines += ["Licences of the training data are mixed and several are non-commercial: see the corpus data card."]
    return "\n".join(lines) + "\n"


def save_model(out: Path, cfg: TrainingConfig, fit: SplitFit, streams: Mapping[str, tuple[StreamConfig, FeatureStream]],
               result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    weights = {
        "modality": cfg.modality,
        "streams": [{"key": k, "name": sc.name, "version": s.version, "stream": s.name, "features": list(sc.features),
                     "params": dict(sc.params)} for k, (sc, s) in streams.items()],
        "head": fit.head.to_dict(),
        "calibration": fit.calibration.to_dict(),
        "operating_points": fit.operating_points.to_dict(),
        "info": {"config": cfg.to_dict(), "date": result["date"], "command": result["command"], "data": result["data"],
                 "split": result["split"]},
    }
    write_json(weights, out / WEIGHTS_FILE)
    write_json({k: result[k] for k in ("split_metrics", "baseline_split_metrics", "operating_points")}, out / "metrics.json")
    write_json({k: result.get(k) for k in ("folds", "logo", "baseline_logo")}, out / "logo.json")
    (out / "TRAINING.md").write_text(model_card_section(result))


def train(cfg: TrainingConfig, out: Path, data: str | Path | None = None, split_path: str | Path | None = None,
          cache: FeatureCache | None = None, run_logo: bool = True, n_boot: int = 1000, log: Log = _print,
          command: str = "") -> dict[str, Any]:
    """The whole recipe (see the module docstring); returns the result written to ``out``."""
    started = dt.datetime.now(dt.UTC)
    items = select_items(cfg, data)
    split_file = Path(split_path or cfg.data.split)
    if not split_file.is_absolute() and not split_file.exists():
        split_file = PROJECT_ROOT / split_file
    split = splits.load_split(split_file)
    parts = split_parts(items, split, cfg.modality)
    unlisted = sorted({it.source for it, p in zip(items, parts, strict=True) if not p})
    if unlisted:
        log(f"{len(unlisted)} source(s) are in no part of {split_file} and are left out: {unlisted[:5]}")
    items = [it for it, p in zip(items, parts, strict=True) if p]
    log(f"{cfg.name}: {len(items)} {cfg.modality} files ({sum(it.label for it in items)} fake) from "
        f"{data if data is not None else cfg.data.manifest}")
    views = list(cfg.views.reencoded)
    n_draws = cfg.views.aug_draws
    streams = build_streams(cfg)
    cf = extract_corpus(items, streams, views, cfg.views.aug, n_draws, cache, log)
    parts = split_parts(cf.items, split, cfg.modality)
    fit = fit_on_split(cf, parts, cfg, views, n_draws, n_boot)
    base_streams = build_streams(cfg, baseline=True)
    base_cf = extract_corpus(cf.items, base_streams, views, cache=cache, log=log)
    base_fit = fit_on_split(base_cf, split_parts(base_cf.items, split, cfg.modality), cfg, views, 0, n_boot) \
        if len(base_cf.items) == len(cf.items) else None
    result: dict[str, Any] = {
        "command": command or f"deepfake-train recipe {cfg.source or cfg.name} --out {out}",
        "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": cfg.to_dict(),
        "data": str(dataset.resolve_manifest(data if data is not None else cfg.data.manifest)),
        "split": str(split_file),
        "n_items": len(cf.items),
        "n_dropped": len(cf.dropped),
        "dropped": cf.dropped[:50],
        "streams": [{"key": k, "name": sc.name, "version": s.version} for k, (sc, s) in streams.items()],
        "fusion_weights": fit.head.weights,
        "operating_points": fit.operating_points.to_dict(),
        "split_metrics": fit.metrics,
        "baseline_split_metrics": base_fit.metrics if base_fit else None,
        "extraction_seconds": round(cf.seconds + base_cf.seconds, 1),
    }
    if run_logo:
        lg = logo_protocol(cf, cfg, views, n_draws, log)
        result["folds"] = fold_descriptions(lg["folds"], cf.items)
        result["logo"] = lg["tables"]
        if is_baseline(cfg) and not n_draws:
            result["baseline_logo"] = lg["tables"]  # the config is the baseline: same folds, same fits
        elif len(base_cf.items) == len(cf.items):
            result["baseline_logo"] = logo_protocol(base_cf, cfg, views, 0, log)["tables"]
    save_model(out, cfg, fit, streams, result)
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepfake-train recipe", description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="training config YAML (or a name in detectors/training/configs/)")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    p.add_argument("--data", default=None, help="manifest CSV or its folder (default: the config's, usually the corpus)")
    p.add_argument("--split", default=None, help="source split JSON (default: the config's)")
    p.add_argument("--no-logo", action="store_true", help="skip the leave-one-family-out table")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates of the headline intervals")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:  # pragma: no cover
        pass
    cfg = load_config(args.config)
    try:
        result = train(cfg, args.out, args.data, args.split, run_logo=not args.no_logo, n_boot=args.bootstrap,
                       command="deepfake-train recipe " + " ".join(shlex.quote(a) for a in argv))
    except (dataset.DatasetError, splits.SplitError) as exc:
        print(f"deepfake-train recipe: {exc}", file=sys.stderr)
        return 2
    print(model_card_section(result))
    print(f"wrote {args.out}/{WEIGHTS_FILE}, metrics.json, logo.json, TRAINING.md")
    return 0
