"""Fakes the training code makes itself: re-synthesis of real speech through vocoders that run here.

Each takes real 16 kHz speech and returns speech with the traces of one synthesis family:
Griffin-Lim phase reconstruction (from a linear or a mel spectrogram, as early TTS did), the WORLD
vocoder (optionally with a coded envelope and smoothed pitch, as statistical parametric TTS),
and an LPC source-filter vocoder (pulse/noise excitation). The words and the speaker stay, so the
model must learn the synthesis, not the content.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SR = 16_000


def griffin_lim_linear(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep the STFT magnitude, rebuild the phase by Griffin-Lim."""
    import librosa

    n_fft = int(rng.choice([512, 1024]))
    hop = n_fft // 4
    mag = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop))
    return librosa.griffinlim(
        mag,
        n_iter=int(rng.integers(16, 48)),
        hop_length=hop,
        n_fft=n_fft,
        random_state=int(rng.integers(1 << 31)),
    )


def griffin_lim_mel(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """80-band mel spectrogram (the usual TTS target) inverted with Griffin-Lim."""
    import librosa

    fmax = float(rng.choice([7600.0, 8000.0]))
    mel = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=1024, hop_length=256, n_mels=80, fmax=fmax)
    return librosa.feature.inverse.mel_to_audio(mel, sr=SR, n_fft=1024, hop_length=256, fmax=fmax, n_iter=24)


def _world_analysis(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import pyworld

    xd = x.astype(np.float64)
    f0, t = pyworld.dio(xd, SR, f0_floor=60.0, f0_ceil=500.0, frame_period=5.0)
    f0 = pyworld.stonemask(xd, f0, t, SR)
    sp = pyworld.cheaptrick(xd, f0, t, SR)
    ap = pyworld.d4c(xd, f0, t, SR)
    return f0, t, sp, ap


def world(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """WORLD analysis-synthesis; half the time with a 40-coefficient coded envelope and smoothed
    pitch (what a parametric TTS would generate)."""
    import pyworld

    f0, _, sp, ap = _world_analysis(x)
    if rng.random() < 0.5:
        coded = pyworld.code_spectral_envelope(sp, SR, 40)
        sp = pyworld.decode_spectral_envelope(
            coded, SR, 1024 if sp.shape[1] == 513 else (sp.shape[1] - 1) * 2
        )
        voiced = f0 > 0
        if voiced.sum() > 5:
            k = 9
            smooth = np.convolve(np.pad(f0, k // 2, mode="edge"), np.ones(k) / k, mode="valid")
            f0 = np.where(voiced, smooth, 0.0)
    y = pyworld.synthesize(f0, np.ascontiguousarray(sp), np.ascontiguousarray(ap), SR, 5.0)
    return y.astype(np.float32)


def lpc_vocoder(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Order-16 LPC envelopes excited by a pulse train (voiced) or noise (unvoiced), overlap-added."""
    import librosa
    import pyworld
    from scipy.signal import lfilter

    frame, hop = 400, 200
    order = int(rng.choice([12, 16, 20]))
    xd = x.astype(np.float64)
    f0, t = pyworld.dio(xd, SR, f0_floor=60.0, f0_ceil=500.0, frame_period=1000.0 * hop / SR)
    f0 = pyworld.stonemask(xd, f0, t, SR)
    win = np.hanning(frame)
    out = np.zeros(x.size + frame)
    phase = 0.0
    for i, start in enumerate(range(0, max(1, x.size - frame), hop)):
        seg = x[start : start + frame]
        if seg.size < frame:
            break
        seg_w = seg * win
        gain = np.sqrt(np.mean(seg_w**2) + 1e-12)
        if gain < 1e-5:
            continue
        a = librosa.lpc(seg_w.astype(np.float64) + 1e-9 * rng.standard_normal(frame), order=order)
        pitch = f0[min(i, f0.size - 1)]
        if pitch > 0:
            period = SR / pitch
            exc = np.zeros(frame)
            pos = (-phase) % period
            while pos < frame:
                exc[int(pos)] = 1.0
                pos += period
            phase = (phase + frame / 2) % period
        else:
            exc = rng.standard_normal(frame)
        y = lfilter([1.0], a, exc)
        y *= gain / (np.sqrt(np.mean((y * win) ** 2)) + 1e-12)
        out[start : start + frame] += y * win
    return out[: x.size].astype(np.float32)


VOCODERS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "griffin_lim": griffin_lim_linear,
    "griffin_lim_mel": griffin_lim_mel,
    "world": world,
    "lpc": lpc_vocoder,
}


def resynthesise(x: np.ndarray, vocoder: str, rng: np.random.Generator) -> np.ndarray:
    """Re-synthesise real speech ``x`` (16 kHz) through ``vocoder``; same length, loudness matched."""
    y = VOCODERS[vocoder](x.astype(np.float32), rng)
    y = np.asarray(y, dtype=np.float32)
    y = y[: x.size] if y.size >= x.size else np.pad(y, (0, x.size - y.size))
    ref = np.sqrt(np.mean(x**2) + 1e-12)
    return (y * ref / (np.sqrt(np.mean(y**2)) + 1e-12)).astype(np.float32)
