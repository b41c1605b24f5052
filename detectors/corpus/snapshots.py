"""Read files out of git snapshots (bare or normal clones) without a work tree.

A mirror folder holds one snapshot per repository, as ``<owner>+<name>/repo`` (a bare git dir),
``<owner>+<name>/repo/.git``, or a plain clone at ``<owner>/<name>`` (``.git`` inside or bare).
Snapshots may lack large blobs (the fetcher skipped files of 4 MiB or more): ``git ls-tree -l``
shows their size as ``BAD`` and ``cat-file`` answers ``missing``. Nothing here ever fetches.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIT_ENV = {**os.environ, "GIT_NO_LAZY_FETCH": "1", "GIT_TERMINAL_PROMPT": "0"}


class SnapshotError(RuntimeError):
    """A repository or commit is not available in the mirror."""


@dataclass(frozen=True)
class TreeEntry:
    """One file of a commit's tree; ``size`` is None when the blob is absent from the snapshot."""

    path: str
    blob: str
    size: int | None


def _is_git_dir(path: Path) -> bool:
    return (path / "objects").is_dir() and ((path / "HEAD").exists() or (path / "refs").is_dir())


def find_git_dir(mirror: str | Path, repo: str) -> Path | None:
    """The git directory of ``owner/name`` in ``mirror``, or None."""
    mirror = Path(mirror)
    owner, _, name = repo.partition("/")
    for base in (mirror / f"{owner}+{name}" / "repo", mirror / f"{owner}+{name}", mirror / owner / name):
        for cand in (base, base / ".git"):
            if cand.is_dir() and _is_git_dir(cand):
                return cand
    return None


def _git(git_dir: Path, *args: str) -> bytes:
    proc = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, env=GIT_ENV)
    if proc.returncode != 0:
        raise SnapshotError(f"git {' '.join(args)} in {git_dir}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def list_tree(git_dir: Path, commit: str) -> list[TreeEntry]:
    """Every blob of ``commit`` (recursive), with sizes; submodules and symlinks are skipped."""
    out = _git(git_dir, "ls-tree", "-r", "-l", "-z", commit)
    entries = []
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, _, path = rec.partition(b"\t")
        mode, typ, blob, size = meta.split()
        if typ != b"blob" or mode == b"120000":
            continue
        entries.append(TreeEntry(path.decode("utf-8", "surrogateescape"), blob.decode(),
                                 None if size in (b"BAD", b"-") else int(size)))
    return entries


class BlobReader:
    """Reads blobs through one long-lived ``git cat-file --batch`` process (fast for thousands)."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait()
            self._proc = None

    def read(self, blob: str) -> bytes | None:
        """The blob's bytes, or None when it is absent from the snapshot."""
        if self._proc is None:
            self._proc = subprocess.Popen(
                ["git", f"--git-dir={self.git_dir}", "cat-file", "--batch"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=GIT_ENV,
            )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(blob.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            return None
        size = int(header[2])
        data = self._proc.stdout.read(size)
        self._proc.stdout.read(1)  # trailing newline
        return data
