"""DATA_CARD.md of the corpus: what is in it, what was left out and why, and the licence warning.

Deterministic (no dates, stable sort orders) so that a rebuild that changes nothing leaves the
card byte-identical.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

LICENCE_WARNING = (
    "**Licences are mixed; several sources are non-commercial or research-only** (NVIDIA StyleGAN "
    "family, FFHQ, CelebA-HQ, ProGAN, SPADE, DECA, VToonify, LIA, MegaFS, InfoSwap, BlendFace, "
    "DeeperForensics, MEAD, RAVDESS, ESD, EmoV-DB, Expresso, L2-ARCTIC, inswapper_128, DeepFloyd IF "
    "and others), and most demo pages state no licence at all (all rights reserved). Much real "
    "footage is third-party (news, TV, YouTube). **Use for research only. Do not redistribute the "
    "media, and do not ship models trained on it in a commercial product without clearing the "
    "sources.** Keep the manifest's provenance columns with any derived data."
)


def reason_class(reason: str) -> str:
    """A short class of an exclusion reason ('duplicate of X' -> 'exact duplicate')."""
    r = reason.split(": ", 1)[1] if ": " in reason and not reason.startswith(("missing", "composite")) else reason
    if r.startswith("duplicate of"):
        return "exact duplicate (sha256)"
    if r.startswith("near-duplicate of"):
        return "near duplicate (pHash)"
    if r.startswith("missing from snapshot"):
        return "missing from snapshot (blob >= 4 MiB not fetched)"
    return re.sub(r"\s*\(.*\)$", "", r)


def decision_class(decision: str) -> str:
    """'tile of 2x2 grid 3/4 (512x512 at 512,0)' -> 'tile of 2x2 grid'."""
    d = re.sub(r"\s*\([^()]*\)", "", decision)
    return re.sub(r"\s+\d+/\d+", "", d).strip()


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |" for r in rows]
    return out


def _count_table(rows: Sequence[Mapping[str, object]], keys: Sequence[str], title: str) -> list[str]:
    c = Counter(tuple(str(r.get(k) or "–") for k in keys) for r in rows)
    return [f"### {title}", "", *_table([*keys, "files"], [(*k, n) for k, n in sorted(c.items())]), ""]


def tables(rows: Sequence[Mapping[str, object]], excluded: Sequence[Mapping[str, object]],
           groups: Sequence[Mapping[str, object]]) -> list[str]:
    """The card's tables (also copied into docs/corpus.md)."""
    fakes = [r for r in rows if r.get("label") == "fake"]
    lines: list[str] = []
    lines += _count_table(rows, ("modality", "label"), "Files per modality and label")
    lines += _count_table(rows, ("modality", "label", "kind"), "Files per kind")
    lines += _count_table(fakes, ("modality", "family"), "Fake files per generator family")
    src = Counter((str(r["modality"]), str(r["label"]), str(r["source_repo"])) for r in rows)
    lines += ["### Files per source repository", "",
              *_table(("modality", "label", "source_repo", "files"), [(*k, n) for k, n in sorted(src.items())]), ""]
    lic = Counter(str(r.get("license") or "–")[:90] for r in rows)
    lines += ["### Files per licence statement (first 90 characters)", "",
              *_table(("licence", "files"), sorted(lic.items(), key=lambda kv: (-kv[1], kv[0]))), ""]
    dec = Counter((str(r["modality"]), decision_class(str(r["decision"]))) for r in rows)
    lines += ["### Decisions taken on kept files", "",
              *_table(("modality", "decision", "files"), [(*k, n) for k, n in sorted(dec.items())]), ""]
    exc = Counter((str(e["modality"]), reason_class(str(e["reason"]))) for e in excluded)
    lines += ["### Excluded files by reason", "",
              *_table(("modality", "reason", "files"), [(*k, n) for k, n in sorted(exc.items())]), ""]
    bad = [g for g in groups if g.get("status") != "ok"]
    lines += ["### Catalogue groups whose count differs or that lack files", ""]
    if bad:
        lines += _table(("group", "repo", "path_glob", "n_files", "matched", "present", "status"),
                        [(g["group"], g["repo"], f"`{g['path_glob']}`", g["n_files"], g["matched"], g["present"],
                          g["status"]) for g in bad])
    else:
        lines.append("None: every group matched its `n_files` with every blob present.")
    lines.append("")
    return lines


def render(rows: Sequence[Mapping[str, object]], excluded: Sequence[Mapping[str, object]],
           groups: Sequence[Mapping[str, object]]) -> str:
    n_fake = sum(r.get("label") == "fake" for r in rows)
    head = [
        "# Data card: deepfake-detection training corpus v2",
        "",
        "Built by `deepfake-data build` from the public GitHub repositories of the source catalogue "
        "(`shared/data/catalogue`, pinned commits) plus the merged `shared/data/train` set "
        "(`group` = `shared-train`). Every row of `manifest.csv` names its source repository, path "
        "and commit, licence statement, label evidence, generator, generator family and the "
        "builder's decision (kept, tile of a grid, generated panel of a composite, watermark band "
        "cropped). `excluded.csv` lists every source file left out, with the reason; `groups.csv` "
        "the per-group counts against the catalogue.",
        "",
        f"{len(rows)} files ({n_fake} fake, {len(rows) - n_fake} real); {len(excluded)} source files excluded.",
        "",
        "## Licence warning",
        "",
        LICENCE_WARNING,
        "",
        "## Known biases (see the catalogue notes)",
        "",
        "- Formats, resolutions, sample rates and durations differ between the classes: normalise "
        "and re-encode both sides alike before training; report a metadata-only baseline.",
        "- A few generators dominate (SD 1.5 grids, TPDNE StyleGAN2 faces, YourTTS): cap files per generator.",
        "- Utterances, speakers and identities recur across sources: split by source repository or "
        "by generator family (leave-one-family-out), never by file.",
        "",
        "## Tables",
        "",
    ]
    return "\n".join(head + tables(rows, excluded, groups))
