"""Leave-one-family-out probes of audio v2 head candidates on cached features (no extraction).

    .venv/bin/python experiments/audio/logo_probes.py --stage layers      # one linear head per layer, C fixed
    .venv/bin/python experiments/audio/logo_probes.py --stage heads       # layer sets, attentive heads, v1, metadata
    .venv/bin/python experiments/audio/logo_probes.py --stage fusion --views as-is wav16k mp3-32k

C is fixed at 0.01 for every linear head (not tuned). Every head is fitted on each fold's training families only and scored on the held-out family and
held-out real sources. Results (JSON + a markdown summary) go to experiments/audio/results/.
Candidates are compared on these same folds: the chosen recipe's row is optimistic by that choice.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from detectors.audio.v2_data import load_rows
from detectors.audio.v2_train import (
    LAYER_KEYS,
    HeadSpec,
    labels,
    load_features,
    logo_eval,
    summary_table,
    view_features,
)
from detectors.evaluation import logo

OUT = Path(__file__).parent / "results"


def candidates(stage: str) -> tuple[list[HeadSpec], bool]:
    if stage == "layers":
        return [HeadSpec(f"whisper-l{i}", "whisper", LAYER_KEYS[f"l{i}"], C=0.01) for i in range(4)], False
    if stage == "heads":
        return [
            HeadSpec("whisper-l1-l3", "whisper", LAYER_KEYS["l1"] + LAYER_KEYS["l2"] + LAYER_KEYS["l3"], C=0.01),
            HeadSpec("whisper-l0-l3", "whisper", sum((LAYER_KEYS[f"l{i}"] for i in range(4)), []), C=0.01),
            HeadSpec("whisper-l2-mean", "whisper", ["l2_mean"], C=0.01),
            HeadSpec("attentive-l2", "whisper", ["l2_seq"], kind="attentive", epochs=8),
            HeadSpec("v1-spectral-stats", "v1", ["stats"], C=0.01),
            HeadSpec("metadata", "meta", ["meta"], C=0.01),
        ], False
    if stage == "v1":  # the v1 recipe's feature stream with a linear probe
        return [HeadSpec("v1-spectral-stats", "v1", ["stats"])], False
    if stage == "fusion-v1":  # does the v1 statistics stream add to the Whisper heads?
        from detectors.audio.v2_train import Config

        return [*Config().heads, HeadSpec("v1-spectral-stats", "v1", ["stats"])], True
    if stage == "default":
        from detectors.audio.v2_train import Config

        return list(Config().heads), True
    raise ValueError(stage)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", default="layers")
    ap.add_argument("--views", nargs="+", default=["as-is"])
    ap.add_argument("--heads", nargs="+", default=None, help="for --stage fusion: head names (from the heads stage)")
    ap.add_argument("--tag", default="")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--subcap", type=int, default=None, help="the nested smaller draw (25: where the views exist)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rows = load_rows(subcap=args.subcap)
    y = labels(rows)
    paths = [r["path"] for r in rows]
    folds = logo.logo_folds(rows, min_fakes=20)
    if args.stage == "fusion":
        pool = {s.name: s for s in candidates("heads")[0]}
        specs = [pool[n] for n in args.heads]
        fuse = True
    else:
        specs, fuse = candidates(args.stage)
    streams = sorted({s.stream for s in specs})
    t = time.monotonic()
    feats = load_features(paths, streams, "as-is")
    views = {v: feats if v == "as-is" else view_features(paths, streams, v) for v in args.views}
    res = logo_eval(specs, feats, y, rows, folds, views, fuse=fuse, n_boot=args.n_boot)
    if args.stage == "default":  # the metadata baseline under the same protocol, not fused
        mf = {v: load_features(paths, ["meta"], v) for v in args.views}
        meta = logo_eval([HeadSpec("metadata", "meta", ["meta"])], mf["as-is"], y, rows, folds, mf, fuse=False,
                         n_boot=args.n_boot)
        for v in res:
            res[v].update(meta[v])
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"{args.stage}{args.tag}"
    (OUT / f"{name}.json").write_text(json.dumps({"rows": len(rows), "folds": len(folds), "results": res,
                                                   "seconds": time.monotonic() - t}, indent=1, default=float))
    table = summary_table(res)
    (OUT / f"{name}.md").write_text(f"{len(rows)} files, {len(folds)} folds, {time.monotonic() - t:.0f} s\n\n{table}\n")
    print(table)
    fams = np.unique([rows[i].get("family") for i in np.flatnonzero(y == 1)])
    print(f"{len(rows)} files, {len(fams)} fake families, {len(folds)} folds")


if __name__ == "__main__":
    main()
