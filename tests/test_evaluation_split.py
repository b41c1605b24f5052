"""Source-level splits: the committed split and generated ones never put a source on two sides."""

from __future__ import annotations

import csv
import json

import pytest

from detectors.evaluation import split as S


def _disjoint(split: dict) -> None:
    for modality in S.MODALITIES:
        if modality not in split:
            continue
        parts = [set(split[modality].get(p, [])) for p in S.PARTS]
        for i in range(3):
            for j in range(i + 1, 3):
                assert not parts[i] & parts[j], f"{modality}: {parts[i] & parts[j]} on two sides"


def _rows(spec: dict[str, dict[str, tuple[int, int]]]) -> list[dict]:
    """Manifest rows from {modality: {source: (n_real, n_fake)}}."""
    rows = []
    for modality, sources in spec.items():
        for source, (n_real, n_fake) in sources.items():
            for label, n in (("real", n_real), ("fake", n_fake)):
                for i in range(n):
                    rows.append({"file": f"{modality}/{label}/{source}_{i}", "label": label,
                                 "modality": modality, "kind": "x", "source_repo": source})
    return rows


def test_committed_split_never_puts_a_source_on_two_sides():
    split = S.load_split()  # validates
    _disjoint(split)
    for modality in S.MODALITIES:
        assert S.sources_for(split, modality, "test"), f"{modality} has no test sources"


def test_committed_split_covers_the_manifest(shared_data):
    """Every source of ../shared/data/train has a part (the corpus merges it in; the split is the corpus's)."""
    rows = list(csv.DictReader(open(shared_data / "manifest.csv", newline="")))
    split = S.load_split()
    problems = S.check_against_manifest(split, rows)
    assert not [p for p in problems if "in no part" in p], problems
    for modality in S.MODALITIES:
        n_all = sum(1 for r in rows if r["modality"] == modality)
        n_parts = sum(len(S.rows_for(rows, split, modality, p)) for p in S.PARTS)
        assert n_parts == n_all


def test_committed_split_covers_the_corpus():
    from detectors.evaluation.dataset import corpus_dir

    manifest = corpus_dir() / "manifest.csv"
    if not manifest.exists():
        pytest.skip(f"no corpus at {corpus_dir()} (deepfake-data build)")
    rows = list(csv.DictReader(open(manifest, newline="")))
    problems = S.check_against_manifest(S.load_split(), rows)
    assert not [p for p in problems if "in no part" in p or "has no" in p], problems


def test_keep_test_pins_earlier_test_sources_and_families_spread():
    spec = {"image": {f"s{i}": (10 + i, 0) for i in range(6)}}
    spec["image"].update({f"g{i}": (0, 12 + i) for i in range(6)})
    rows = _rows(spec)
    for r in rows:
        if r["label"] == "fake":
            r["family"] = "famA" if int(r["source_repo"][1:]) % 2 else "famB"
    earlier = {"image": {"train": [], "val": [], "test": ["s0", "g1"]}}
    split = S.make_split(rows, seed=0, restarts=10, keep_test=earlier)
    _disjoint(split)
    assert {"s0", "g1"} <= set(split["image"]["test"])
    assert split["params"]["kept_test"] == {"image": ["g1", "s0"]}
    for part in ("train", "test"):
        fams = {r["family"] for r in rows if r["label"] == "fake" and r["source_repo"] in split["image"][part]}
        assert fams == {"famA", "famB"}, (part, fams)


def test_validate_rejects_a_source_on_two_sides(tmp_path):
    bad = {"image": {"train": ["a", "b"], "val": ["c"], "test": ["b"]}}
    with pytest.raises(S.SplitError, match="'b'"):
        S.validate_split(bad)
    path = tmp_path / "split.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(S.SplitError):
        S.load_split(path)
    with pytest.raises(S.SplitError):
        S.validate_split({"image": {"train": ["a"], "holdout": ["b"]}})


def test_rows_for_and_sources_for():
    split = {"image": {"train": ["a"], "val": ["b"], "test": ["c"]}}
    rows = _rows({"image": {"a": (2, 1), "b": (1, 1), "c": (3, 0), "d": (1, 1)}, "audio": {"a": (1, 0)}})
    assert {r["source_repo"] for r in S.rows_for(rows, split, "image", "train")} == {"a"}
    assert len(S.rows_for(rows, split, "image", "test")) == 3
    assert len(S.rows_for(rows, split, "image", "all")) == 3 + 2 + 3  # 'd' is unlisted
    assert S.rows_for(rows, split, "audio", "train") == []
    assert S.part_of(split, "image", "b") == "val"
    problems = S.check_against_manifest(split, rows)
    assert any("'d'" in p and "in no part" in p for p in problems)


SPEC = {
    "image": {f"img{i}": (10 + 7 * i, (i % 3) * 9) for i in range(8)} | {"shared": (5, 5)},
    "audio": {f"aud{i}": ((i % 2) * 30, 4 + i) for i in range(7)} | {"shared": (2, 3), "big": (1500, 0)},
    "video": {"shared": (3, 3), "vid1": (4, 4), "vid2": (5, 0), "vid3": (0, 6)},
}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("consistent", [True, False])
def test_generated_split_never_puts_a_source_on_two_sides(seed, consistent):
    rows = _rows(SPEC)
    split = S.make_split(rows, seed=seed, restarts=20, consistent=consistent)
    _disjoint(split)
    for modality, sources in SPEC.items():
        assert S.sources_for(split, modality, "all") == set(sources), "every source assigned exactly once"
        for part in S.PARTS:  # each part gets sources, and both labels where the sources allow it
            labels = {r["label"] for r in S.rows_for(rows, split, modality, part)}
            assert labels == {"real", "fake"}, (modality, part, labels)
    if consistent:
        assert S.cross_modality_conflicts(split) == []


def test_generated_split_is_reproducible_and_seed_dependent(tmp_path):
    rows = _rows(SPEC)
    a = S.make_split(rows, seed=0, restarts=10)
    assert a == S.make_split(rows, seed=0, restarts=10)
    others = [S.make_split(rows, seed=s, restarts=10) for s in (1, 2, 3)]
    assert any(o["image"] != a["image"] or o["audio"] != a["audio"] for o in others)
    path = tmp_path / "gen.json"
    S.write_split(a, path)
    assert S.load_split(path)["image"] == a["image"]


def test_generated_split_of_the_real_manifest(shared_data):
    rows = list(csv.DictReader(open(shared_data / "manifest.csv", newline="")))
    split = S.make_split(rows, seed=0, restarts=30)
    _disjoint(split)
    assert S.check_against_manifest(split, rows) == []
