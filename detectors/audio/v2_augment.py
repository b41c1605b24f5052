"""The audio ``aug`` view: a random recording/transmission chain for real and fake speech alike.

Each draw applies, each with its own probability and in this order: silence trimming, a trip
through another sample rate, a band limit (telephone 300-3400 Hz, or a low-pass), RawBoost-style
distortions (Tak et al. 2022: convolutive filtering with a mild non-linearity, impulsive
signal-dependent noise, stationary coloured noise), reverberation (a synthetic exponentially
decaying room response), added noise, a lossy codec (MP3 / AAC / Opus at low bitrates, PyAV,
in memory) and a loudness change. No stream should learn a source's recording chain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detectors.audio.augment import codec_round_trip, loudness_normalise, low_pass, resample

SR = 16_000


def trim_silence(x: np.ndarray, top_db: float = 35.0) -> np.ndarray:
    """Cut leading and trailing stretches more than ``top_db`` below the peak (kept if all quiet)."""
    import librosa

    if x.size < 2048:
        return x
    y, _ = librosa.effects.trim(x, top_db=top_db, frame_length=512, hop_length=128)
    return y if y.size >= SR // 4 else x


def telephone(x: np.ndarray) -> np.ndarray:
    """300-3400 Hz band through an 8 kHz sample rate and back (narrow-band telephony)."""
    from scipy.signal import butter, sosfiltfilt

    y = resample(x, SR, 8_000)
    sos = butter(4, [300, 3400], btype="band", fs=8_000, output="sos")
    return resample(sosfiltfilt(sos, y).astype(np.float32), 8_000, SR)[: x.size]


def rate_trip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rate = int(rng.choice([11_025, 12_000, 22_050, 24_000, 44_100]))
    y = resample(resample(x, SR, rate), rate, SR)
    return y[: x.size] if y.size >= x.size else np.pad(y, (0, x.size - y.size))


def rawboost_convolutive(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RawBoost 'LnL': a random multi-band FIR filter and a small polynomial non-linearity."""
    from scipy.signal import firwin, lfilter

    y = np.zeros_like(x)
    for order in range(1, int(rng.integers(2, 4)) + 1):
        n_bands = int(rng.integers(1, 4))
        h = np.zeros(int(rng.integers(31, 101)) | 1)
        for _ in range(n_bands):
            fc = float(rng.uniform(200, 7000))
            bw = float(rng.uniform(100, 1000))
            lo, hi = max(20.0, fc - bw / 2), min(7900.0, fc + bw / 2)
            h += firwin(h.size, [lo, hi], pass_zero=False, fs=SR) * float(rng.uniform(0.5, 1.0))
        y += (lfilter(h, [1.0], x**order) * float(rng.uniform(0.5, 1.0)) / order).astype(np.float32)
    peak = np.abs(y).max()
    return (y / peak * np.abs(x).max() if peak > 0 else x).astype(np.float32)


def rawboost_impulsive(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RawBoost 'ISD': a few percent of samples get signal-dependent impulsive errors."""
    y = x.copy()
    n = int(x.size * rng.uniform(0.005, 0.03))
    idx = rng.choice(x.size, size=n, replace=False)
    y[idx] += (x[idx] * rng.uniform(-1, 1, n) * rng.uniform(1, 5)).astype(np.float32)
    return np.clip(y, -1, 1)


def rawboost_stationary(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RawBoost 'SSI': white noise through a random band filter, at 10-40 dB SNR."""
    fc = float(rng.uniform(500, 6000))
    noise = rng.standard_normal(x.size).astype(np.float32)
    noise = low_pass(noise, fc, order=4)
    return add_at_snr(x, noise, float(rng.uniform(10, 40)))


def add_at_snr(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    px = np.mean(x**2) + 1e-12
    pn = np.mean(noise**2) + 1e-12
    return (x + noise * np.sqrt(px / pn * 10 ** (-snr_db / 10))).astype(np.float32)


def reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response (exponential decay, RT60 0.15-0.8 s), mixed wet/dry."""
    from scipy.signal import fftconvolve

    rt60 = float(rng.uniform(0.15, 0.8))
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0
    rir /= np.sqrt(np.sum(rir**2))
    wet = fftconvolve(x, rir)[: x.size].astype(np.float32)
    mix = float(rng.uniform(0.3, 1.0))
    return ((1 - mix) * x + mix * wet).astype(np.float32)


def augment_chain(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """One random draw of the chain over 16 kHz mono ``x``; returns the audio and the steps applied."""
    steps: list[str] = []
    y = np.asarray(x, dtype=np.float32)

    def step(p: float, name: str, fn) -> None:
        nonlocal y
        if rng.random() < p:
            y = np.asarray(fn(y), dtype=np.float32)
            steps.append(name)

    step(0.5, "trim", trim_silence)
    step(0.2, "resample", lambda v: rate_trip(v, rng))
    if rng.random() < 0.4:
        if rng.random() < 0.5:
            y = telephone(y)
            steps.append("telephone")
        else:
            y = low_pass(y, float(rng.uniform(3_400, 7_000)))
            steps.append("lowpass")
    step(0.15, "rawboost-lnl", lambda v: rawboost_convolutive(v, rng))
    step(0.1, "rawboost-isd", lambda v: rawboost_impulsive(v, rng))
    step(0.15, "rawboost-ssi", lambda v: rawboost_stationary(v, rng))
    step(0.25, "reverb", lambda v: reverb(v, rng))
    step(0.3, "noise", lambda v: add_at_snr(v, rng.standard_normal(v.size).astype(np.float32), float(rng.uniform(15, 45))))
    step(0.5, "codec", lambda v: codec_round_trip(v, rng))
    y = loudness_normalise(y, float(rng.uniform(-35, -14)))
    steps.append("loudness")
    return np.clip(y, -1, 1).astype(np.float32), steps


def aug_view(src: Path, dst_dir: Path, rng: np.random.Generator) -> Path:
    """The registered ``aug`` view: decode, one chain draw, write 16 kHz 16-bit WAV."""
    import soundfile as sf

    from detectors.audio.v2_streams import decode16k

    y, _ = augment_chain(decode16k(Path(src)), rng)
    out = Path(dst_dir) / "view.wav"
    sf.write(out, y, SR, subtype="PCM_16")
    return out


def register() -> None:
    """Register ``aug`` as an audio view with the training core (idempotent)."""
    from detectors.training.streams import register_view

    register_view("audio", "aug", aug_view)
