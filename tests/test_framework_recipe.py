"""The generic recipe on generated media: config -> stand-in streams -> head -> calibration -> model dir."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectors.evaluation import dataset
from detectors.features.cache import FeatureCache
from detectors.training import recipe
from detectors.training.config import ConfigError, config_from_dict, load_config
from detectors.training.stream_registry import (
    create_stream,
    register_stream,
    stream_factory,
    unregister_stream,
)
from detectors.training.streams import register_view

FAMILIES = ("ganA", "ganB", "diffC", "diffD")
REAL_SOURCES = ("photos1", "photos2", "photos3", "photos4", "photos5", "photos6")


class BrightnessStream:
    """Stand-in stream: pixel statistics (the generated fakes are brighter and noisier)."""

    name, version, modality = "test-brightness", "1", "image"

    def __init__(self, bins: int = 4) -> None:
        self.bins = bins
        self.calls = 0

    def load(self) -> None:
        pass

    def features(self, path: Path) -> dict[str, np.ndarray]:
        self.calls += 1
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
        hist = np.histogram(rgb, bins=self.bins, range=(0, 1))[0] / rgb.size
        return {"mean": rgb.mean(axis=(0, 1)), "hist": hist}


class NoiseStream(BrightnessStream):
    name = "test-noise"

    def features(self, path: Path) -> dict[str, np.ndarray]:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
        return {"hf": np.array([np.abs(np.diff(rgb, axis=0)).mean(), np.abs(np.diff(rgb, axis=1)).mean()])}


def _flip(src: Path, dst: Path, rng: np.random.Generator) -> Path:
    out = dst / "aug.png"
    Image.open(src).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out)
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A tiny corpus-v2-style manifest: 4 fake families (2 sources each), 6 real sources."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    rows = []

    def add(label: str, source: str, family: str, i: int, shift: float, noise: float) -> None:
        img = np.clip(rng.normal(0.45 + shift, noise, (24, 24, 3)), 0, 1)
        rel = f"{label}/{source.replace('/', '_')}_{i}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255).astype(np.uint8)).save(root / rel)
        rows.append({"file": rel, "label": label, "modality": "image", "kind": "gan" if family.startswith("gan") else
                     ("diffusion" if family else "real"), "source_repo": source, "family": family,
                     "generator": family, "group": "test", "license": "CC0"})

    for f, fam in enumerate(FAMILIES):
        for i in range(14):
            add("fake", f"gen/{fam}-{i % 2}", fam, i, 0.12 + 0.02 * f, 0.2)
    for s, src in enumerate(REAL_SOURCES):
        for i in range(10):
            add("real", f"real/{src}", "", i, -0.02 * (s % 2), 0.1)
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=dataset.CORPUS_COLUMNS, extrasaction="ignore", restval="")
        w.writeheader()
        w.writerows(rows)
    split = {"image": {"train": ["gen/ganA-0", "gen/ganA-1", "gen/diffC-0", "gen/diffC-1", "real/photos1", "real/photos2",
                                 "gen/ganB-0", "real/photos3"],
                       "val": ["gen/diffD-0", "gen/ganB-1", "real/photos4"],
                       "test": ["gen/diffD-1", "real/photos5", "real/photos6"]}}
    (root / "split.json").write_text(json.dumps(split))
    return root


@pytest.fixture(autouse=True)
def _streams():
    register_stream("image/test-brightness", BrightnessStream)
    register_stream("image/test-noise", NoiseStream)
    register_view("image", "test-flip", _flip)
    yield
    unregister_stream("image/test-brightness")
    unregister_stream("image/test-noise")


CONFIG = """
name: test-recipe
modality: image
data: {manifest: MANIFEST, split: SPLIT}
views: {aug: test-flip, aug_draws: 1, reencoded: [jpeg90]}
streams:
  - {name: image/test-brightness, features: [mean, hist], params: {bins: 4}}
  - {name: image/test-noise}
head: {Cs: [0.1, 1.0], n_inner: 2}
operating_points: {max_fpr: 0.1, max_fnr: 0.1}
logo: {min_fakes: 5, n_real_groups: 3, n_boot: 20}
"""


def test_config_loads_and_rejects_what_cannot_work(tmp_path, corpus):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.replace("MANIFEST", str(corpus)).replace("SPLIT", str(corpus / "split.json")))
    cfg = load_config(path)
    assert cfg.streams[0].params == {"bins": 4} and cfg.views.aug_draws == 1 and cfg.head.Cs == (0.1, 1.0)
    assert cfg.streams[0].key == "image/test-brightness:mean+hist"
    base = {"name": "x", "modality": "image", "streams": [{"name": "image/a"}]}
    for bad, key in (({"modality": "picture"}, "modality"), ({"head": {"Cs": []}}, "head.Cs"),
                     ({"views": {"aug_draws": "2"}}, "views.aug_draws"), ({"heads": {}}, "heads"),
                     ({"operating_points": {"max_fpr": 0.7}}, "max_fpr")):
        with pytest.raises(ConfigError, match=key):
            config_from_dict({**base, **bad})


def test_registry_names_and_errors():
    assert isinstance(create_stream("image/test-brightness", {"bins": 3}), BrightnessStream)
    assert stream_factory("image/metadata")  # registered by the evaluation's metadata module on a miss
    with pytest.raises(KeyError, match="image/test-brightness"):
        stream_factory("image/no-such-stream")
    with pytest.raises(ValueError):
        register_stream("image/test-brightness", NoiseStream)
    with pytest.raises(ValueError):
        register_stream("no-modality", NoiseStream)


def test_recipe_trains_calibrates_and_writes_a_model(tmp_path, corpus):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.replace("MANIFEST", str(corpus)).replace("SPLIT", str(corpus / "split.json")))
    cfg = load_config(path)
    cache = FeatureCache(tmp_path / "cache")
    out = tmp_path / "model"
    result = recipe.train(cfg, out, cache=cache, n_boot=50, log=lambda m: None)
    test = result["split_metrics"]["test"]
    assert set(test) == {"as-is", "jpeg90"}
    assert test["as-is"]["auc"] > 0.8 and test["as-is"]["n"] == 10 + 10 + 7
    assert result["split_metrics"]["rows"]["test"]["sources"] == ["gen/diffD-1", "real/photos5", "real/photos6"]
    ops = result["operating_points"]
    assert ops["real_below"] <= 0.5 <= ops["fake_above"] and ops["fitted_on"].startswith("val sources")
    assert all(w >= 0 for w in result["fusion_weights"].values())
    fused = result["logo"]["as-is"]["fused"]
    assert {r["fold"] for r in fused} == set(FAMILIES) and "jpeg90" in result["logo"]
    assert "metadata baseline" in (out / "TRAINING.md").read_text() and result["baseline_logo"]["as-is"]
    for name in ("weights.json", "metrics.json", "logo.json", "TRAINING.md"):
        assert (out / name).is_file()

    # the stored model reproduces the head's probability for a file
    model = recipe.RecipeModel.load(out)
    item = dataset.load_manifest(corpus)[0]
    feats = {s["key"]: create_stream(s["name"], s["params"]).features(item.path) for s in model.streams}
    p = model.probability(feats)
    assert 0.0 <= p <= 1.0 and model.operating_points.fake_above == ops["fake_above"]

    # a second run extracts nothing again
    calls: list[str] = []
    cache2 = FeatureCache(tmp_path / "cache")
    streams = recipe.build_streams(cfg)
    stream = streams["image/test-brightness:mean+hist"][1]
    recipe.extract_corpus(recipe.select_items(cfg), streams, ["jpeg90"], "test-flip", 1, cache2, calls.append)
    assert stream.calls == 0 and cache2.misses == 0


def test_manifest_reader_names_the_build_command(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPFAKE_CORPUS_DIR", str(tmp_path / "nowhere"))
    assert dataset.corpus_dir() == tmp_path / "nowhere"
    with pytest.raises(dataset.DatasetError, match="deepfake-data build"):
        dataset.load_manifest("corpus")


def test_manifest_reader_reads_both_formats(corpus):
    items = dataset.load_manifest(corpus)
    fake = next(it for it in items if it.label)
    assert fake.family in FAMILIES and fake.group == "test" and fake.as_row()["family"] == fake.family
    shared = Path("/work/shared/data/train/manifest.csv")
    if shared.exists():
        old = dataset.load_items(shared)
        assert old and all(it.family == "" for it in old[:10]) and old[0].get("license")
    capped = dataset.cap_per_group(items, 3)
    assert len(capped) == 3 * len(FAMILIES) * 1 + 3 * len(REAL_SOURCES)
    assert {it.file for it in capped} == {it.file for it in dataset.cap_per_group(list(reversed(items)), 3)}


def test_deepfake_eval_logo_protocol(tmp_path, corpus, capsys):
    from detectors.evaluation import cli

    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.replace("MANIFEST", str(corpus)).replace("SPLIT", str(corpus / "split.json")))
    out = tmp_path / "report"
    code = cli.main([str(corpus), "--protocol", "logo", "--config", str(path), "--out", str(out), "--aug-draws", "0",
                     "--feature-cache", str(tmp_path / "cache"), "--quiet", "--no-progress"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["views"] == ["as-is", "jpeg90"] and len(report["folds"]) == len(FAMILIES)
    for view in ("as-is", "jpeg90"):
        assert {r["fold"] for r in report["tables"][view]["fused"]} == set(FAMILIES)
        assert report["baseline"][view]
        assert (out / f"roc_{view}.png").stat().st_size > 1000 and (out / f"reliability_{view}.png").is_file()
    text = capsys.readouterr().out
    assert "held-out family" in text and "metadata baseline" in text and "mean of 4" in text
    with pytest.raises(SystemExit):
        cli.main(["--protocol", "logo"])
