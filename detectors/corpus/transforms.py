"""Apply a caveat action to one source file's bytes: the output files and the decision for each."""

from __future__ import annotations

from dataclasses import dataclass, field

from detectors.corpus.caveats import Action


@dataclass
class Output:
    name: str  # path relative to the corpus folder
    data: bytes
    decision: str


@dataclass
class Result:
    outputs: list[Output] = field(default_factory=list)
    drop: str | None = None


def apply(action: Action, data: bytes, base: str, modality: str) -> Result:
    """``base`` is the output path the unmodified file would have."""
    if action.op == "keep":
        return Result([Output(base, data, "kept")])
    if action.op == "drop":
        return Result(drop=action.note or "dropped by caveat rule")
    if modality == "image":
        from detectors.corpus import images

        return images.apply(action, data, base)
    if modality == "video":
        from detectors.corpus import videos

        return videos.apply(action, data, base)
    raise ValueError(f"action {action.op} is not defined for {modality}")
