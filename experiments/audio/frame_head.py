"""A frame-level head: a small network on every Whisper frame before pooling, instead of pooling first.

    .venv/bin/python experiments/audio/frame_head.py extract --shard 0/2   # and 1/2 beside it
    .venv/bin/python experiments/audio/frame_head.py run --state 2 --shard 0/2   # and 1/2
    .venv/bin/python experiments/audio/frame_head.py table

Why: every shipped head reads the mean and standard deviation over time of a frozen encoder
state, so it can only use first- and second-order statistics of the frames as they are. Fine-
tuning the encoder (what the Whisper deepfake papers do on GPUs) lets the frames themselves be
transformed before pooling; the CPU-sized version of that is a small network applied to every
frame, then pooled (statistics pooling, as in x-vector speaker models), trained end to end on the
file label. A vocoder's trace that shows in a nonlinear combination of a frame's dimensions, or in
a few frames only, can survive that pooling where it averages out of the plain mean.

Network (fixed before any run, not tuned on the folds): LayerNorm(512) on each frame (as the
encoder's own next block does), Linear(512, 128) - GELU - Dropout(0.1) - Linear(128, 128) - GELU,
then mean, standard deviation and max over frames (384) - Linear(384, 1). AdamW (lr 2e-3, weight
decay 1e-2), 4 epochs; each epoch one random crop of 48 frames (about 1 s) per training file,
minibatches of 64 files;
family-balanced file weights as the ridge heads (``balanced_weights``, p = 0.5). Test: every frame
of the file's first 30 s.

Protocol: the card's 62 leave-one-family-out folds (cap 120, as-is rows). Compared, alone, with
the ridge and logistic heads on the same state and with the shipped fusion, read from
``nuisance_projection.py run`` and ``band_views.py fit --logistic`` (run those first).
Frames: Whisper base states 2 and 3 of each file's first 30 s, float16, in /tmp/audio_frames
(about 2.8 GB; extraction about 8 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from nested_variants import card_rows, shard_part  # noqa: E402

FRAMES = Path("/tmp/audio_frames")
SCORES = Path("/tmp/audio_frame_head")
STATES = (2, 3)
CROP = 48
EPOCHS = 4
BATCH = 64


def extract(args) -> None:
    import torch

    from detectors.audio.v2_data import load_rows
    from detectors.audio.v2_streams import MAX_WINDOW_S, SAMPLE_RATE, WhisperLayers, decode16k

    torch.set_num_threads(1)
    rows = load_rows()
    _, mine = shard_part(args.shard, len(rows))
    enc = WhisperLayers()
    enc.load()
    for s in STATES:
        (FRAMES / f"s{s}").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    for k in mine:
        if all((FRAMES / f"s{s}" / f"{k}.npy").exists() for s in STATES):
            continue
        try:
            states = enc.states(decode16k(Path(rows[k]["path"]))[: int(MAX_WINDOW_S * SAMPLE_RATE)], upto=max(STATES))
        except Exception as e:  # noqa: BLE001 - a file that does not decode has no frames (a NaN score later)
            print(f"{rows[k]['path']}: {e}", flush=True)
            continue
        for s in STATES:
            np.save(FRAMES / f"s{s}" / f"{k}.npy", states[s].astype(np.float16))
    print(f"frames shard {args.shard}: {time.monotonic() - t0:.0f} s", flush=True)


class FrameNet:
    """The frame-level network and its training (see the module docstring)."""

    def __init__(self, d: int, seed: int) -> None:
        import torch
        from torch import nn

        torch.manual_seed(seed)
        self.frame = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 128), nn.GELU(), nn.Dropout(0.1), nn.Linear(128, 128), nn.GELU())
        self.out = nn.Linear(384, 1)
        self.params = list(self.frame.parameters()) + list(self.out.parameters())
        self.seed = seed

    def logits(self, x):
        """(batch, frames, d) frames -> (batch,) logits."""
        import torch

        h = self.frame(x)
        return self.out(torch.cat([h.mean(1), h.std(1, unbiased=False), h.amax(1)], dim=1))[:, 0]

    def fit(self, seqs: list[np.ndarray], y: np.ndarray, w: np.ndarray) -> FrameNet:
        import torch

        rng = np.random.default_rng(self.seed)
        opt = torch.optim.AdamW(self.params, lr=2e-3, weight_decay=1e-2)
        t, wt = torch.from_numpy(y.astype(np.float32)), torch.from_numpy((w / w.mean()).astype(np.float32))
        self.frame.train()
        for _ in range(EPOCHS):
            order = rng.permutation(len(seqs))
            for b in range(0, len(order), BATCH):
                idx = order[b : b + BATCH]
                x = np.stack([crop(seqs[j], rng) for j in idx])
                x = torch.from_numpy(x)
                loss = (torch.nn.functional.binary_cross_entropy_with_logits(self.logits(x), t[idx], reduction="none") * wt[idx]).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.frame.eval()
        return self

    def scores(self, seqs: list[np.ndarray | None]) -> np.ndarray:
        import torch

        out = np.full(len(seqs), np.nan)
        with torch.no_grad():
            for j, s in enumerate(seqs):
                if s is not None:
                    out[j] = float(self.logits(torch.from_numpy(s[None]))[0])
        return out


def crop(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random run of ``CROP`` frames (a short file's frames repeated to fill it)."""
    if s.shape[0] < CROP:
        return s[np.arange(CROP) % s.shape[0]]
    a = int(rng.integers(0, s.shape[0] - CROP + 1))
    return s[a : a + CROP]


def load_frames(state: int, n_rows: int) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    for k in range(n_rows):
        p = FRAMES / f"s{state}" / f"{k}.npy"
        out.append(np.load(p).astype(np.float32) if p.exists() else None)
    return out


def run(args) -> None:
    import torch

    from detectors.evaluation import metrics
    from detectors.training.probe import balanced_weights

    torch.set_num_threads(1)
    rows, y, folds = card_rows()
    seqs = load_frames(args.state, len(rows))
    i, mine = shard_part(args.shard, len(folds))
    out = {}
    t0 = time.monotonic()
    for fi in mine:
        f = folds[fi]
        tr = np.array([j for j in f.train if seqs[j] is not None])
        net = FrameNet(seqs[tr[0]].shape[1], seed=fi).fit([seqs[j] for j in tr], y[tr], balanced_weights(rows, tr, 0.5))
        s = net.scores([seqs[j] for j in f.test])
        out[f"test__frames{args.state}__{fi}"] = s
        ok = np.isfinite(s)
        print(f"fold {fi} {f.name}: EER {100 * metrics.eer(y[f.test][ok], s[ok])[0]:.1f} % ({time.monotonic() - t0:.0f} s)", flush=True)
    SCORES.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(SCORES / f"state{args.state}_shard{i}.npz", **out)


def table(args) -> None:
    import band_views
    from nested_variants import OUT, fuse_and_select, outer_results, saved_head, scores_beside_ridge

    from detectors.evaluation import logo

    rows, y, folds = card_rows()
    z = scores_beside_ridge(band_views.SCORES, "as-is")
    for p in sorted(SCORES.glob("state*_shard*.npz")):
        z.update(dict(np.load(p)))
    shipped = {"shipped recipe (fused)": ["as-is:l1", "as-is:log2", "as-is:l3"]}
    fused = fuse_and_select(y, rows, folds, shipped, saved_head(z, "test"), saved_head(z, "oof"))[0]
    results = {"shipped recipe (fused)": outer_results(y, folds, fused["shipped recipe (fused)"], args.n_boot)}
    for s in STATES:
        if f"test__frames{s}__0" not in z:
            continue
        for name, key in ((f"state {s}: ridge on mean+std", f"as-is__l{s}"),
                          *([(f"state {s}: logistic on mean+std (shipped)", f"as-is__log{s}")] if s == 2 else []),
                          (f"state {s}: frame-level network", f"frames{s}")):
            S = np.full((len(folds), len(y)), np.nan)
            for fi, f in enumerate(folds):
                S[fi, f.test] = z[f"test__{key}__{fi}"]
            results[name] = outer_results(y, folds, S, args.n_boot)
    lines = ["| head (alone unless fused) | mean AUC (worst) | mean EER | worst EER | folds > 30 % |", "|---|---|---|---|---|"]
    for name, rs in results.items():
        sm = logo.summary_row(rs)
        lines.append(f"| {name} | {sm['auc']:.3f} ({sm['min_auc']:.3f}) | {100 * sm['eer']:.1f} % | {100 * sm['max_eer']:.1f} % | "
                     f"{sum(r['eer'] > 0.3 for r in rs)} of {sm['n_folds']} |")
    names = list(results)
    per = ["", "| held-out family | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for k, f in enumerate(folds):
        per.append(f"| {f.name} | " + " | ".join(f"{100 * results[v][k]['eer']:.1f} %" for v in names) + " |")
    text = "\n".join([f"{len(y)} files, {len(folds)} folds.", "", *lines, *per])
    print(text)
    (OUT / "frame_head.md").write_text(text + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("extract", "run", "table"))
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--state", type=int, default=2, choices=STATES)
    ap.add_argument("--n-boot", type=int, default=50)
    a = ap.parse_args()
    {"extract": extract, "run": run, "table": table}[a.what](a)
