"""Build the training corpus from the catalogue's git snapshots plus ``shared/data/train``.

Order is stable (shared/train first, then image_video, faceswap, audio rows, paths sorted), so
"keep the first" dedup decisions never flip between runs. For every source file the builder
reads the blob at the pinned commit, drops exact duplicates (sha256) and applies the caveat rule
of its group (grid split, composite crop, watermark crop); each output file gets a manifest row
with the decision taken. Reruns reuse the build state and rewrite nothing whose sha256 matches.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.corpus import caveats, datacard, families, probe
from detectors.corpus.catalogue import CatalogueRow, read_catalogue
from detectors.corpus.manifest import (
    EXCLUDED_COLUMNS,
    GROUP_COLUMNS,
    MANIFEST_COLUMNS,
    csv_text,
    read_csv,
    write_if_changed,
)
from detectors.corpus.snapshots import BlobReader, SnapshotError, TreeEntry, find_git_dir, list_tree
from detectors.corpus.state import BuildState

MODALITIES = ("image", "audio", "video")
SHARED_GROUP = "shared-train"
PROCESSOR_VERSION = "1"  # bump when the output of an action changes for the same input


def default_out() -> Path:
    env = os.environ.get("DEEPFAKE_CORPUS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "deepfake-detection" / "corpus"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class BuildReport:
    """What a build did, for the CLI summary and the data card."""

    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    written: int = 0
    reused: int = 0
    removed: int = 0
    seconds: float = 0.0

    @property
    def mismatches(self) -> list[dict[str, Any]]:
        return [g for g in self.groups if g["status"] != "ok"]


@dataclass
class Candidate:
    """One source file in processing order."""

    group: str
    row: CatalogueRow | None  # None for shared/train files
    source_repo: str
    source_path: str
    source_commit: str
    label: str
    modality: str
    kind: str
    generator: str
    family: str
    license: str
    label_evidence: str
    blob: str | None = None  # git blob id (catalogue files)
    local: Path | None = None  # shared/train file
    missing: bool = False
    read: Callable[[], bytes | None] | None = None


class Builder:
    """One build run; see ``build``."""

    def __init__(self, mirror: Path, out: Path, catalogue: Path, train: Path | None,
                 only: str | None = None, verify: bool = False, log: Callable[[str], None] = print) -> None:
        self.mirror, self.out, self.catalogue, self.train = mirror, out, catalogue, train
        self.only, self.verify, self.log = only, verify, log
        self.report = BuildReport(out)
        self.state: BuildState | None = None
        self.readers: dict[Path, BlobReader] = {}
        self.seen_sha: dict[str, str] = {}  # sha256 of a source or output -> the manifest file that has it
        self.near: Any = None  # near-duplicate index (images), set in run()

    # ---- candidates -------------------------------------------------------------------------
    def _shared_candidates(self) -> list[Candidate]:
        if self.train is None or not (self.train / "manifest.csv").is_file():
            self.log(f"shared train set: {self.train} has no manifest.csv, skipped")
            return []
        cands = []
        for r in sorted(read_csv(self.train / "manifest.csv"), key=lambda r: r["file"]):
            if self.only and r["modality"] != self.only:
                continue
            fam = families.shared_family(r)
            kind = families.video_kind(r["kind"], fam) if r["modality"] == "video" and r["label"] == "fake" else r["kind"]
            cands.append(Candidate(
                group=SHARED_GROUP, row=None, source_repo=r["source_repo"], source_path=r["source_path"],
                source_commit=r["source_commit"], label=r["label"], modality=r["modality"], kind=kind,
                generator="", family=fam, license=r["license"], label_evidence=r["label_evidence"],
                local=self.train / r["file"],
            ))
        return cands

    def _catalogue_candidates(self) -> list[Candidate]:
        rows = [r for r in read_catalogue(self.catalogue) if not self.only or r.modality == self.only]
        trees: dict[tuple[str, str], list[TreeEntry] | str] = {}
        cands: list[Candidate] = []
        for row in rows:
            key = (row.repo, row.commit)
            if key not in trees:
                git_dir = find_git_dir(self.mirror, row.repo)
                if git_dir is None:
                    trees[key] = f"repository not in mirror {self.mirror}"
                else:
                    try:
                        trees[key] = list_tree(git_dir, row.commit)
                    except SnapshotError as exc:
                        trees[key] = f"commit not in snapshot ({exc})"
            tree = trees[key]
            g = {"group": row.group, "repo": row.repo, "commit": row.commit, "path_glob": row.path_glob,
                 "label": row.label, "modality": row.modality, "kind": row.kind, "generator": row.generator,
                 "n_files": row.n_files, "matched": 0, "present": 0, "kept_files": 0, "status": "ok"}
            self.report.groups.append(g)
            if isinstance(tree, str):
                g["status"] = tree
                continue
            matched = sorted((e for e in tree if row.matches(e.path)), key=lambda e: e.path)
            present = [e for e in matched if e.size is not None]
            g["matched"], g["present"] = len(matched), len(present)
            counted = len(present) if row.dialect == "pathspec" else len(matched)
            notes = []
            if counted != row.n_files:
                notes.append(f"count {counted} != n_files {row.n_files}")
            if len(present) < len(matched):
                notes.append(f"{len(matched) - len(present)} missing from snapshot")
            g["status"] = "; ".join(notes) or "ok"
            fam = families.family_for(row.generator, row.modality, row.label)
            kind = families.video_kind(row.kind, fam) if row.modality == "video" and row.label == "fake" else row.kind
            git_dir = find_git_dir(self.mirror, row.repo)
            assert git_dir is not None
            reader = self.readers.setdefault(git_dir, BlobReader(git_dir))
            for e in matched:
                cands.append(Candidate(
                    group=row.group, row=row, source_repo=row.repo, source_path=e.path, source_commit=row.commit,
                    label=row.label, modality=row.modality, kind=kind, generator=row.generator, family=fam,
                    license=row.license, label_evidence=row.label_evidence, blob=e.blob, missing=e.size is None,
                    read=(lambda b=e.blob, rd=reader: rd.read(b)),
                ))
        return cands

    # ---- one candidate ------------------------------------------------------------------------
    def _exclude(self, c: Candidate, reason: str, sha: str = "") -> None:
        self.report.excluded.append({
            "source_repo": c.source_repo, "source_path": c.source_path, "source_commit": c.source_commit,
            "group": c.group, "label": c.label, "modality": c.modality, "kind": c.kind,
            "generator": c.generator, "sha256": sha, "reason": reason,
        })

    def _dest_base(self, c: Candidate) -> str:
        if c.row is None:
            return f"{SHARED_GROUP}/{c.local.relative_to(self.train)}"  # type: ignore[union-attr,arg-type]
        owner, _, name = c.source_repo.partition("/")
        return f"{c.modality}/{c.label}/{owner}+{name}/{c.source_path}"

    def _source_key(self, c: Candidate) -> str:
        if c.row is not None:
            return f"blob:{c.blob}"
        st = c.local.stat()  # type: ignore[union-attr]
        return f"file:{c.local}:{st.st_size}:{st.st_mtime_ns}"

    def _process(self, c: Candidate) -> None:
        if c.missing:
            self._exclude(c, "missing from snapshot (blob of 4 MiB or more not fetched)")
            return
        action = caveats.action_for(c.source_repo, c.source_path)
        skey = self._source_key(c)
        rkey = f"{skey}|{action.key}|v{PROCESSOR_VERSION}|{self._dest_base(c)}"
        rec = self.state.get(rkey)  # type: ignore[union-attr]
        data: bytes | None = None
        if rec is None:
            data = self._read(c)
            if data is None:
                self._exclude(c, "missing from snapshot (cat-file: missing)")
                return
            rec = self._run_action(c, action, data)
            self.state.put(rkey, rec)  # type: ignore[union-attr]
        src_sha = rec["src_sha256"]
        if src_sha in self.seen_sha:
            self._exclude(c, f"duplicate of {self.seen_sha[src_sha]}", src_sha)
            return
        if rec.get("drop"):
            self.seen_sha[src_sha] = f"(dropped) {c.source_repo}:{c.source_path}"
            self._exclude(c, rec["drop"], src_sha)
            return
        kept = []
        for o in rec["outputs"]:
            if o["sha256"] in self.seen_sha:
                self._exclude(c, f"{o['decision']}: duplicate of {self.seen_sha[o['sha256']]}", o["sha256"])
                continue
            if self.near is not None and c.modality == "image" and o.get("phash"):
                twin = self.near.find(o["phash"], c.label)
                if twin is not None:
                    self._exclude(c, f"{o['decision']}: near-duplicate of {twin} (pHash distance "
                                     f"{self.near.last_distance})", o["sha256"])
                    continue
                self.near.add(o["phash"], c.label, o["file"])
            self.seen_sha[o["sha256"]] = o["file"]
            kept.append(o)
        self.seen_sha.setdefault(src_sha, kept[0]["file"] if kept else f"{c.source_repo}:{c.source_path}")
        if any(not self._file_ok(o) and (o["file"], o["sha256"]) not in self._pending for o in kept):
            # an output file is gone or changed: redo the action (an encoder may give other bytes)
            data = data if data is not None else self._read(c)
            if data is None:
                raise SnapshotError(f"{c.source_repo}:{c.source_path} vanished from the snapshot")
            rec = self._run_action(c, action, data)
            self.state.put(rkey, rec)  # type: ignore[union-attr]
            by_name = {o["file"]: o for o in rec["outputs"]}
            kept = [by_name.get(o["file"], o) for o in kept]
        for o in kept:
            self._ensure_file(c, o, action, rkey)
            self.report.rows.append(self._manifest_row(c, o))

    def _read(self, c: Candidate) -> bytes | None:
        if c.row is None:
            return c.local.read_bytes()  # type: ignore[union-attr]
        return c.read()  # type: ignore[misc]

    def _run_action(self, c: Candidate, action: caveats.Action, data: bytes) -> dict[str, Any]:
        """Apply ``action`` to the source bytes: the record of outputs (files are written later)."""
        from detectors.corpus import transforms

        src_sha = sha256_bytes(data)
        base = self._dest_base(c)
        result = transforms.apply(action, data, base, c.modality)
        if result.drop:
            return {"src_sha256": src_sha, "drop": result.drop, "outputs": []}
        outputs = []
        for o in result.outputs:
            fmt = probe.sniff(o.data, o.name)
            name = probe.canonical_name(o.name, fmt)
            decision = o.decision
            if name != o.name and c.row is not None:
                decision += f"; extension {Path(o.name).suffix or '(none)'} -> {Path(name).suffix} (container is {fmt})"
            if c.row is None:
                name = o.name  # shared/train names already match their containers
            info = probe.media_info(o.data, c.modality, fmt)
            entry = {"file": name, "sha256": sha256_bytes(o.data), "format": fmt, "decision": decision,
                     "width": info.width, "height": info.height, "duration": info.duration,
                     "sample_rate": info.sample_rate, "size": len(o.data)}
            if c.modality == "image":
                from detectors.corpus import phash

                entry["phash"] = phash.phash_hex(o.data)
            outputs.append(entry)
            self._pending[(name, entry["sha256"])] = o.data
        return {"src_sha256": src_sha, "drop": None, "outputs": outputs}

    def _file_ok(self, o: dict[str, Any]) -> bool:
        """Does ``out/o['file']`` hold the recorded bytes? Size + mtime, or sha256 when those differ."""
        path = self.out / o["file"]
        if not path.is_file() or path.stat().st_size != o["size"]:
            return False
        if not self.verify and o.get("mtime_ns") == path.stat().st_mtime_ns:
            return True
        if sha256_file(path) == o["sha256"]:
            o["mtime_ns"] = path.stat().st_mtime_ns
            return True
        return False

    def _ensure_file(self, c: Candidate, o: dict[str, Any], action: caveats.Action, rkey: str) -> None:
        """Make ``out/o['file']`` hold the output with sha256 ``o['sha256']``; skip when it already does."""
        path = self.out / o["file"]
        if self._file_ok(o):
            self.report.reused += 1
            return
        content = self._pending.pop((o["file"], o["sha256"]), None)
        if content is None:
            raise RuntimeError(f"{o['file']}: output bytes not available (state out of date)")
        path.parent.mkdir(parents=True, exist_ok=True)
        if c.row is None and action.op == "keep":
            tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            tmp.unlink(missing_ok=True)
            try:
                os.link(c.local, tmp)  # type: ignore[arg-type]
            except OSError:
                shutil.copyfile(c.local, tmp)  # type: ignore[arg-type]
        else:
            tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            tmp.write_bytes(content)
        os.replace(tmp, path)
        self._remember_mtime(o, path, rkey)
        self.report.written += 1

    def _remember_mtime(self, o: dict[str, Any], path: Path, rkey: str) -> None:
        o["mtime_ns"] = path.stat().st_mtime_ns
        rec = self.state.records[rkey]  # type: ignore[union-attr]
        self.state.put(rkey, rec)  # type: ignore[union-attr]

    def _manifest_row(self, c: Candidate, o: dict[str, Any]) -> dict[str, Any]:
        return {
            "file": o["file"], "label": c.label, "modality": c.modality, "kind": c.kind,
            "source_repo": c.source_repo, "source_path": c.source_path, "source_commit": c.source_commit,
            "license": c.license, "label_evidence": c.label_evidence, "generator": c.generator,
            "family": c.family, "group": c.group, "sha256": o["sha256"], "width": o["width"],
            "height": o["height"], "duration": o["duration"], "sample_rate": o["sample_rate"],
            "format": o["format"], "decision": o["decision"],
        }

    # ---- whole run --------------------------------------------------------------------------
    def run(self) -> BuildReport:
        from detectors.corpus import phash

        t0 = time.monotonic()
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = BuildState(self.out)
        self._pending: dict[tuple[str, str], bytes] = {}
        self.near = phash.NearDuplicates()
        try:
            cands = self._shared_candidates() + self._catalogue_candidates()
            self.log(f"{len(cands)} source files ({sum(c.missing for c in cands)} absent from snapshots)")
            for i, c in enumerate(cands, 1):
                self._process(c)
                self._pending.clear()
                if i % 500 == 0:
                    self.log(f"  {i}/{len(cands)} ({self.report.written} written, {self.report.reused} reused, "
                             f"{time.monotonic() - t0:.0f} s)")
        finally:
            for rd in self.readers.values():
                rd.close()
            self.state.close(compact=self.only is None)
        self._merge_other_modalities()
        self._write_outputs()
        self._remove_stale()
        self.report.seconds = time.monotonic() - t0
        return self.report

    def _merge_other_modalities(self) -> None:
        """With ``--only``, keep the other modalities' rows of the existing manifest as they are."""
        if not self.only:
            return
        for name, target in (("manifest.csv", self.report.rows), ("excluded.csv", self.report.excluded)):
            path = self.out / name
            if path.is_file():
                keep = [r for r in read_csv(path) if r.get("modality") != self.only]
                target[:0] = keep
        old = self.out / "groups.csv"
        if old.is_file():
            keep_g = [r for r in read_csv(old) if r.get("modality") != self.only]
            self.report.groups[:0] = keep_g

    def _write_outputs(self) -> None:
        write_if_changed(self.out / "manifest.csv", csv_text(MANIFEST_COLUMNS, self.report.rows))
        write_if_changed(self.out / "excluded.csv", csv_text(EXCLUDED_COLUMNS, self.report.excluded))
        kept = defaultdict(int)
        for r in self.report.rows:
            kept[r["group"]] += 1
        for g in self.report.groups:
            g["kept_files"] = kept.get(g["group"], 0)
        write_if_changed(self.out / "groups.csv", csv_text(GROUP_COLUMNS, self.report.groups))
        write_if_changed(self.out / "DATA_CARD.md", datacard.render(self.report.rows, self.report.excluded,
                                                                     self.report.groups))

    def _remove_stale(self) -> None:
        """Delete media files under the corpus folders that the manifest no longer lists."""
        listed = {r["file"] for r in self.report.rows}
        tops = [self.only] if self.only else [*MODALITIES, SHARED_GROUP]
        for top in tops:
            base = self.out / top
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*")):
                if path.is_file():
                    rel = path.relative_to(self.out).as_posix()
                    if rel not in listed and not (self.only and rel.startswith(SHARED_GROUP)):
                        path.unlink()
                        self.report.removed += 1


def build(mirror: str | Path, out: str | Path | None = None, catalogue: str | Path = "../shared/data/catalogue",
          train: str | Path | None = "../shared/data/train", only: str | None = None, verify: bool = False,
          log: Callable[[str], None] = print) -> BuildReport:
    """Build (or update) the corpus in ``out``; returns what was done."""
    if only is not None and only not in MODALITIES:
        raise ValueError(f"--only must be one of {MODALITIES}")
    return Builder(Path(mirror), Path(out) if out else default_out(), Path(catalogue),
                   Path(train) if train else None, only, verify, log).run()


def summary_lines(report: BuildReport) -> Iterable[str]:
    """A few lines for the terminal."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in report.rows:
        counts[(r["modality"], r["label"])] += 1
    yield f"corpus: {report.out} ({len(report.rows)} files; {report.written} written, {report.reused} reused, " \
          f"{report.removed} stale removed; {report.seconds:.1f} s)"
    for (m, lab), n in sorted(counts.items()):
        yield f"  {m:5s} {lab:4s} {n}"
    reasons: dict[str, int] = defaultdict(int)
    for e in report.excluded:
        reasons[datacard.reason_class(e["reason"])] += 1
    for reason, n in sorted(reasons.items()):
        yield f"  excluded: {reason}: {n}"
    for g in report.mismatches:
        yield f"  group {g['group']} {g['repo']} {g['path_glob']}: {g['status']}"
