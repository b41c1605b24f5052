"""The labelled audio of ../shared/data/train, by the fixed source-level split (models/split.json)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FSDD = "Jakobovski/free-spoken-digit-dataset"


@dataclass(frozen=True)
class AudioItem:
    path: Path
    label: int  # 1 = fake
    kind: str  # real-speech, tts, vocoder, voice-clone
    source: str
    side: str  # train / val / test
    source_path: str


def load_items(data_dir: Path | str, split_path: Path | str) -> list[AudioItem]:
    """Every audio row of the manifest with its split side; a source missing from the split is an error."""
    data_dir = Path(data_dir)
    split = json.loads(Path(split_path).read_text())["audio"]
    side = {src: name for name, sources in split.items() for src in sources}
    items = []
    with open(data_dir / "manifest.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["modality"] != "audio":
                continue
            if row["source_repo"] not in side:
                raise ValueError(f"audio source {row['source_repo']} is not in the split file {split_path}")
            items.append(
                AudioItem(
                    data_dir / row["file"],
                    int(row["label"] == "fake"),
                    row["kind"],
                    row["source_repo"],
                    side[row["source_repo"]],
                    row["source_path"],
                )
            )
    return items


def fsdd_speaker(item: AudioItem) -> str:
    """FSDD files are ``recordings/{digit}_{speaker}_{index}.wav``."""
    return Path(item.source_path).stem.split("_")[1]


def group_fsdd(items: list[AudioItem]) -> dict[str, list[AudioItem]]:
    groups: dict[str, list[AudioItem]] = defaultdict(list)
    for it in items:
        if it.source == FSDD:
            groups[fsdd_speaker(it)].append(it)
    return groups


def join_utterance(
    pieces: list[np.ndarray], rng: np.random.Generator, sample_rate: int = 16_000
) -> np.ndarray:
    """Join single words of one speaker into a phrase, with short pauses of faint noise (not
    digital zeros, which would be a cue of their own)."""
    out: list[np.ndarray] = []
    level = np.sqrt(np.mean(np.concatenate(pieces) ** 2) + 1e-12)
    for i, p in enumerate(pieces):
        if i:
            gap = int(rng.uniform(0.05, 0.25) * sample_rate)
            out.append(
                (rng.standard_normal(gap) * level * 10 ** (-rng.uniform(35, 55) / 20)).astype(np.float32)
            )
        out.append(p.astype(np.float32))
    return np.concatenate(out)


def chunk(x: np.ndarray, max_s: float, sample_rate: int = 16_000, min_s: float = 1.0) -> list[np.ndarray]:
    """Split into pieces of at most ``max_s`` (the last one kept when at least ``min_s``)."""
    size = int(max_s * sample_rate)
    pieces = [x[i : i + size] for i in range(0, x.size, size)]
    return [p for k, p in enumerate(pieces) if k == 0 or p.size >= min_s * sample_rate]
