"""Generator families: every fake row of the real catalogue (and of shared/train) gets one, and the
audio mapping reproduces the 79 families of audio-notes.md with their clip counts."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from detectors.corpus import caveats, families
from detectors.corpus.catalogue import read_catalogue

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CATALOGUE = DATA / "catalogue"
needs_catalogue = pytest.mark.skipif(not (CATALOGUE / "audio.csv").is_file(),
                                     reason=f"catalogue not found at {CATALOGUE}")

IMAGE_FAMILIES = {"stylegan", "gan-other", "sd1", "sd2-sdxl-sd3", "flux", "dalle2", "diffusion-other", "faceswap"}


def test_slugify() -> None:
    assert families.slugify("Matcha-TTS / CFM") == "matcha-tts-cfm"
    assert families.slugify("VQVC+") == "vqvc-plus"
    assert families.slugify("Textless unit-to-speech (HuBERT/CPC/VQ-VAE + HiFi-GAN)").startswith("textless-unit")


def test_reals_have_no_family_and_unknown_generators_fail() -> None:
    assert families.family_for("anything", "image", "real") == ""
    with pytest.raises(KeyError):
        families.family_for("A generator nobody mapped", "image")


@needs_catalogue
def test_every_fake_row_has_a_family() -> None:
    rows = read_catalogue(CATALOGUE)
    assert len(rows) == 101 + 26 + 448
    seen: dict[str, set[str]] = {"image": set(), "video": set(), "audio": set()}
    for r in rows:
        fam = families.family_for(r.generator, r.modality, r.label)
        assert (fam != "") == (r.label == "fake"), r
        seen[r.modality].add(fam)
    assert seen["image"] - {""} == IMAGE_FAMILIES
    assert {"loopy", "omnihuman", "anitalker", "aniportrait", "lipsync", "faceswap"} <= seen["video"]


@needs_catalogue
def test_audio_families_match_the_notes() -> None:
    notes = (CATALOGUE / "audio-notes.md").read_text().splitlines()
    i = next(k for k, line in enumerate(notes) if "Generator families among the fakes" in line)
    expected = {m.group(1).strip(): int(m.group(2))
                for m in re.finditer(r"\s*(.+?): (\d+) clips, \d+ repo\(s\)[;.]", notes[i + 1])}
    assert len(expected) == 79
    got: Counter[str] = Counter()
    for r in read_catalogue(CATALOGUE, ("audio",)):
        if r.label == "fake":
            name = families.audio_family_name(r.generator)
            assert name is not None, r.generator
            got[name] += r.n_files
    assert dict(got) == expected
    assert len({families.slugify(n) for n in expected}) == 79


@pytest.mark.skipif(not (DATA / "train" / "manifest.csv").is_file(), reason="shared/data/train not found")
def test_shared_train_fakes_have_families() -> None:
    with open(DATA / "train" / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    fams = Counter(families.shared_family(r) for r in rows if r["label"] == "fake")
    assert "" not in fams
    image = {families.shared_family(r) for r in rows if r["label"] == "fake" and r["modality"] == "image"}
    assert image <= IMAGE_FAMILIES


@needs_catalogue
def test_caveat_rules_point_at_catalogue_files() -> None:
    """Every rule's repository is in the catalogue (or shared/train), so no rule is dead by a typo."""
    repos = {r.repo for r in read_catalogue(CATALOGUE)} | {"tencent-ailab/V-Express"}
    assert {repo for repo, _glob, _a in caveats.RULES} <= repos
    assert caveats.action_for("SupaGruen/StableDiffusion-CheatSheet", "img/Aaron-Jasinski.webp").op == "grid"
    assert caveats.action_for("SupaGruen/StableDiffusion-CheatSheet", "img/types/00-photo.webp").op == "keep"
    assert re.search("drop", caveats.action_for("black-forest-labs/flux", "assets/grid.jpg").op)
