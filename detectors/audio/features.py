"""Clip-level acoustic features: the usage guide's librosa set plus anti-spoofing cues.

The guide names MFCCs, spectral centroid and rolloff, zero-crossing rate, chroma and spectral
contrast. Anti-spoofing work adds what separates vocoded from recorded speech better: LFCCs
(linear-frequency cepstra), energy in the high band, phase coherence (vocoders and Griffin-Lim
re-create phase) and harmonic regularity (over-smooth pitch, too clean harmonics). Everything is
computed from one magnitude/phase STFT, over speech frames only when there are enough of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_FFT = 512
WIN = 400
HOP = 160
MIN_SPEECH_FRAMES = 20


@dataclass
class Spectra:
    """One STFT of a 16 kHz clip, shared by the feature and artifact code."""

    stft: np.ndarray  # complex (bins, frames)
    power: np.ndarray  # |stft|^2
    freqs: np.ndarray  # Hz per bin
    speech: np.ndarray  # bool per frame
    sample_rate: int
    frame_db: np.ndarray  # RMS level per frame in dBFS (a full-scale sine is -3 dB)

    @property
    def speech_power(self) -> np.ndarray:
        """Power of the speech frames (all frames when too few are speech)."""
        return self.power[:, self.speech] if self.speech.sum() >= MIN_SPEECH_FRAMES else self.power


def compute_spectra(samples: np.ndarray, sample_rate: int, sample_mask: np.ndarray | None) -> Spectra:
    """STFT (25 ms Hann, 10 ms hop) and a per-frame speech flag from the per-sample VAD mask."""
    import librosa

    stft = librosa.stft(samples.astype(np.float32), n_fft=N_FFT, hop_length=HOP, win_length=WIN, center=True)
    power = (np.abs(stft) ** 2).astype(np.float32)
    n_frames = stft.shape[1]
    if sample_mask is None or sample_mask.size == 0:
        speech = np.ones(n_frames, dtype=bool)
    else:
        idx = np.minimum(np.arange(n_frames) * HOP, sample_mask.size - 1)
        speech = sample_mask[idx]
    freqs = np.linspace(0, sample_rate / 2, stft.shape[0])
    padded = np.pad(samples.astype(np.float32), (WIN // 2, WIN // 2))
    frames = librosa.util.frame(padded, frame_length=WIN, hop_length=HOP)[:, :n_frames]
    frame_db = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=0) + 1e-12)
    if frame_db.size < n_frames:
        frame_db = np.pad(frame_db, (0, n_frames - frame_db.size), constant_values=-120.0)
    return Spectra(stft, power, freqs, speech, sample_rate, frame_db.astype(np.float32))


def _stats(prefix: str, values: np.ndarray, out: dict[str, float]) -> None:
    """Mean and standard deviation over frames of each row of ``values``."""
    values = np.atleast_2d(values)
    for i, row in enumerate(values):
        name = prefix if values.shape[0] == 1 else f"{prefix}{i}"
        out[f"{name}_mean"] = float(np.mean(row))
        out[f"{name}_std"] = float(np.std(row))


def lfcc(power: np.ndarray, sample_rate: int, n_filters: int = 20, n_ceps: int = 20) -> np.ndarray:
    """Linear-frequency cepstral coefficients (n_ceps, frames) from a power spectrogram."""
    from scipy.fft import dct

    freqs = np.linspace(0, sample_rate / 2, power.shape[0])
    edges = np.linspace(0, sample_rate / 2, n_filters + 2)
    fb = np.stack(
        [
            np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
            for lo, mid, hi in zip(edges[:-2], edges[1:-1], edges[2:], strict=True)
        ]
    )
    return dct(np.log(fb @ power + 1e-10), type=2, axis=0, norm="ortho")[:n_ceps]


def band_energy_db(power: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> float:
    """Energy of [lo, hi) Hz relative to the whole spectrum, in dB."""
    total = float(power.sum()) + 1e-12
    band = float(power[(freqs >= lo) & (freqs < hi)].sum()) + 1e-12
    return 10.0 * np.log10(band / total)


def phase_irregularity(sp: Spectra) -> float:
    """Magnitude-weighted spread of the phase advance between frames around each bin's expected
    advance. Recorded speech keeps harmonics phase-coherent; Griffin-Lim and some vocoders do not."""
    x = sp.stft[:, sp.speech] if sp.speech.sum() >= MIN_SPEECH_FRAMES else sp.stft
    if x.shape[1] < 3:
        return 0.0
    expected = 2 * np.pi * np.arange(x.shape[0])[:, None] * HOP / N_FFT
    dphi = np.angle(x[:, 1:] * np.conj(x[:, :-1])) - expected
    dphi = np.angle(np.exp(1j * dphi))
    accel = np.abs(np.angle(np.exp(1j * np.diff(dphi, axis=1))))  # change of the advance
    mag = np.abs(x[:, 1:-1]) * np.abs(x[:, 2:])
    weights = mag / (mag.sum() + 1e-12)
    return float((accel * weights).sum())


def pitch_track(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """F0 in Hz per 10 ms frame (0 = unvoiced), WORLD's DIO + StoneMask."""
    import pyworld

    x = samples.astype(np.float64)
    f0, t = pyworld.dio(x, sample_rate, f0_floor=60.0, f0_ceil=500.0, frame_period=10.0)
    return pyworld.stonemask(x, f0, t, sample_rate)


def harmonic_regularity(samples: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Pitch jitter (cycle-to-cycle F0 change), pitch spread and voiced fraction.

    Natural voices jitter by about 0.5-2 %; over-smooth synthetic pitch sits below that."""
    f0 = pitch_track(samples, sample_rate)
    voiced = f0 > 0
    out = {
        "voiced_fraction": float(voiced.mean()) if f0.size else 0.0,
        "jitter": 0.0,
        "f0_std_semitones": 0.0,
    }
    if voiced.sum() < 10:
        return out
    both = voiced[1:] & voiced[:-1]
    if both.sum() >= 5:
        rel = np.abs(np.diff(f0))[both] / f0[1:][both]
        out["jitter"] = float(np.median(rel))
    semis = 12 * np.log2(f0[voiced] / np.median(f0[voiced]))
    out["f0_std_semitones"] = float(np.std(semis))
    return out


def clip_features(samples: np.ndarray, sp: Spectra) -> dict[str, float]:
    """The named feature vector of one clip (stable order: insertion order of this dict)."""
    import librosa

    sr = sp.sample_rate
    p = sp.speech_power
    mag = np.sqrt(p)
    out: dict[str, float] = {}
    mel = librosa.feature.melspectrogram(S=p, sr=sr, n_mels=40)
    _stats("mfcc", librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13), out)
    _stats("centroid", librosa.feature.spectral_centroid(S=mag, sr=sr, n_fft=N_FFT) / (sr / 2), out)
    _stats("rolloff", librosa.feature.spectral_rolloff(S=mag, sr=sr, n_fft=N_FFT) / (sr / 2), out)
    frames = librosa.util.frame(np.pad(samples, (WIN // 2, WIN // 2)), frame_length=WIN, hop_length=HOP)
    zcr = np.mean(np.abs(np.diff(np.signbit(frames), axis=0)), axis=0)[: sp.speech.size]
    zcr = zcr[sp.speech[: zcr.size]] if sp.speech[: zcr.size].sum() >= MIN_SPEECH_FRAMES else zcr
    _stats("zcr", zcr[None, :], out)
    chroma = librosa.feature.chroma_stft(S=p, sr=sr, n_fft=N_FFT, tuning=0.0)
    entropy = -(
        chroma / (chroma.sum(0, keepdims=True) + 1e-12) * np.log(chroma / (chroma.sum(0) + 1e-12) + 1e-12)
    ).sum(0)
    _stats("chroma_entropy", entropy[None, :], out)
    contrast = librosa.feature.spectral_contrast(S=mag, sr=sr, n_fft=N_FFT, n_bands=5, fmin=150.0)
    for i, row in enumerate(contrast):
        out[f"contrast{i}_mean"] = float(row.mean())
    ceps = lfcc(p, sr)
    ceps_d = np.diff(ceps, axis=1) if ceps.shape[1] > 1 else np.zeros_like(ceps)
    for i in range(ceps.shape[0]):
        out[f"lfcc{i}_std"] = float(ceps[i].std())
        out[f"lfcc{i}_dstd"] = float(ceps_d[i].std())
    out["hf_4k_8k_db"] = band_energy_db(p, sp.freqs, 4000, 8000)
    out["hf_6k_8k_db"] = band_energy_db(p, sp.freqs, 6000, 8000)
    out["lf_0_300_db"] = band_energy_db(p, sp.freqs, 0, 300)
    out["phase_irregularity"] = phase_irregularity(sp)
    out.update(harmonic_regularity(samples, sr))
    return out
