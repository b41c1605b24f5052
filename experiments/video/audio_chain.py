"""Does video-v2's audio stream read synthesis, or the recording chain? (issue 16, second pass)

    .venv/bin/python experiments/video/audio_chain.py extract [--limit 10]   # sound views -> feature cache
    .venv/bin/python experiments/video/audio_chain.py analyse --out experiments/video/audio_chain.json

The audio stream (Whisper base layer 2, mean/std over the first 10 s of the sound track) had the
largest fusion weight of video-v2 (0.785). Almost every fake in corpus v2 carries sound (123 of
132) and most reals do not (47 of 147 have sound); the fakes' sound comes from project pages and
generator pipelines, the reals' from dataset repositories. A probe on it may learn where and how
the sound was recorded and muxed, not whether speech was synthesised: in this corpus the picture
is what is fake; the sound of a face swap or a lip-sync clip is recorded human speech.

Views of the sound (both classes alike, train and test): ``as-is`` (the intake's 16 kHz decode),
``aac32`` (AAC-LC at 32 kbit/s, 16 kHz, decoded back) and ``band8k`` (resampled to 8 kHz and back:
a telephone band, no high-frequency traces). Each is cached under ``video-v2-audio-view``.

THE RULE (written down before any result of this script was computed; applied as written):

Let A = the audio stream's mean leave-one-family-out AUC over the folds of the model card
(``logo_folds(min_fakes=4)``; a clip without sound takes the training clips' mean score, as in
the model card; probe C = 0.01 fixed), trained and tested on the sound as-is.

- T1 (codec and bandwidth): A with every clip's sound (train and test) through ``aac32``, and
  through ``band8k``. T1 fails if either is below A - 0.05: the stream leans on codec or
  high-band traces that a lossy upload erases.
- T2 (recorded human speech): the held-out (out-of-fold) scores of the fakes whose sound is
  recorded human speech by construction -- the face-swap and lip-sync families (the generator
  changes the picture, not the sound) -- against the reals with sound: AUC_rs. T2 fails if
  AUC_rs >= 0.65: the stream calls unaltered human speech "fake" about as readily as it calls any
  fake, i.e. it reads the recording chain or source, not synthesis.
- T3 (same repository): within each repository holding >= 2 real and >= 2 fake clips with sound,
  the AUC of the held-out scores. Reported only (too few clips to decide anything).

Decision: T2 fails -> drop the audio stream from the fusion (it stays a reported probe; the
sound still gets its own verdict from ``audio-whisper`` in ``audioTrack``). T2 passes and T1
fails -> down-weight: the audio stream's fusion weight is capped at half the largest picture
stream's weight. Both pass -> keep it a candidate of the nested selection like any stream.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

EXTRACTOR = "video-v2-audio-view"
VERSION = "1"
VIEWS = ("as-is", "aac32", "band8k")
AUDIO_WINDOW_S = 10.0
MIN_AUDIO_RMS = 1e-3
AAC_BIT_RATE = 32_000


def aac_roundtrip(x: np.ndarray, rate: int = 16_000, bit_rate: int = AAC_BIT_RATE) -> np.ndarray:
    """Encode mono float samples as AAC-LC at ``bit_rate`` in memory and decode them back (same rate)."""
    import io

    import av

    from detectors.media import add_audio_stream, encode_audio

    buf = io.BytesIO()
    with av.open(buf, "w", format="adts") as out:
        stream = add_audio_stream(out, "aac", rate, bit_rate)
        encode_audio(out, stream, x, sample_format="fltp")
    buf.seek(0)
    parts = []
    with av.open(buf, "r", format="aac") as inp:
        res = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in inp.decode(audio=0):
            for f in res.resample(frame):
                parts.append(f.to_ndarray().reshape(-1))
    y = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return y[: len(x)].astype(np.float32)


def band8k(x: np.ndarray, rate: int = 16_000) -> np.ndarray:
    """Down to 8 kHz and back up (telephone band)."""
    import librosa

    low = librosa.resample(np.asarray(x, np.float32), orig_sr=rate, target_sr=8000)
    return librosa.resample(low, orig_sr=8000, target_sr=rate)[: len(x)].astype(np.float32)


def sound_of(path: Path) -> np.ndarray | None:
    """The first ``AUDIO_WINDOW_S`` seconds as the video intake decodes them; None without audible sound."""
    from detectors.media import load_audio
    from detectors.settings import get_settings

    clip = load_audio(path, get_settings().max_video_seconds + 1.0)
    if clip is None or not clip.samples.size:
        return None
    x = np.asarray(clip.samples, np.float32)[: int(AUDIO_WINDOW_S * clip.sample_rate)]
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    if rms < MIN_AUDIO_RMS or x.size < clip.sample_rate // 2:
        return None
    return x


def extract(limit: int = 0) -> None:
    import torch

    torch.set_num_threads(1)
    from detectors.audio.v2_streams import WhisperLayers
    from detectors.features.cache import FeatureCache, derived_key, file_key
    from detectors.video.v2_data import load_video_rows

    rows, paths = load_video_rows()
    if limit:
        paths = paths[:: max(1, len(paths) // limit)][:limit]
    cache = FeatureCache()
    whisper = WhisperLayers(max_window_s=AUDIO_WINDOW_S)
    whisper.load()
    t0, done = time.monotonic(), 0
    for p in paths:
        base = file_key(p)
        if all(cache.get(EXTRACTOR, VERSION, derived_key(base, v, 0)) is not None for v in VIEWS):
            continue
        x = sound_of(p)
        for view in VIEWS:
            key = derived_key(base, view, 0)
            if x is None:
                cache.put(EXTRACTOR, VERSION, key, {"l2": np.full(1024, np.nan, np.float32)})
                continue
            xv = x if view == "as-is" else aac_roundtrip(x) if view == "aac32" else band8k(x)
            st = whisper.states(xv)[2]
            cache.put(EXTRACTOR, VERSION, key, {"l2": np.concatenate([st.mean(0), st.std(0)]).astype(np.float32)})
        done += 1
        if done % 20 == 0:
            logging.info("%d clips, %.2f s/clip", done, (time.monotonic() - t0) / done)
    print(f"{done} clips extracted in {time.monotonic() - t0:.1f} s ({(time.monotonic() - t0) / max(done, 1):.2f} s/clip)")


def load_views(paths) -> dict[str, np.ndarray]:
    from detectors.features.cache import FeatureCache, derived_key, file_key

    cache = FeatureCache()
    out = {}
    for view in VIEWS:
        mats = []
        for p in paths:
            got = cache.get(EXTRACTOR, VERSION, derived_key(file_key(p), view, 0))
            if got is None:
                raise SystemExit(f"{p} has no {view} sound features: run `extract` first")
            mats.append(np.asarray(got["l2"], np.float64))
        out[view] = np.vstack(mats)
    return out


def analyse(out: Path, n_boot: int = 200) -> dict:
    from detectors.evaluation import logo, metrics
    from detectors.video.v2_data import load_video_rows
    from detectors.video.v2_fusion import fit_stream, present
    from detectors.video.v2_select import chain_rule

    rows, paths = load_video_rows()
    y = np.array([1 if r["label"] == "fake" else 0 for r in rows])
    X = load_views(paths)
    folds = logo.logo_folds(rows, min_fakes=4)
    has = present(X["as-is"])
    result: dict = {"n_with_sound": {"real": int((has & (y == 0)).sum()), "fake": int((has & (y == 1)).sum())}}
    held: dict[str, np.ndarray] = {}
    for view in VIEWS:
        M = X[view]
        per_fold, acc, cnt = {}, np.zeros(len(y)), np.zeros(len(y))
        for fold in folds:
            probe, _ = fit_stream(M, y, rows, fold.train, C=0.01)
            if probe is None:
                continue
            tr = fold.train[present(M[fold.train])]
            neutral = float(np.mean(probe.score(M[tr])))
            s = np.where(present(M[fold.test]), probe.score(M[fold.test]), neutral)
            per_fold[fold.test.tobytes()] = s
            te = fold.test[present(M[fold.test])]
            acc[te] += probe.score(M[te])
            cnt[te] += 1
        used = [f for f in folds if f.test.tobytes() in per_fold]
        table = logo.run_logo(y, used, lambda tr, te, b=per_fold: b[te.tobytes()], n_boot=n_boot)
        result.setdefault("logo", {})[view] = {"mean_auc": logo.summary_row(table)["auc"], "folds": table}
        held[view] = np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)
    a = result["logo"]["as-is"]["mean_auc"]
    t1 = {v: result["logo"][v]["mean_auc"] for v in VIEWS}
    t1_fail = any(t1[v] < a - 0.05 for v in ("aac32", "band8k"))
    s = held["as-is"]
    fam = np.array([r.get("family") or "" for r in rows])
    kind = np.array([r.get("kind") or "" for r in rows])
    real_snd = (y == 0) & np.isfinite(s)
    groups = {
        "face swap + lip-sync (recorded speech)": (y == 1) & np.isin(fam, ["faceswap", "lipsync"]) & np.isfinite(s),
        "talking heads (driving audio)": (y == 1) & (kind == "talking-head") & np.isfinite(s),
        "all fakes with sound": (y == 1) & np.isfinite(s),
    }
    t2 = {}
    for name, m in groups.items():
        yy = np.r_[np.zeros(real_snd.sum()), np.ones(m.sum())]
        ss = np.r_[s[real_snd], s[m]]
        lo, hi = metrics.bootstrap_ci(metrics.auc, yy, ss, n=n_boot) if m.sum() >= 2 else (np.nan, np.nan)
        t2[name] = {"n_fake": int(m.sum()), "n_real": int(real_snd.sum()),
                    "auc": metrics.auc(yy, ss) if m.sum() else float("nan"), "ci": [lo, hi]}
    auc_rs = t2["face swap + lip-sync (recorded speech)"]["auc"]
    t2_fail = bool(auc_rs >= 0.65)
    t3 = {}
    src = np.array([r.get("source_repo") or "" for r in rows])
    for repo in sorted(set(src)):
        m = (src == repo) & np.isfinite(s)
        if (y[m] == 0).sum() >= 2 and (y[m] == 1).sum() >= 2:
            t3[repo] = {"n_real": int((y[m] == 0).sum()), "n_fake": int((y[m] == 1).sum()), "auc": metrics.auc(y[m], s[m])}
    decision = chain_rule(a, {v: t1[v] for v in ("aac32", "band8k")}, auc_rs)
    assert decision == ("drop" if t2_fail else "down-weight" if t1_fail else "keep")
    result.update({"A": a, "T1": {"mean_auc": t1, "fails": t1_fail}, "T2": {"groups": t2, "auc_rs": auc_rs,
                   "fails": t2_fail}, "T3": t3, "decision": decision})
    out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "logo"}, indent=1, default=float))
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("extract", "analyse"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("experiments/video/audio_chain.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.what == "extract":
        extract(args.limit)
    else:
        analyse(args.out)


if __name__ == "__main__":
    main()
