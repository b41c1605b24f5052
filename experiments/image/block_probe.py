"""Every CLIP block's CLS token as a probe input (RINE: Koutlis & Papadopoulos, ECCV 2024, found the
intermediate encoder blocks of CLIP's ViT carry more of the generation traces than its last layer).

    # extraction, one process per core (the whole view at short side 128 + JPEG q90, as the shipped stream):
    .venv/bin/python experiments/image/block_probe.py extract --shard 0/2   # and 1/2
    .venv/bin/python experiments/image/block_probe.py eval --json experiments/image/results/block_probe.json

Features: the CLS token after each of the 12 blocks (layer-normalised without its affine part,
768-d each) of the same int8 ONNX graph the ``clip`` stream runs, exposed in memory; the whole view
at equalised resolution (``whole_short`` 128, the shipped front end); as-is and JPEG q90; cached
under their own stream name. Protocol as ``resolution_view.py`` (cap 300, the card's 7 folds, std /
w1 ridge probes, penalty by inner leave-one-family-out folds of each outer fold's training rows):
one probe per block, one on all blocks side by side, the block chosen per outer fold by the inner
criterion (the honest estimate of "choose a block, then train"), beside the shipped ``proj`` head.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from detectors.image.clip_stream import ClipStream, _layer_norm  # noqa: E402

N_BLOCKS = 12
WHOLE_SHORT = 128


def block_output(i: int) -> str:
    """Block i's output (0-based) in the export; the last block's is the graph's second output."""
    return f"/vision_model/encoder/layers.{i}/Add_1_output_0"


class ClipBlocks(ClipStream):
    """The CLIP stream's graph with every block's output exposed: ``blk`` = 12 CLS tokens (12 x 768)."""

    name = "clip-b16-int8-blocks"

    def _load_backbone(self) -> None:
        import onnx
        import onnxruntime as ort

        from detectors.image.weights import CLIP_ENCODER

        model = onnx.load(str(CLIP_ENCODER.path()))
        have = {o.name for o in model.graph.output}
        for i in range(N_BLOCKS - 1):
            if block_output(i) not in have:
                model.graph.output.append(onnx.helper.make_tensor_value_info(block_output(i), onnx.TensorProto.FLOAT, None))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self._names = [block_output(i) for i in range(N_BLOCKS - 1)] + [self.session.get_outputs()[1].name]

    def embed(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        from detectors.image.clip_stream import to_clip_input

        outs = self.session.run(self._names, {"pixel_values": to_clip_input(inputs)})
        cls = np.stack([_layer_norm(o[:, 0]) for o in outs], axis=1)  # (n, 12, 768)
        return {"blk": cls.reshape(len(inputs), -1).astype(np.float32)}


def extract(shard: str, cap: int) -> None:
    import json
    import time

    from extract_whole import ranked

    from detectors.features.cache import FeatureCache
    from detectors.image.v2_data import default_manifest, load_rows
    from detectors.training.streams import features_of

    i, n = map(int, shard.split("/"))
    order = ranked(load_rows(default_manifest(), cap=cap))[i::n]
    stream = ClipBlocks(crops=(), faces=False, whole_short=WHOLE_SHORT)
    stream.load()
    cache = FeatureCache()
    t0, errors = time.time(), 0
    for k, (_, r) in enumerate(order):
        for v in ("as-is", "jpeg90"):
            try:
                features_of(stream, Path(r["path"]), v, 0, cache)
            except Exception as exc:  # a bad file is recorded and skipped
                errors += 1
                print(f"error {r['file']} {v}: {exc}", flush=True)
        if (k + 1) % 200 == 0:
            print(f"{k + 1}/{len(order)} files, {(time.time() - t0) / (k + 1):.2f} s/file", flush=True)
    print(json.dumps({"stream": stream.name, "version": stream.version, "files": len(order), "errors": errors,
                      "seconds": round(time.time() - t0, 1)}))


def cached_blocks(paths: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    from detectors.features.cache import FeatureCache, derived_key, file_key

    stream = ClipBlocks(crops=(), faces=False, whole_short=WHOLE_SHORT)
    cache = FeatureCache(read_only=True)
    out, ok = {}, np.ones(len(paths), bool)
    for v in ("as-is", "jpeg90"):
        mat = np.full((len(paths), N_BLOCKS * 768), np.nan, np.float32)
        for j, p in enumerate(paths):
            g = cache.get(stream.name, stream.version, derived_key(file_key(p), v, 0))
            if g is None:
                ok[j] = False
            else:
                mat[j] = np.asarray(g["whole.blk"]).reshape(-1)
        out[v] = mat
    return out, ok


def evaluate(json_path: Path) -> None:
    from probe_scale import CONDS, cached_rows, cached_whole, save_tables
    from train_views import fit

    from detectors.image.v2_logo import RIDGE_LAMBDAS, usable_inner
    from detectors.image.v2_model import HEADS, head_matrix

    rows, _, y, _, folds = cached_rows(300)
    B, ok = cached_blocks([r["path"] for r in rows])
    if not ok.all():
        raise SystemExit(f"{int((~ok).sum())} files lack block features: run the extract step first")
    proj, _ = cached_whole([r["path"] for r in rows], whole_short=WHOLE_SHORT)
    X = {f"block {b + 1}": {c: B[c][:, b * 768:(b + 1) * 768] for c in CONDS} for b in range(N_BLOCKS)}
    X["blocks 1-12 side by side"] = B
    X["shipped proj"] = {c: head_matrix(HEADS["clip-whole-proj"], proj[c]) for c in CONDS}
    scores: dict[str, dict[str, dict[int, np.ndarray]]] = {c: {} for c in CONDS}
    chosen: dict[str, list] = {}
    singles = [f"block {b + 1}" for b in range(N_BLOCKS)]
    for fi, fold in enumerate(folds):
        inner = usable_inner(rows, y, fold.train, kind="logo")
        crit = {}
        for name, Xf in X.items():
            probe, _, crit[name] = fit({"as-is": Xf["as-is"]}, y, rows, fold.train, ("as-is",), RIDGE_LAMBDAS, inner)
            for c in CONDS:
                scores[c].setdefault(name, {})[fi] = probe.score(Xf[c][fold.test])
        pick = max(singles, key=lambda s: crit[s])
        chosen.setdefault("block chosen by inner criterion", []).append({"fold": fold.name, "pick": pick, **crit})
        for c in CONDS:
            scores[c].setdefault("block chosen by inner criterion", {})[fi] = scores[c][pick][fi]
        print(f"fold {fold.name}: pick {pick}; inner " + ", ".join(f"{k} {v:.3f}" for k, v in crit.items()), flush=True)
    save_tables(json_path, y, rows, folds, scores, cap=300, n=len(rows), whole_short=WHOLE_SHORT, chosen=chosen)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--shard", default="0/1")
    e.add_argument("--cap", type=int, default=300)
    v = sub.add_parser("eval")
    v.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "block_probe.json")
    a = ap.parse_args()
    if a.cmd == "extract":
        extract(a.shard, a.cap)
    else:
        evaluate(a.json)
