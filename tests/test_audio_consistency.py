"""Voice consistency counts changes of voice inside a turn, not pauses."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.audio.consistency import VoiceConsistency, find_changes
from detectors.audio.segmentation import Span


def _voices(seq: str, dim: int = 32, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """Unit embeddings for a sequence of voice letters, e.g. 'AAAABBBB'."""
    rng = np.random.default_rng(seed)
    base = {c: rng.standard_normal(dim) for c in sorted(set(seq))}
    e = np.stack([base[c] + noise * np.linalg.norm(base[c]) * rng.standard_normal(dim) for c in seq])
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def test_one_voice_has_no_change():
    assert find_changes(_voices("A" * 12), threshold=0.7) == []


def test_a_switch_is_found_where_it_happens():
    changes = find_changes(_voices("AAAAAABBBBBB"), threshold=0.7)
    assert [i for i, _ in changes] == [6]


def test_back_and_forth_counts_twice():
    changes = find_changes(_voices("AAAAABBBBBAAAAA"), threshold=0.7)
    assert [i for i, _ in changes] == [5, 10]


def test_too_few_partials_cannot_show_a_change():
    assert find_changes(_voices("AB"), threshold=0.7) == []


@pytest.fixture(scope="module")
def voices() -> VoiceConsistency:
    vc = VoiceConsistency()
    vc.load()
    return vc


def test_pauses_between_turns_are_not_changes(voices):
    """Two turns of one signal with a long pause: nothing to count (the pause is not a change)."""
    from tests.media_factory import tone

    sr = 16_000
    a = tone(4.0, sr, freq=140.0)
    x = np.concatenate([a, np.zeros(3 * sr, np.float32), a])
    report = voices.analyse(x, [Span(0.0, 4.0), Span(7.0, 11.0)], sr)
    assert len(report.turns) == 2
    assert report.count == 0
    assert report.partials > 0
