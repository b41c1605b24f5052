"""Held-out evaluation of the audio detector, and the model card that records it.

Runs the full ``audio-default`` detector (exactly the serving code path) over the sources of one
side of the split (``test`` by default), once on the files as they are and once re-encoded to
16 kHz mono 16-bit WAV, and reports EER and AUC per kind of fake (TTS, vocoder, voice clone;
each against all real speech of that side), plus per-source rates at the stored threshold.

    python -m detectors.audio.evaluate --model models/audio --data ../shared/data/train
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from detectors.audio.data import load_items
from detectors.media import load_audio, make_media_ref

CONDITIONS = ("as-is", "wav-16k-mono")
KINDS = ("tts", "vocoder", "voice-clone")


def write_wav16k(src: Path, dst: Path) -> Path:
    """Re-encode any audio to 16 kHz mono PCM WAV (the 'one format' condition)."""
    import av

    clip = load_audio(src, 900)
    assert clip is not None
    pcm = (np.clip(clip.samples, -1, 1) * 32767).astype(np.int16)
    with av.open(str(dst), "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=16_000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 16_000
        frame.pts = 0
        frame.time_base = Fraction(1, 16_000)
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return dst


def eer(labels: np.ndarray, scores: np.ndarray) -> float:
    """Equal error rate: where false-accept and false-reject rates meet."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def summarise(records: list[dict], threshold: float) -> dict:
    """EER/AUC per kind (fused probability and LCNN alone), and per-source rates."""
    from sklearn.metrics import roc_auc_score

    scored = [r for r in records if r["p"] is not None]
    out: dict = {
        "files": len(records),
        "inconclusive": len(records) - len(scored),
        "kinds": {},
        "sources": {},
    }
    reals = [r for r in scored if r["label"] == 0]
    for kind in (*KINDS, "all"):
        fakes = [r for r in scored if r["label"] == 1 and (kind == "all" or r["kind"] == kind)]
        if not fakes or not reals:
            continue
        y = np.array([0] * len(reals) + [1] * len(fakes))
        row = {"real": len(reals), "fake": len(fakes)}
        for name, key in (("fusion", "p"), ("lcnn", "p_lcnn")):
            s = np.array([r[key] for r in reals + fakes], dtype=float)
            row[f"auc_{name}"] = round(float(roc_auc_score(y, s)), 4)
            row[f"eer_{name}"] = round(eer(y, s), 4)
        pred = np.array([r["p"] >= threshold for r in reals + fakes])
        row["tpr_at_threshold"] = round(float(pred[y == 1].mean()), 4)
        row["fpr_at_threshold"] = round(float(pred[y == 0].mean()), 4)
        out["kinds"][kind] = row
    for src in sorted({r["source"] for r in records}):
        for label in (0, 1):
            rs = [r for r in scored if r["source"] == src and r["label"] == label]
            if rs:
                out["sources"][f"{src} ({'fake' if label else 'real'})"] = {
                    "files": len(rs),
                    "flagged_fake": round(float(np.mean([r["p"] >= threshold for r in rs])), 4),
                    "mean_p": round(float(np.mean([r["p"] for r in rs])), 4),
                }
    return out


def evaluate(
    model_dir: Path,
    data: Path,
    split: Path,
    threads: int = 2,
    side: str = "test",
    log: Callable[[str], None] = print,
) -> dict:
    """Run the detector over one side of the split in both conditions; returns the metrics."""
    import torch

    from detectors.audio.detector import AudioDetector
    from detectors.settings import Settings

    torch.set_num_threads(threads)
    det = AudioDetector(settings=Settings(torch_threads=threads), model_dir=model_dir)
    det.load()
    if det.fusion is None:
        raise SystemExit(det.missing)
    items = [it for it in load_items(data, split) if it.side == side]
    result: dict = {"side": side, "threshold": det.fusion.threshold, "conditions": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for cond in CONDITIONS:
            records = []
            for k, it in enumerate(items):
                path = it.path if cond == "as-is" else write_wav16k(it.path, Path(tmp) / f"{k}.wav")
                res = det.analyze(make_media_ref(path))
                lcnn = next(
                    (c.fake_probability for c in res.components if c.name == "lcnn-lfcc" and c.used), None
                )
                records.append(
                    {
                        "source": it.source,
                        "kind": it.kind,
                        "label": it.label,
                        "p": res.fake_probability if res.verdict != "inconclusive" else None,
                        "p_lcnn": lcnn,
                        "artifacts": res.artifact_count,
                        "inconsistency": res.inconsistency_count,
                    }
                )
            result["conditions"][cond] = summarise(records, det.fusion.threshold)
            result["conditions"][cond]["artifact_rate"] = {
                lab: round(float(np.mean([r["artifacts"] > 0 for r in records if r["label"] == i])), 4)
                for i, lab in ((0, "real"), (1, "fake"))
            }
            result["conditions"][cond]["inconsistency_rate"] = {
                lab: round(float(np.mean([r["inconsistency"] > 0 for r in records if r["label"] == i])), 4)
                for i, lab in ((0, "real"), (1, "fake"))
            }
            log(f"{side} {cond}: {json.dumps(result['conditions'][cond]['kinds'])}")
    return result


def _table(cond: dict) -> str:
    lines = [
        "| kind | real / fake files | AUC (fusion) | EER (fusion) | AUC (LCNN alone) | EER (LCNN alone) | TPR / FPR at threshold |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, r in cond["kinds"].items():
        lines.append(
            f"| {kind} | {r['real']} / {r['fake']} | {r['auc_fusion']:.3f} | {100 * r['eer_fusion']:.1f} % | {r['auc_lcnn']:.3f} | "
            f"{100 * r['eer_lcnn']:.1f} % | {100 * r['tpr_at_threshold']:.0f} % / {100 * r['fpr_at_threshold']:.0f} % |"
        )
    return "\n".join(lines)


def write_model_card(model_dir: Path, metrics: dict) -> Path:
    """MODEL_CARD_v1.md from training.json (written by training) and the held-out metrics."""
    training = json.loads((model_dir / "training.json").read_text())
    fusion = json.loads((model_dir / "fusion.json").read_text())
    val = training["val"]
    sections = []
    for cond, m in metrics["conditions"].items():
        src = "\n".join(
            f"| {k} | {v['files']} | {v['mean_p']:.3f} | {100 * v['flagged_fake']:.0f} % |"
            for k, v in m["sources"].items()
        )
        sections.append(
            f"### Test sources, {cond} ({m['files']} files, {m['inconclusive']} inconclusive)\n\n{_table(m)}\n\n"
            f"Per source at the stored threshold:\n\n| source | files | mean fakeProbability | flagged fake |\n|---|---|---|---|\n{src}\n\n"
            f"Share of files with at least one artifact: real {100 * m['artifact_rate']['real']:.0f} %, fake {100 * m['artifact_rate']['fake']:.0f} %. "
            f"With a voice change inside a turn: real {100 * m['inconsistency_rate']['real']:.0f} %, fake {100 * m['inconsistency_rate']['fake']:.0f} %.\n"
        )
    weights = ", ".join(f"{k} {v:+.2f}" for k, v in training["fusion_weights"].items())
    text = f"""# Model card: audio-default (LCNN-LFCC + features + artifacts + voice consistency)

Written by `deepfake-train audio` and `python -m detectors.audio.evaluate` on {training["date"]}. Numbers below are
measured, not edited by hand.

## What it is
- `lcnn_lfcc.pt`: a light CNN with max-feature-map units (time-delay layout) over 20 LFCCs + deltas + delta-deltas
  of 16 kHz audio, {training["train"].get("parameters", "about 49k")} parameters, {(model_dir / "lcnn_lfcc.pt").stat().st_size // 1024} KB;
  input: raw 16 kHz windows (training crops 2 s, serving windows 4 s); output: one logit per window (fake > 0).
  Clip score: mean window logit.
- `feature_model.json`: standardised logistic regression over {len(json.loads((model_dir / "feature_model.json").read_text())["names"])} clip statistics
  (MFCC, spectral centroid/rolloff, ZCR, chroma entropy, spectral contrast, LFCC spreads, high-band energy, phase
  coherence, pitch jitter).
- `fusion.json`: logistic regression over [LCNN logit, feature logit, artifact count, voice-change count] fitted on the
  validation sources (so its output is a calibrated probability), threshold = EER point on validation, and a Platt
  mapping of single-window logits for the per-segment scores. Fusion weights (standardised): {weights}.
  Threshold: {fusion["threshold"]:.4f}; window threshold: {fusion["window_threshold"]:.4f}.

## Data and split
- `../shared/data/train` (manifest.csv), audio rows only, split by source repository with `models/split.json`:
  train = FSDD (1,500 8 kHz digits, joined per speaker into 6-word phrases), kallavinka8045/icassp2021, Kyubyong/tacotron,
  cschaefer26/model_outputs, tencent-ailab/V-Express, Hangz-nju-cuhk/Talking-Face_PC-AVS; val = espnet/espnet-tts-sample,
  ivanvovk/WaveGrad, coqui-ai/TTS, OpenTalker/SadTalker; test = MobileSpeech/MobileSpeech.github.io, vs-tts123/VSTTS-Demo,
  kan-bayashi/ParallelWaveGAN. Training pieces: {json.dumps(training["train_pieces"])}; {training["training_examples"]} examples after augmentation.
- Self-made fakes: every real training piece re-synthesised (Griffin-Lim from linear and mel spectrograms, WORLD with
  and without a coded envelope and smoothed pitch, an LPC pulse/noise vocoder).
- Augmentation for both classes: random band limits (3.4-7 kHz low-pass, trips through 8/11/12 kHz), MP3/AAC/Opus
  round trips at 12-96 kbit/s, loudness normalised to -32..-16 dBFS, occasional noise, random gain and polarity;
  everything resampled to 16 kHz first; 3/4 of each class band-limited. Sampling shares per group:
  {json.dumps(training.get("group_weights", _default_group_weights()))}.
- Data licences (see ../shared/data/train/SOURCES.md): FSDD CC BY-SA 4.0; LJSpeech public domain; LibriSpeech/LibriTTS CC BY 4.0;
  MobileSpeech and VSTTS demo pages CC0; ParallelWaveGAN MIT (JSUT/CSMSC research-only); WaveGrad BSD-3; Tacotron Apache-2.0;
  icassp2021, espnet-tts-sample and model_outputs have no licence file; SadTalker/HDTF research use. The weights are
  derived from this mixed-licence data: treat them as research-use.

## Command
```
{training["command"]}
python -m detectors.audio.evaluate --model {model_dir} --data <data>
```
Seed {training["seed"]}; training run {training["seconds"]:.0f} s on 2 shared CPU cores; best epoch {training["train"]["best_epoch"]}
(of {len(training["train"]["history"])}) by clip AUC on the val sources.

## Validation sources (used for epoch choice, calibration and threshold: optimistic)
Clips: {val["clips"]}. AUC LCNN alone {val["auc_lcnn"]:.3f}; feature model alone {val["auc_features"]:.3f}; fusion (fitted
on these clips) {val["auc_fusion_in_sample"]:.3f}; single windows (LCNN) {val["window_auc"]:.3f}.

## Held-out test sources (never used for any choice)
Per kind: that kind's fakes against all real speech of the test sources.

{chr(10).join(sections)}
## Limits
- Trained on about 2 minutes of full-band real speech besides the 8 kHz digits, and on a few dozen labelled fakes; the
  test sources are modern zero-shot TTS and neural codecs the model never saw. Treat scores as weak evidence.
- Read speech in English (plus a little Korean); no noisy, telephone or in-the-wild speech in training.
- The artifact rules are fixed physical limits (docs/audio.md); they fire rarely and mostly on old Griffin-Lim TTS.
"""
    path = model_dir / "MODEL_CARD_v1.md"
    path.write_text(text)
    return path


def _default_group_weights() -> dict[str, float]:
    """The sampling shares training uses unless ``--weights`` overrides them."""
    from detectors.audio.train import GROUP_WEIGHTS

    return dict(GROUP_WEIGHTS)


def evaluate_and_document(
    model_dir: Path, data: Path, split: Path, threads: int = 2, log: Callable[[str], None] = print
) -> dict:
    metrics = evaluate(model_dir, data, split, threads, log=log)
    (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_model_card(model_dir, metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    from detectors.audio.train import DEFAULT_DATA, DEFAULT_SPLIT

    p = argparse.ArgumentParser(
        prog="python -m detectors.audio.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", type=Path, default=Path("models/audio"))
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--split", type=Path, default=DEFAULT_SPLIT)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    evaluate_and_document(args.model, args.data, args.split, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
