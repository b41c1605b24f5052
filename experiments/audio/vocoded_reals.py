"""Copy-synthesised real speech as extra training fakes (audio v2, the hard vocoder families).

    nohup .venv/bin/python experiments/audio/vocoded_reals.py extract > /tmp/vocoded.log 2>&1 &
    .venv/bin/python experiments/audio/vocoded_reals.py eval

Why: the families the shipped recipe leaves above 30 % EER are mostly vocoders that re-synthesise
real recordings (HiFi-GAN, UniVNet, Parallel WaveGAN, WaveGlow, BigVGAN, codec re-synthesis): the
fake keeps the real recording's speaker, words and channel, and differs only by the synthesis. A
probe that learnt "this source's channel" cannot see that. Wang & Yamagishi (ICASSP 2023) trained
countermeasures on real speech copy-synthesised through vocoders and generalised better to unseen
attacks. No neural vocoder installs offline here, so two classical copy-syntheses stand in:
- ``world``: WORLD analysis (DIO + StoneMask f0, CheapTrick envelope, D4C aperiodicity) and
  synthesis (``pyworld``);
- ``griffinlim``: an 80-band log-mel spectrogram (the input of mel vocoders) inverted by
  Griffin-Lim (``librosa.feature.inverse.mel_to_audio``, 32 iterations).
Both at 16 kHz from each real file of ``subset_probe.py``'s subset (10 hard families + 5 others,
8 files per real source), written under the cache folder, never tested.

Protocol: ``subset_probe``'s folds over the subset (``logo_folds``, min_fakes 20); in each fold the
copies of the *training* real sources' files join the training rows as one extra fake family
("copy-synthesis"), the copies of the held-out sources' files are left out. The shipped heads
(``v2_train.Config``: Whisper states 1-3, fused) with their penalties chosen on inner folds, as-is.
Compare rows with each other only (the subset is harder than the corpus by construction).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from subset_probe import subset_rows  # noqa: E402

from detectors.audio.v2_data import group_key, labels  # noqa: E402
from detectors.audio.v2_train import Config, load_features, logo_eval, summary_table  # noqa: E402
from detectors.evaluation import logo  # noqa: E402

SR = 16000
METHODS = ("world", "griffinlim")
OUT = Path(__file__).parent / "results"


def copies_dir() -> Path:
    from detectors.evaluation.dataset import corpus_dir

    return corpus_dir().parent / "copy-synthesis"


def world_copy(x: np.ndarray) -> np.ndarray:
    import pyworld

    x = x.astype(np.float64)
    f0, t = pyworld.dio(x, SR)
    f0 = pyworld.stonemask(x, f0, t, SR)
    sp = pyworld.cheaptrick(x, f0, t, SR)
    ap = pyworld.d4c(x, f0, t, SR)
    return pyworld.synthesize(f0, sp, ap, SR).astype(np.float32)


def griffinlim_copy(x: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=1024, hop_length=256, n_mels=80, fmax=8000)
    return librosa.feature.inverse.mel_to_audio(mel, sr=SR, n_fft=1024, hop_length=256, fmax=8000, n_iter=32).astype(np.float32)


def copy_rows(rows: list[dict]) -> list[dict]:
    """One extra fake row per (real row, method): the copy's path, the original's source."""
    out = []
    for r in rows:
        if r["label"] != "real":
            continue
        for m in METHODS:
            out.append({**r, "label": "fake", "family": "copy-synthesis", "generator": f"copy-synthesis ({m})",
                        "kind": "vocoder", "method": m, "original": r["path"],
                        "path": str(copies_dir() / m / f"{r['sha256'] or Path(r['file']).stem}.wav")})
    return out


def extract() -> None:
    import soundfile as sf

    from detectors.media import load_audio

    rows = subset_rows()
    extra = copy_rows(rows)
    made = 0
    for e in extra:
        p = Path(e["path"])
        if p.exists():
            continue
        x = load_audio(e["original"], max_seconds=600.0, sample_rate=SR).samples[: 30 * SR]  # any container (m4a ...)
        y = world_copy(x) if e["method"] == "world" else griffinlim_copy(x)
        y = y / max(1.0, float(np.abs(y).max()) / 0.99)
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p.with_suffix(".tmp.wav"), y, SR, subtype="PCM_16")
        p.with_suffix(".tmp.wav").replace(p)
        made += 1
        if made % 50 == 0:
            print(f"{made} copies", flush=True)
    print(f"{len(extra)} copies ({made} new); Whisper features ...", flush=True)
    load_features([r["path"] for r in rows] + [e["path"] for e in extra], ["whisper"], "as-is")
    print("done", flush=True)


def with_extras(folds: list[logo.Fold], rows: list[dict], extra: list[dict], use: set[str]) -> list[logo.Fold]:
    """Each fold's training rows plus the copies (methods in ``use``) of its training real sources' files."""
    n = len(rows)
    out = []
    for f in folds:
        held = set(f.test_real_sources)
        add = [n + j for j, e in enumerate(extra) if e["method"] in use and e["source_repo"] not in held]
        out.append(replace(f, train=np.concatenate([f.train, np.array(add, dtype=int)])))
    return out


def evaluate(n_boot: int) -> None:
    rows = subset_rows()
    extra = copy_rows(rows)
    all_rows = rows + extra
    y = labels(all_rows)
    feats = {"whisper": load_features([r["path"] for r in all_rows], ["whisper"], "as-is")["whisper"]}
    folds = logo.logo_folds(rows, min_fakes=20)
    heads = Config().heads
    res = {}
    for name, use in (("shipped recipe", set()), ("+ WORLD copies", {"world"}), ("+ Griffin-Lim copies", {"griffinlim"}),
                      ("+ both copies", set(METHODS))):
        res[name] = logo_eval(heads, feats, y, all_rows, with_extras(folds, rows, extra, use), n_boot=n_boot)
        print(name, "done", flush=True)
    lines = [f"Subset of `subset_probe.py`: {len(rows)} files ({int(labels(rows).sum())} fake), {len(folds)} folds; "
             f"{len(extra)} copy-synthesised reals (training only)", ""]
    for name, r in res.items():
        lines += [f"#### {name}", "", summary_table(r), ""]
    by = [{row["fold"]: row for row in r["as-is"]["fused"]} for r in res.values()]
    lines += ["| held-out family | " + " | ".join(res) + " |", "|---|" + "---|" * len(res)]
    for f in folds:
        lines.append(f"| {f.name} | " + " | ".join(f"{100 * b[f.name]['eer']:.1f} %" if f.name in b else "–" for b in by) + " |")
    mean = [np.mean([row["eer"] for row in b.values()]) for b in by]
    over = [sum(row["eer"] > 0.30 for row in b.values()) for b in by]
    lines += ["| **mean EER** | " + " | ".join(f"**{100 * m:.1f} %**" for m in mean) + " |",
              "| families above 30 % | " + " | ".join(str(o) for o in over) + " |", ""]
    text = "\n".join(lines)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "vocoded_reals.md").write_text(text)
    (OUT / "vocoded_reals.json").write_text(json.dumps({"rows": len(rows), "copies": len(extra),
                                                         "groups": sorted({group_key(r) for r in rows}),
                                                         "results": res}, indent=1, default=float))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["extract", "eval"])
    ap.add_argument("--n-boot", type=int, default=100)
    a = ap.parse_args()
    extract() if a.what == "extract" else evaluate(a.n_boot)
