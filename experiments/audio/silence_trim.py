"""Leading and trailing silence: how much it tells on this corpus, and Whisper heads on trimmed speech.

    .venv/bin/python experiments/audio/silence_trim.py extract --shard 0/2   # and 1/2 beside it
    .venv/bin/python experiments/audio/silence_trim.py fit --shard 0/2       # and 1/2
    .venv/bin/python experiments/audio/silence_trim.py table --n-boot 50

Why: in anti-spoofing corpora the length of the leading and trailing silence alone separates
bona fide from spoofed speech (Müller et al., "Speech is Silver, Silence is Golden", 2021), and a
detector that reads it fails on audio recorded or cut differently. The shipped heads pool Whisper
states over the whole window, silence included, so part of what they learn may be each source's
padding. Two measurements:

- a *silence baseline*: a logistic probe on silence statistics alone (leading and trailing
  silence in seconds and as a share of the file, the duration, the noise floor of the quietest
  frames in dBFS, the share of exactly-zero samples; ``silence_stats``), the same folds: how
  much of the task silence gives away here (a shortcut baseline like the metadata one);
- the *trim view*: every file's 16 kHz decode with its leading and trailing silence cut
  (``librosa.effects.trim``, 35 dB below the peak; the file as is when less than 0.1 s is left),
  for training and test alike, through the same encoder and heads. If the heads read padding, the
  trimmed heads transfer better to held-out families (or worse, if silence carries real traces).

Protocol: the card's 62 leave-one-family-out folds (cap 120, as-is rows), the heads of
``band_views.py fit`` (ridge on the mean+std of states 1-3; ``--logistic``: the shipped recipe's
L2 logistic state-2 head) and its fusion and selection (``nested_variants.fuse_and_select``). The
as-is heads come from ``nuisance_projection.py run`` and ``band_views.py fit --logistic
--views as-is,...`` (run those first). Extraction about 13 minutes on 2 cores.
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

VIEW = "trim"
STATS = Path("/tmp/audio_silence")
TOP_DB = 35.0
STAT_NAMES = ("lead_s", "trail_s", "lead_share", "trail_share", "duration_s", "floor_dbfs", "zero_share")


def trim(x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``x`` without its leading and trailing silence, and the (start, end) sample indices kept."""
    import librosa

    if x.size < 2048:
        return x, 0, x.size
    _, (a, b) = librosa.effects.trim(x, top_db=TOP_DB, frame_length=1024, hop_length=256)
    if b - a < 1600:  # under 0.1 s left: the whole file is "silence" at this threshold
        return x, 0, x.size
    return x[a:b], int(a), int(b)


def silence_stats(x: np.ndarray, sr: int = 16_000) -> np.ndarray:
    """The silence baseline's features of 16 kHz samples ``x`` (``STAT_NAMES``)."""
    n = max(x.size, 1)
    _, a, b = trim(x)
    frames = x[: x.size // 400 * 400].reshape(-1, 400) if x.size >= 400 else x.reshape(1, -1)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-20)
    floor = 20 * np.log10(np.percentile(rms, 10) + 1e-10)
    return np.array([a / sr, (x.size - b) / sr, a / n, (x.size - b) / n, x.size / sr, floor,
                     float(np.mean(x == 0))], dtype=np.float64)


def register() -> None:
    """Register the trim view for audio (a WAV of the trimmed 16 kHz decode)."""
    import soundfile as sf

    from detectors.audio.v2_streams import decode16k
    from detectors.training.streams import register_view

    def fn(src: Path, dst: Path, rng: np.random.Generator) -> Path:
        out = dst / "view.wav"
        sf.write(out, trim(decode16k(src))[0], 16000, subtype="FLOAT")
        return out

    register_view("audio", VIEW, fn)


def extract(args) -> None:
    import torch

    from detectors.audio.v2_data import load_rows
    from detectors.audio.v2_streams import decode16k
    from detectors.audio.v2_train import load_features

    torch.set_num_threads(1)
    register()
    rows = load_rows()
    i, idx = shard_part(args.shard, len(rows))
    t0 = time.monotonic()
    stats = np.full((len(idx), len(STAT_NAMES)), np.nan)
    for j, k in enumerate(idx):
        try:
            stats[j] = silence_stats(decode16k(Path(rows[k]["path"]))[: 30 * 16_000])  # the encoder's window
        except Exception as e:  # noqa: BLE001 - a file that does not decode is a NaN row, as in the feature cache
            print(f"{rows[k]['path']}: {e}", flush=True)
    STATS.mkdir(parents=True, exist_ok=True)
    np.savez(STATS / f"stats_shard{i}.npz", idx=np.array(idx), stats=stats)
    print(f"stats shard {args.shard}: {time.monotonic() - t0:.0f} s", flush=True)
    f = load_features([rows[k]["path"] for k in idx], ["whisper"], VIEW)["whisper"]
    ok = np.isfinite(f["l3_mean"]).all(axis=1)
    print(f"{VIEW} shard {args.shard}: {len(idx)} files, {int(ok.sum())} ok, {time.monotonic() - t0:.0f} s", flush=True)


def fit(args) -> None:
    """The trim view's ridge heads and the shipped recipe's logistic state-2 head, per fold (band_views' fit)."""
    import band_views

    register()
    for logistic in (False, True):
        band_views.fit(argparse.Namespace(views=VIEW, shard=args.shard, logistic=logistic))


def load_stats(n_rows: int) -> np.ndarray:
    S = np.full((n_rows, len(STAT_NAMES)), np.nan)
    for p in sorted(STATS.glob("stats_shard*.npz")):
        z = np.load(p)
        S[z["idx"]] = z["stats"]
    return S


def silence_baseline(S: np.ndarray, y: np.ndarray, rows: list[dict], folds: list) -> tuple[np.ndarray, np.ndarray]:
    """Per fold: a logistic probe on the silence statistics (held-out scores, and inner out-of-fold ones)."""
    from detectors.training.probe import LinearProbe, balanced_weights, inner_folds

    X = np.nan_to_num(S, nan=0.0)
    test = np.full((len(folds), len(y)), np.nan)
    oof = np.full((len(folds), len(y)), np.nan)
    for fi, fold in enumerate(folds):
        tr = fold.train
        for itr, ite in inner_folds(rows, tr, 3, fi):
            oof[fi, ite] = LinearProbe(1.0).fit(X[itr], y[itr], balanced_weights(rows, itr, 0.5)).score(X[ite])
        test[fi, fold.test] = LinearProbe(1.0).fit(X[tr], y[tr], balanced_weights(rows, tr, 0.5)).score(X[fold.test])
    return test, oof


def table(args) -> None:
    import band_views
    from nested_variants import fuse_and_select, outer_results, saved_head, scores_beside_ridge, write_report


    rows, y, folds = card_rows()
    z = scores_beside_ridge(band_views.SCORES, "as-is")
    S = load_stats(len(rows))
    base_test, base_oof = silence_baseline(S, y, rows, folds)
    for fi in range(len(folds)):
        z[f"test__silence__stats__{fi}"] = base_test[fi, folds[fi].test]
        z[f"oof__silence__stats__{fi}"] = base_oof[fi, folds[fi].train]
    shipped = ["as-is:l1", "as-is:log2", "as-is:l3"]
    trimmed = [f"{VIEW}:l1", f"{VIEW}:log2", f"{VIEW}:l3"]
    variants = {
        "shipped recipe (as-is ridge 1, logistic 2, ridge 3)": shipped,
        "silence statistics only (logistic)": ["silence:stats"],
        "trimmed: ridge l1-3": [f"{VIEW}:l1", f"{VIEW}:l2", f"{VIEW}:l3"],
        "trimmed: shipped recipe": trimmed,
        "shipped recipe + trimmed": shipped + trimmed,
        "shipped recipe + silence statistics": [*shipped, "silence:stats"],
    }

    score, crit, weights, chosen, sel = fuse_and_select(y, rows, folds, variants, saved_head(z, "test"), saved_head(z, "oof"))
    results = {v: outer_results(y, folds, score[v], args.n_boot) for v in variants}
    results["chosen by inner folds"] = outer_results(y, folds, sel, args.n_boot)
    mean_w = {v: np.round(np.mean(weights[v], axis=0), 3).tolist() for v in variants}
    fake, real = S[y == 1], S[y == 0]
    medians = ", ".join(f"{n} {np.nanmedian(real[:, k]):.2f} / {np.nanmedian(fake[:, k]):.2f}" for k, n in enumerate(STAT_NAMES))
    write_report("silence_trim", [
        f"{len(y)} files, {len(folds)} folds; trim: leading and trailing silence cut ({TOP_DB:.0f} dB below the peak) for training and test.",
        f"Silence statistics, median real / fake: {medians}.",
        f"Mean fusion weights over folds (heads in the order listed): {mean_w}"],
        results, crit, chosen, len(y), folds, fusion_weights=mean_w)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("extract", "fit", "table"))
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--n-boot", type=int, default=50)
    a = ap.parse_args()
    {"extract": extract, "fit": fit, "table": table}[a.what](a)
