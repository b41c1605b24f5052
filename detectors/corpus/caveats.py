"""Per-group caveat rules: which catalogue files are grids, composites or watermarked, and what to do.

A rule is keyed by repository + shell glob on the source path and names an action:
``keep``; ``grid`` (split into rows x cols tiles, optional gutters); ``crop`` (keep one box,
given as fractions of width/height: the generated panel of a composite, or the frame minus a
watermark band); ``drop`` (with the reason). The rule's ``key`` goes into the build state, so
changing a rule re-processes only the files it covers.
"""

from __future__ import annotations

from dataclasses import dataclass

from detectors.corpus.catalogue import shell_match


@dataclass(frozen=True)
class Action:
    """What to do with one source file."""

    op: str  # keep | grid | crop | drop
    params: tuple = ()
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.op}:{self.params}:{self.note}"


KEEP = Action("keep")

# (repo, glob on source path, action); first match wins.
RULES: tuple[tuple[str, str, Action], ...] = ()


def action_for(repo: str, path: str) -> Action:
    """The caveat action for one catalogue file (``keep`` when no rule applies)."""
    for rule_repo, glob, action in RULES:
        if rule_repo == repo and shell_match(path, glob):
            return action
    return KEEP
