"""Speech segmentation on a constructed signal: speech-like bursts and silence."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.audio.segmentation import Span, VoiceActivity, merge_turns, speech_mask, speech_windows
from tests.media_factory import tone

SR = 16_000


def bursts_and_silence() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """1 s silence, 2 s speech-like tone, 1 s silence, 1.5 s tone at another pitch, 1 s silence."""
    rng = np.random.default_rng(0)
    quiet = lambda s: (0.001 * rng.standard_normal(int(s * SR))).astype(np.float32)  # noqa: E731
    parts = [quiet(1.0), tone(2.0, SR), quiet(1.0), tone(1.5, SR, freq=150.0, seed=1), quiet(1.0)]
    return np.concatenate(parts), [(1.0, 3.0), (4.0, 5.5)]


@pytest.fixture(scope="module")
def vad() -> VoiceActivity:
    v = VoiceActivity()
    v.load()
    return v


def test_vad_finds_the_bursts_and_not_the_silence(vad):
    signal, truth = bursts_and_silence()
    spans = vad.speech(signal, SR)
    assert len(spans) == 2, spans
    for span, (start, end) in zip(spans, truth, strict=True):
        assert abs(span.start - start) < 0.3 and abs(span.end - end) < 0.3, (span, start, end)


def test_vad_on_silence_finds_nothing(vad):
    assert vad.speech(np.zeros(3 * SR, np.float32), SR) == []
    assert vad.speech((0.001 * np.random.default_rng(1).standard_normal(3 * SR)).astype(np.float32), SR) == []


def test_windows_cover_speech_only():
    signal, truth = bursts_and_silence()
    mask = speech_mask([Span(*t) for t in truth], signal.size, SR)
    wins = speech_windows(mask, SR, window_s=2.0, min_speech_fraction=0.5)
    assert wins, "speech must give windows"
    for w in wins:
        assert w.end_sample - w.start_sample == 2 * SR
        assert w.speech_fraction >= 0.5
    silent = speech_windows(np.zeros(signal.size, bool), SR)
    assert silent == []


def test_long_files_are_capped_and_spread():
    mask = np.ones(600 * SR, dtype=bool)  # ten minutes of speech
    wins = speech_windows(mask, SR, window_s=4.0, max_windows=64)
    assert len(wins) == 64
    starts = [w.start_sample / SR for w in wins]
    assert starts[0] == 0.0 and starts[-1] > 590 - 4.0  # spread over the whole file
    gaps = np.diff(starts)
    assert gaps.min() >= 4.0 and gaps.max() <= 12.0


def test_short_clip_gives_one_window_of_itself():
    mask = np.ones(int(2.5 * SR), dtype=bool)
    wins = speech_windows(mask, SR, window_s=4.0)
    assert len(wins) == 1 and wins[0].end_sample == mask.size


def test_turns_join_short_pauses_only():
    spans = [Span(0.0, 1.0), Span(1.3, 2.0), Span(4.0, 5.0)]
    assert merge_turns(spans, max_gap=1.0) == [Span(0.0, 2.0), Span(4.0, 5.0)]
