"""Where the speech is, and which fixed-length windows of it the model scores.

Voice activity comes from silero-vad (its ONNX weights ship inside the package). Windows are a
fixed grid over the file; only windows that hold enough speech are kept, and long files are
capped by spreading at most ``max_windows`` of them evenly over the file (bounded work).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Span:
    """A stretch of the clip in seconds."""

    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Window:
    """One model input: ``samples[start_sample:end_sample]`` and how much of it is speech."""

    start_sample: int
    end_sample: int
    speech_fraction: float

    def span(self, sample_rate: int = SAMPLE_RATE) -> Span:
        return Span(self.start_sample / sample_rate, self.end_sample / sample_rate)


class VoiceActivity:
    """silero-vad over 16 kHz mono audio; load once, call per clip."""

    def __init__(self, threshold: float = 0.5, min_speech_ms: int = 200, min_silence_ms: int = 150) -> None:
        self.threshold = threshold
        self.min_speech_ms = min_speech_ms
        self.min_silence_ms = min_silence_ms
        self._model = None

    def load(self) -> None:
        from silero_vad import load_silero_vad

        self._model = load_silero_vad(onnx=True)

    def speech(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[Span]:
        """Speech segments (seconds) of a mono float32 clip at 16 kHz."""
        import torch
        from silero_vad import get_speech_timestamps

        if self._model is None:
            self.load()
        if samples.size < sample_rate // 10:
            return []
        stamps = get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)),
            self._model,
            threshold=self.threshold,
            sampling_rate=sample_rate,
            min_speech_duration_ms=self.min_speech_ms,
            min_silence_duration_ms=self.min_silence_ms,
            return_seconds=False,
        )
        return [Span(s["start"] / sample_rate, s["end"] / sample_rate) for s in stamps]


def speech_mask(spans: list[Span], n_samples: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Boolean per-sample mask of the speech spans."""
    mask = np.zeros(n_samples, dtype=bool)
    for s in spans:
        mask[int(s.start * sample_rate) : int(np.ceil(s.end * sample_rate))] = True
    return mask


def merge_turns(spans: list[Span], max_gap: float = 1.0) -> list[Span]:
    """Join speech segments separated by pauses shorter than ``max_gap`` s into turns."""
    turns: list[Span] = []
    for s in sorted(spans, key=lambda x: x.start):
        if turns and s.start - turns[-1].end <= max_gap:
            turns[-1] = Span(turns[-1].start, max(turns[-1].end, s.end))
        else:
            turns.append(s)
    return turns


def speech_windows(
    mask: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    window_s: float = 4.0,
    min_speech_fraction: float = 0.25,
    max_windows: int = 64,
) -> list[Window]:
    """Fixed windows on a grid that hold speech; at most ``max_windows``, spread over the file.

    A clip shorter than one window gives one window of the whole clip (when it holds speech).
    """
    n = mask.size
    size = int(window_s * sample_rate)
    if n == 0 or not mask.any():
        return []
    if n <= size:
        return [Window(0, n, float(mask.mean()))]
    starts = list(range(0, n - size + 1, size))
    if n - (starts[-1] + size) > size // 4:  # a tail worth a window: align one with the end
        starts.append(n - size)
    windows = []
    for s in starts:
        frac = float(mask[s : s + size].mean())
        if frac >= min_speech_fraction:
            windows.append(Window(s, s + size, frac))
    if not windows:  # speech too sparse for any grid window: centre one window on the speech
        centre = int(np.flatnonzero(mask).mean())
        s = int(np.clip(centre - size // 2, 0, n - size))
        windows = [Window(s, s + size, float(mask[s : s + size].mean()))]
    if len(windows) > max_windows:
        keep = np.unique(np.linspace(0, len(windows) - 1, max_windows).round().astype(int))
        windows = [windows[i] for i in keep]
    return windows
