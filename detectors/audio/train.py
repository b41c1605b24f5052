"""``deepfake-train audio``: train, calibrate and document the default audio anti-spoofing model.

Steps (each logged with its time):
1. read the train and val sources of ../shared/data (models/split.json); FSDD's 8 kHz single
   digits are joined into short phrases per speaker, longer clips cut into <= 4 s pieces;
2. make fakes from the real training speech (Griffin-Lim, mel Griffin-Lim, WORLD, LPC);
3. augment real and fake alike (band limits, codec round trips, loudness, noise);
4. train the LCNN-LFCC with class/group-balanced sampling, keeping the epoch with the best
   clip-level AUC on the val sources;
5. fit the feature model on the augmented training audio;
6. run the full detector over the val sources and fit the calibrated fusion and thresholds;
7. evaluate on the held-out test sources (as-is and re-encoded) and write MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from detectors.audio.augment import augment, band_limit, loudness_normalise, low_pass
from detectors.audio.data import FSDD, AudioItem, chunk, group_fsdd, join_utterance, load_items
from detectors.audio.synth import VOCODERS, resynthesise
from detectors.media import load_audio

SR = 16_000
CROP_S = 2.0
DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "train"
DEFAULT_SPLIT = Path(__file__).resolve().parents[2] / "models" / "split.json"
# Sampling shares. Digits and continuous speech each get half, split evenly between real and fake,
# so neither the content (isolated digits are all real in the data) nor the sample rate says the class.
GROUP_WEIGHTS = {
    "real_fsdd": 0.25,
    "fake_self_fsdd": 0.25,
    "real_other": 0.25,
    "fake_self_other": 0.125,
    "fake_labelled": 0.125,
}


@dataclass
class Example:
    audio: np.ndarray
    label: int
    group: str
    origin: str  # vocoder name or source repository


def log(msg: str, start: float) -> None:
    print(f"[{time.perf_counter() - start:7.1f}s] {msg}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepfake-train audio", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with manifest.csv (../shared/data/train)"
    )
    p.add_argument("--split", type=Path, default=DEFAULT_SPLIT, help="source-level split (models/split.json)")
    p.add_argument(
        "--out", type=Path, default=Path("models/audio"), help="where the weights and model card go"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--steps-per-epoch", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument(
        "--width", type=int, default=16, help="LCNN width (16 -> ~49k parameters in the 1d layout)"
    )
    p.add_argument(
        "--layout", choices=("1d", "2d"), default="1d", help="LCNN layout (1d: time-delay MFM layers)"
    )
    p.add_argument("--fmax", type=float, default=8_000.0, help="top of the LFCC filterbank in Hz")
    p.add_argument("--augment-copies", type=int, default=2, help="augmented variants per training piece")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--max-train-minutes", type=float, default=6.0, help="stop the training loop after this long"
    )
    p.add_argument(
        "--eval",
        action="store_true",
        help="also run the held-out test evaluation and write MODEL_CARD.md "
        "(otherwise run `python -m detectors.audio.evaluate` afterwards)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep the decoded pieces and re-synthesised fakes here "
        "between runs (same seed and limit give the same pieces)",
    )
    p.add_argument(
        "--noise-p", type=float, default=0.3, help="share of augmented variants that get added noise"
    )
    p.add_argument(
        "--noise-snr", type=float, nargs=2, default=(30.0, 55.0), help="SNR range of that noise, dB"
    )
    p.add_argument(
        "--weights", type=str, default="", help="override GROUP_WEIGHTS, e.g. real_fsdd=0.2,fake_labelled=0.3"
    )
    p.add_argument(
        "--train-only", action="store_true", help="debug: stop after the LCNN (no feature model, no fusion)"
    )
    p.add_argument("--limit", type=int, default=0, help="debug: use at most this many files per source")
    return p


# -- data ----------------------------------------------------------------------------------
def _decode(item: AudioItem) -> np.ndarray:
    clip = load_audio(item.path, 900)
    assert clip is not None
    return clip.samples


def build_pieces(items: list[AudioItem], rng: np.random.Generator) -> list[Example]:
    """Real and labelled-fake pieces of the training sources, before re-synthesis and augmentation."""
    out: list[Example] = []
    for speaker, group in sorted(group_fsdd(items).items()):
        order = rng.permutation(len(group))
        for i in range(0, len(order), 6):
            words = [loudness_normalise(_decode(group[j]), -24.0) for j in order[i : i + 6]]
            out.append(Example(join_utterance(words, rng), 0, "real_fsdd", f"{FSDD}:{speaker}"))
    for it in items:
        if it.source == FSDD:
            continue
        for piece in chunk(_decode(it), 4.0):
            out.append(
                Example(piece, it.label, "real_other" if it.label == 0 else "fake_labelled", it.source)
            )
    return out


def make_fakes(reals: list[Example], rng: np.random.Generator) -> list[Example]:
    """Re-synthesised copies of real pieces: every vocoder for the full-band real speech, one random
    vocoder per FSDD phrase (then low-passed like its 8 kHz source)."""
    out: list[Example] = []
    names = list(VOCODERS)
    for ex in reals:
        fsdd = ex.group == "real_fsdd"
        for name in [names[int(rng.integers(len(names)))]] if fsdd else names:
            y = resynthesise(ex.audio, name, rng)
            if fsdd:
                y = low_pass(y, 3_900.0)
            out.append(Example(y, 1, "fake_self_fsdd" if fsdd else "fake_self_other", name))
    return out


# How often full-band audio is band-limited, per group: with GROUP_WEIGHTS this makes band-limited
# audio as common among reals (FSDD is all 8 kHz) as among fakes (3/4 of each class).
BAND_LIMIT_P = {"real_other": 0.5, "fake_labelled": 0.5, "fake_self_other": 0.5}


def augment_all(
    examples: list[Example],
    copies: int,
    rng: np.random.Generator,
    noise_p: float = 0.3,
    noise_snr: tuple[float, float] = (30.0, 55.0),
) -> list[Example]:
    """The clean (loudness-normalised) piece plus ``copies`` augmented variants of each."""
    out: list[Example] = []
    for ex in examples:
        band_limited = ex.group == "real_fsdd" or _is_band_limited(ex)
        p_limit = 0.0 if band_limited else BAND_LIMIT_P.get(ex.group, 0.5)
        first = band_limit(ex.audio, rng) if rng.random() < p_limit else ex.audio
        out.append(
            Example(loudness_normalise(first, float(rng.uniform(-30, -18))), ex.label, ex.group, ex.origin)
        )
        for _ in range(copies):
            y = augment(
                ex.audio,
                rng,
                band_limited_source=bool(band_limited),
                band_limit_p=p_limit,
                noise_p=noise_p,
                noise_snr=noise_snr,
            )
            out.append(Example(y, ex.label, ex.group, ex.origin))
    return out


def _is_band_limited(ex: Example) -> bool:
    """Nothing above 4 kHz (within 50 dB of the peak band)."""
    spec = np.abs(np.fft.rfft(ex.audio[: 8 * SR])) ** 2
    freqs = np.fft.rfftfreq(min(ex.audio.size, 8 * SR), 1 / SR)
    return float(spec[freqs > 4200].sum()) < 1e-5 * float(spec.sum() + 1e-12)


def group_sampling_weights(examples: list[Example]) -> np.ndarray:
    """Per-example sampling weight so each group gets its share in GROUP_WEIGHTS, and within a
    group of self-made fakes each vocoder an equal share."""
    keys = [f"{ex.group}:{ex.origin}" if ex.group.startswith("fake_self") else ex.group for ex in examples]
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    per_group: dict[str, int] = {}
    for k in counts:
        g = k.split(":")[0]
        per_group[g] = per_group.get(g, 0) + 1
    w = np.array([GROUP_WEIGHTS[k.split(":")[0]] / per_group[k.split(":")[0]] / counts[k] for k in keys])
    return w / w.sum()


# -- training ------------------------------------------------------------------------------
def random_crop(x: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if x.size >= size:
        s = int(rng.integers(0, x.size - size + 1))
        return x[s : s + size]
    level = np.sqrt(np.mean(x**2) + 1e-12) * 10 ** (-45 / 20)
    pad = size - x.size
    left = int(rng.integers(0, pad + 1))
    noise = (rng.standard_normal(pad) * level).astype(np.float32)
    return np.concatenate([noise[:left], x, noise[left:]])


def clip_scores(model, windows_per_clip: list[list[np.ndarray]]) -> np.ndarray:
    """Mean window logit per clip (the detector's aggregation)."""
    import torch

    model.eval()
    flat = [(c, w) for c, wins in enumerate(windows_per_clip) for w in wins]
    by_len: dict[int, list[int]] = {}
    for k, (_, w) in enumerate(flat):
        by_len.setdefault(w.size, []).append(k)
    logits = np.zeros(len(flat))
    with torch.inference_mode():
        for idx in by_len.values():
            for j in range(0, len(idx), 32):
                part = idx[j : j + 32]
                batch = torch.from_numpy(np.stack([flat[k][1] for k in part]).astype(np.float32))
                logits[part] = model(batch).numpy()
    sums = np.zeros(len(windows_per_clip))
    counts = np.zeros(len(windows_per_clip))
    for k, (c, _) in enumerate(flat):
        sums[c] += logits[k]
        counts[c] += 1
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def train_lcnn(
    examples: list[Example],
    val_windows: list[list[np.ndarray]],
    val_labels: np.ndarray,
    args,
    start: float,
    val_sources: list[str] | None = None,
):
    import torch
    from sklearn.metrics import roc_auc_score

    from detectors.audio.model import LCNN, LCNNConfig, parameter_count

    rng = np.random.default_rng(args.seed + 1)
    torch.manual_seed(args.seed)
    model = LCNN(LCNNConfig(width=args.width, fmax=args.fmax, layout=args.layout))
    log(f"LCNN with {parameter_count(model)} parameters", start)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    total = args.epochs * args.steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total, pct_start=0.15)
    weights = group_sampling_weights(examples)
    labels = np.array([ex.label for ex in examples], dtype=np.float32)
    size = int(CROP_S * SR)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best = (-1.0, None, -1)
    history = []
    t0 = time.perf_counter()
    deadline = t0 + 60 * args.max_train_minutes
    for epoch in range(args.epochs):
        model.train()
        losses = []
        for _ in range(args.steps_per_epoch):
            idx = rng.choice(len(examples), size=args.batch_size, p=weights)
            batch = []
            for i in idx:
                x = random_crop(examples[i].audio, size, rng) * float(10 ** (rng.uniform(-6, 6) / 20))
                batch.append(x if rng.random() < 0.5 else -x)
            xb = torch.from_numpy(np.stack(batch).astype(np.float32))
            yb = torch.from_numpy(labels[idx])
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        scores = clip_scores(model, val_windows)
        auc = float(roc_auc_score(val_labels, scores))
        history.append(
            {"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "val_auc": round(auc, 4)}
        )
        per_source = ""
        if val_sources is not None:
            groups: dict[str, list[float]] = {}
            for src, lab, sc in zip(val_sources, val_labels, scores, strict=True):
                groups.setdefault(f"{src.split('/')[-1][:10]}:{'F' if lab else 'R'}", []).append(sc)
            per_source = "  " + " ".join(f"{k} {np.mean(v):+.2f}" for k, v in sorted(groups.items()))
        log(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}  val clip AUC {auc:.4f}{per_source}", start)
        if auc > best[0]:
            best = (auc, {k: v.detach().clone() for k, v in model.state_dict().items()}, epoch + 1)
        if time.perf_counter() > deadline:
            log("training time budget reached", start)
            break
    model.load_state_dict(best[1])
    model.eval()
    return model, {
        "best_epoch": best[2],
        "best_val_auc": round(best[0], 4),
        "history": history,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }


def fit_fusion(comp: np.ndarray, labels: np.ndarray) -> tuple:
    """Logistic regression over the components with the sign each must have (more evidence of
    synthesis = more fake). A component that only helps with the wrong sign on validation is left
    out, with the reason recorded, rather than trusted upside down."""
    from detectors.audio.fusion import COMPONENTS, LinearModel

    keep = list(range(len(COMPONENTS)))
    dropped: dict[str, str] = {}
    while True:
        model = LinearModel.fit([COMPONENTS[i] for i in keep], comp[:, keep], labels, c=1.0)
        bad = [(c, name) for c, name in zip(model.coef, model.names, strict=True) if c <= 0]
        if not bad or len(keep) == 1:
            break
        c, name = min(bad)
        dropped[name] = f"weight {c:+.3f} on validation (evidence points the wrong way or not at all)"
        keep.remove(COMPONENTS.index(name))
    return model, dropped


# -- main ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``deepfake-train audio``: the v2 detector (``audio-whisper``, ``detectors/audio/v2_train.py``) by
    default; ``deepfake-train audio --v1 [v1 options]`` (or any call with v1's ``--data``) trains this
    module's v1 LCNN-LFCC detector."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--v1" not in argv and not any(a == "--data" or a.startswith("--data=") for a in argv):
        from detectors.audio import v2_train

        return v2_train.main(argv)
    return main_v1([a for a in argv if a != "--v1"])


def main_v1(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch
    from sklearn.metrics import roc_auc_score

    from detectors.audio.analysis import ClipAnalyser
    from detectors.audio.detector import AudioDetector
    from detectors.audio.fusion import COMPONENTS, Fusion, LinearModel, save_feature_model
    from detectors.audio.model import save_lcnn
    from detectors.audio.segmentation import speech_windows
    from detectors.calibration import eer_threshold, fit_platt
    from detectors.settings import Settings

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    items = load_items(args.data, args.split)
    if args.limit:
        per: dict[str, int] = {}
        kept = []
        for it in items:
            per[it.source] = per.get(it.source, 0) + 1
            if per[it.source] <= args.limit:
                kept.append(it)
        items = kept
    train_items = [it for it in items if it.side == "train"]
    val_items = [it for it in items if it.side == "val"]
    log(f"{len(train_items)} train files, {len(val_items)} val files", start)

    cache = args.cache / f"audio_pieces_v2_seed{args.seed}_limit{args.limit}.pkl" if args.cache else None
    if cache is not None and cache.exists():
        import pickle

        pieces, fakes = pickle.loads(cache.read_bytes())
        rng = np.random.default_rng(args.seed + 7)
        log(f"pieces and re-synthesised fakes read from the cache {cache}", start)
    else:
        pieces = build_pieces(train_items, rng)
        fakes = make_fakes([p for p in pieces if p.label == 0], rng)
        if cache is not None:
            import pickle

            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(pickle.dumps((pieces, fakes)))
            rng = np.random.default_rng(args.seed + 7)
    reals = [p for p in pieces if p.label == 0]
    log(
        f"{len(reals)} real pieces, {len(pieces) - len(reals)} labelled fake pieces, {len(fakes)} re-synthesised fakes",
        start,
    )
    if args.weights:
        for part in args.weights.split(","):
            key, value = part.split("=")
            GROUP_WEIGHTS[key.strip()] = float(value)
    examples = augment_all(pieces + fakes, args.augment_copies, rng, args.noise_p, tuple(args.noise_snr))
    log(f"{len(examples)} training examples after augmentation", start)

    analyser = ClipAnalyser()
    analyser.load()
    val_clips = []
    for it in val_items:
        clip = load_audio(it.path, 900)
        _, mask = analyser.speech(clip.samples, SR)
        wins = speech_windows(mask, SR) if mask.sum() >= SR else []
        val_clips.append([clip.samples[w.start_sample : w.end_sample] for w in wins])
    val_labels = np.array([it.label for it in val_items])
    log("val windows ready", start)

    model, train_info = train_lcnn(
        examples, val_clips, val_labels, args, start, [it.source for it in val_items]
    )
    from detectors.audio.model import parameter_count

    train_info["parameters"] = parameter_count(model)
    args.out.mkdir(parents=True, exist_ok=True)
    save_lcnn(model, args.out)
    if args.train_only:
        log(f"--train-only: LCNN saved in {args.out}", start)
        return 0

    # Feature model on the augmented training audio: a uniform subsample, weighted like the sampler;
    # features over the VAD's speech frames, exactly as when serving.
    sub = np.sort(rng.choice(len(examples), size=min(len(examples), 800), replace=False))
    weights = group_sampling_weights(examples)[sub]
    feats, ys = [], []
    for i in sub:
        a = analyser.analyse(examples[i].audio, SR, SR, with_consistency=False)
        feats.append(a.features)
        ys.append(examples[i].label)
    names = list(feats[0])
    x = np.array([[f[n] for n in names] for f in feats])
    feature_model = LinearModel.fit(names, x, np.array(ys), c=0.1, sample_weight=weights / weights.mean())
    save_feature_model(feature_model, args.out)
    log(f"feature model fitted on {len(sub)} training examples", start)

    # Full detector over the val sources: components -> fusion, window calibration.
    det = AudioDetector(settings=Settings(torch_threads=args.threads), model_dir=args.out)
    det.load()
    rows, win_scores, win_labels = [], [], []
    for it in val_items:
        from detectors.media import make_media_ref

        prepared = det.preprocess(make_media_ref(it.path))
        scores = det.infer(prepared.model_inputs) if prepared.model_inputs else []
        if not scores:
            continue
        rows.append((det.components(prepared, scores), it.label, it.source))
        win_scores.extend(scores)
        win_labels.extend([it.label] * len(scores))
    comp = np.array([[r[0][c] for c in COMPONENTS] for r in rows])
    yv = np.array([r[1] for r in rows])
    fusion_model, dropped = fit_fusion(comp, yv)
    fused = np.array([fusion_model.logit(r[0]) for r in rows])
    p_fused = 1 / (1 + np.exp(-fused))
    window_cal = fit_platt(np.array(win_scores), np.array(win_labels), fitted_on="val windows")
    val_metrics = {
        "clips": int(len(rows)),
        "auc_lcnn": round(float(roc_auc_score(yv, comp[:, 0])), 4),
        "auc_features": round(float(roc_auc_score(yv, comp[:, 1])), 4),
        "auc_fusion_in_sample": round(float(roc_auc_score(yv, p_fused)), 4),
        "window_auc": round(float(roc_auc_score(win_labels, win_scores)), 4),
    }
    fusion = Fusion(
        model=fusion_model,
        threshold=eer_threshold(p_fused, yv),
        window_a=window_cal.a,
        window_b=window_cal.b,
        window_threshold=window_cal.threshold,
        fitted_on="val sources: " + ", ".join(sorted({r[2] for r in rows})),
        left_out=dropped,
        metrics={"val": val_metrics, "train": train_info},
    )
    fusion.save(args.out)
    log(f"fusion fitted on {len(rows)} val clips: {val_metrics}", start)

    info = {
        "command": "deepfake-train audio " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seed": args.seed,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "train_files": len(train_items),
        "train_pieces": {g: sum(1 for p in pieces + fakes if p.group == g) for g in GROUP_WEIGHTS},
        "training_examples": len(examples),
        "group_weights": dict(GROUP_WEIGHTS),
        "val": val_metrics,
        "train": train_info,
        "fusion_weights": fusion.weights(),
        "threshold": fusion.threshold,
        "seconds": round(time.perf_counter() - start, 1),
    }
    (args.out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    if args.eval:
        from detectors.audio.evaluate import evaluate_and_document

        evaluate_and_document(args.out, args.data, args.split, args.threads, log=lambda m: log(m, start))
    log("done", start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
