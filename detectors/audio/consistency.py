"""Voice consistency: does the voice change inside one speaker's turn?

A turn is speech whose pauses are shorter than ``TURN_GAP_S``; pauses inside a turn are cut out
before embedding, so a pause is never a change by itself. Inside each turn, resemblyzer's GE2E
speaker encoder embeds 1.6 s partials; a change is a local minimum of the cosine similarity
between the two partials before and the two after a point that falls below ``threshold``. Splices
of two voices and unstable cloned voices produce such changes; a dialogue between turns does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.audio.segmentation import Span, merge_turns

PARTIAL_S = 1.6
TURN_GAP_S = 1.0
DEFAULT_THRESHOLD = 0.70  # measured on train speech (docs/audio.md): same voice >= 0.78, a splice ~0.64
MAX_PARTIALS = 160


@dataclass
class VoiceChange:
    """A point where the voice changed inside a turn (seconds in the clip) and how similar the
    voices on either side were."""

    time: float
    similarity: float
    turn: Span


@dataclass
class ConsistencyReport:
    changes: list[VoiceChange]
    turns: list[Span]
    partials: int
    min_similarity: float | None

    @property
    def count(self) -> int:
        return len(self.changes)


def _normalise(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-9)


def find_changes(embeddings: np.ndarray, threshold: float, block: int = 2) -> list[tuple[int, float]]:
    """Indices where the voice changes, from consecutive L2-normalised partial embeddings.

    The similarity at ``i`` compares the mean of ``block`` partials before ``i`` with the mean of
    ``block`` partials from ``i``; changes are local minima below ``threshold``, at least
    ``block`` partials apart."""
    n = len(embeddings)
    if n < 2 * block:
        return []
    sims = np.full(n, np.inf)
    for i in range(block, n - block + 1):
        left = _normalise(embeddings[i - block : i].mean(0))
        right = _normalise(embeddings[i : i + block].mean(0))
        sims[i] = float(left @ right)
    changes: list[tuple[int, float]] = []
    for i in np.argsort(sims):
        if not np.isfinite(sims[i]) or sims[i] >= threshold:
            break
        if all(abs(int(i) - j) >= block for j, _ in changes):
            changes.append((int(i), float(sims[i])))
    return sorted(changes)


class VoiceConsistency:
    """Counts real changes of voice within turns (resemblyzer GE2E weights ship in the package)."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, hop_s: float = 0.8) -> None:
        self.threshold = threshold
        self.hop_s = hop_s
        self._encoder = None

    def load(self) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # webrtcvad's pkg_resources notice
            from resemblyzer import VoiceEncoder

        self._encoder = VoiceEncoder(device="cpu", verbose=False)

    def _embed(self, chunks: list[np.ndarray]) -> np.ndarray:
        import torch
        from resemblyzer.audio import wav_to_mel_spectrogram

        if self._encoder is None:
            self.load()
        mels = np.stack([wav_to_mel_spectrogram(c) for c in chunks])
        with torch.no_grad():
            return self._encoder(torch.from_numpy(mels)).numpy()

    def analyse(self, samples: np.ndarray, spans: list[Span], sample_rate: int = 16_000) -> ConsistencyReport:
        """Voice changes inside turns, with the partial work bounded by ``MAX_PARTIALS``."""
        turns = merge_turns(spans, TURN_GAP_S)
        speech_total = sum(s.length for s in spans)
        hop = max(self.hop_s, speech_total / MAX_PARTIALS)
        size = int(PARTIAL_S * sample_rate)
        step = int(hop * sample_rate)
        changes: list[VoiceChange] = []
        n_partials = 0
        min_sim: float | None = None
        for turn in turns:
            inside = [s for s in spans if s.start >= turn.start - 1e-6 and s.end <= turn.end + 1e-6]
            pieces = [samples[int(s.start * sample_rate) : int(s.end * sample_rate)] for s in inside]
            times = (
                np.concatenate(
                    [
                        np.arange(int(s.start * sample_rate), int(s.start * sample_rate) + p.size)
                        for s, p in zip(inside, pieces, strict=True)
                    ]
                )
                if pieces
                else np.zeros(0, dtype=int)
            )
            audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
            if audio.size < size * 2:
                continue
            starts = list(range(0, audio.size - size + 1, step))
            emb = self._embed([audio[s : s + size] for s in starts])
            n_partials += len(starts)
            for i, sim in find_changes(emb, self.threshold):
                changes.append(VoiceChange(float(times[starts[i]] / sample_rate), sim, turn))
            if len(starts) >= 4:
                local = [
                    float(_normalise(emb[i - 2 : i].mean(0)) @ _normalise(emb[i : i + 2].mean(0)))
                    for i in range(2, len(starts) - 1)
                ]
                if local:
                    min_sim = min(local) if min_sim is None else min(min_sim, min(local))
        return ConsistencyReport(changes, turns, n_partials, min_sim)
