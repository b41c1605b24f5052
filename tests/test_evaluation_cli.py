"""End to end: ``deepfake-eval`` on a tiny generated folder, with stand-in detectors registered here.

The stand-ins score by brightness (images) and loudness (audio), so the expected metrics are
known without any trained model: fakes are generated bright / loud, reals dark / quiet.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from detectors import base
from detectors.base import Detector, Prepared
from detectors.evaluation import cli
from detectors.evaluation.dataset import items_from_folder, load_items, select
from detectors.media import load_audio, load_image
from detectors.schema import AnalysisResult, inconclusive_fields, verdict_fields
from tests.media_factory import tone

THRESHOLD = 0.5


class _StubImage(Detector):
    """p(fake) = mean brightness; images narrower than 40 px are inconclusive ("too small")."""

    modality = "image"

    def load(self) -> None:
        self._loaded = True

    def preprocess(self, ref, progress=base.no_progress) -> Prepared:
        rgb = load_image(ref.path, self.settings.max_image_pixels)
        return Prepared(ref, [rgb.astype(np.float32) / 255.0], payload={"width": rgb.shape[1]})

    def infer(self, inputs):
        return [float(x.mean()) for x in inputs]

    def postprocess(self, prepared, scores, **extra) -> AnalysisResult:
        if prepared.payload["width"] < 40:
            return AnalysisResult(media_type="image", model_used=self.name, **inconclusive_fields("too small"))
        return AnalysisResult(media_type="image", model_used=self.name, **verdict_fields(scores[0], THRESHOLD))


class _StubAudio(Detector):
    """p(fake) = clipped peak amplitude; clips shorter than 0.5 s are inconclusive but keep p."""

    modality = "audio"

    def load(self) -> None:
        self._loaded = True

    def preprocess(self, ref, progress=base.no_progress) -> Prepared:
        clip = load_audio(ref.path, self.settings.max_audio_seconds)
        return Prepared(ref, [clip.samples], payload={"duration": clip.duration})

    def infer(self, inputs):
        return [float(min(1.0, np.abs(x).max())) for x in inputs]

    def postprocess(self, prepared, scores, **extra) -> AnalysisResult:
        if prepared.payload["duration"] < 0.5:
            fields = inconclusive_fields("too short", fake_probability=scores[0])
            return AnalysisResult(media_type="audio", model_used=self.name, **fields)
        return AnalysisResult(media_type="audio", model_used=self.name, **verdict_fields(scores[0], THRESHOLD))


class _FormatOnlyImage(_StubImage):
    """The shortcut the re-encoded view exists to expose: p(fake) = 0.9 for PNG, 0.1 otherwise."""

    def preprocess(self, ref, progress=base.no_progress) -> Prepared:
        return Prepared(ref, [np.array([0.9 if ref.format == "png" else 0.1])], payload={"width": 100})


@pytest.fixture(scope="module", autouse=True)
def stub_detectors():
    if "eval-stub-image" not in base._REGISTRY:
        base.register("eval-stub-image")(_StubImage)
        base.register("eval-stub-audio")(_StubAudio)
        base.register("eval-format-only")(_FormatOnlyImage)
    yield


def _image(path: Path, level: int, size: int = 64, fmt: str = "PNG", seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = np.clip(level + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)


def _wav(path: Path, amplitude: float, seconds: float = 1.0) -> None:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    sig = tone(seconds, 16000)
    soundfile.write(str(path), sig / np.abs(sig).max() * amplitude, 16000, subtype="PCM_16")


@pytest.fixture()
def tiny_folder(tmp_path) -> Path:
    """image: 4 real (dark JPEG), 3 fake (bright PNG), 1 fake too small (inconclusive), 1 corrupt;
    audio: 3 real (quiet), 3 fake (loud), 1 fake too short (inconclusive, still scored)."""
    root = tmp_path / "data"
    for i in range(4):
        _image(root / "image" / "real" / "camA" / f"r{i}.jpg", 60 + 10 * i, fmt="JPEG", seed=i)
    for i in range(3):
        _image(root / "image" / "fake" / "ganB" / f"f{i}.png", 170 + 10 * i, seed=10 + i)
    _image(root / "image" / "fake" / "ganB" / "tiny.png", 200, size=20)
    (root / "image" / "fake" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    for i in range(3):
        _wav(root / "audio" / "real" / f"r{i}.wav", 0.2 + 0.05 * i)
        _wav(root / "audio" / "fake" / f"f{i}.wav", 0.7 + 0.1 * i)
    _wav(root / "audio" / "fake" / "short.wav", 0.9, seconds=0.3)
    return root


def test_folder_layout_parsing(tiny_folder):
    items = items_from_folder(tiny_folder)
    assert len(items) == 9 + 7
    by_file = {it.file: it for it in items}
    it = by_file["image/fake/ganB/f0.png"]
    assert (it.label, it.modality, it.kind, it.source) == (1, "image", "unknown", "ganB")
    assert by_file["image/fake/broken.png"].source == "unknown"
    assert by_file["audio/real/r0.wav"].label == 0


def test_manifest_parsing_and_selection(tmp_path):
    (tmp_path / "m.csv").write_text(
        "file,label,modality,kind,source_repo\n"
        "image/real/a.jpg,real,image,real-photo,s1\n"
        "image/fake/b.png,fake,image,gan-face,s2\n"
        "image/fake/c.png,fake,image,gan-face,s2\n"
        "audio/fake/d.wav,fake,audio,tts,s3\n"
    )
    items = load_items(tmp_path / "m.csv")
    assert [it.path for it in items][0] == tmp_path / "image/real/a.jpg"
    assert items[1].kind == "gan-face" and items[1].source == "s2" and items[1].label == 1
    split = {"image": {"train": ["s1"], "val": [], "test": ["s2"]}, "audio": {"train": [], "val": [], "test": ["s3"]}}
    assert [it.file for it in select(items, split, "test", modalities=["image"])] == ["image/fake/b.png",
                                                                                        "image/fake/c.png"]
    assert len(select(items, None, "all", limit_per_kind=1)) == 3


def test_end_to_end_on_a_tiny_folder(tiny_folder, tmp_path, capsys):
    out = tmp_path / "report"
    code = cli.main([str(tiny_folder), "--out", str(out), "--image-detector", "eval-stub-image",
                     "--audio-detector", "eval-stub-audio", "--bootstrap", "50", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "re-encoded" in printed and "AUC" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["primary_view"] == "reencoded" and report["views"] == ["original", "reencoded"]
    groups = {(g["view"], g["modality"], g["kind"]): g for g in report["groups"]}

    for view in ("original", "reencoded"):
        img = groups[(view, "image", "all")]
        assert img["files"] == 9
        assert img["errors"] == 1  # the corrupt PNG is an error row; the run went on
        assert img["inconclusive"] == 1 and img["inconclusive_excluded"] == 1  # no p: left out
        assert img["n_real"] == 4 and img["n_fake"] == 3
        assert img["auc"] == 1.0 and img["eer"] == 0.0 and img["accuracy"] == 1.0
        assert img["threshold"] == THRESHOLD
        assert img["auc_ci"] == [1.0, 1.0]
        assert img["seconds_per_file_mean"] > 0

        aud = groups[(view, "audio", "all")]
        assert aud["files"] == 7 and aud["errors"] == 0
        assert aud["inconclusive"] == 1 and aud["inconclusive_excluded"] == 0  # kept: it has a p
        assert aud["n_fake"] == 4 and aud["auc"] == 1.0

    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 16
    assert {r["error"] for r in rows if r["file"] == "image/fake/broken.png"} <= {"corrupt_media",
                                                                                   "reencode_corrupt_media"}
    for name in ("roc_image.png", "reliability_image.png", "roc_audio.png", "reliability_audio.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_kind_rows_use_all_reals_and_reencode_only(tmp_path, capsys):
    root = tmp_path / "data"
    rows = []
    for i in range(3):
        _image(root / f"r{i}.jpg", 40 + 20 * i, fmt="JPEG", seed=i)
        rows.append((f"r{i}.jpg", "real", "image", "real-photo", "cam"))
    for i, level in enumerate((200, 210)):  # gan faces: above every real
        _image(root / f"g{i}.png", level, seed=5 + i)
        rows.append((f"g{i}.png", "fake", "image", "gan-face", "gan"))
    for i, level in enumerate((50, 230)):  # diffusion: one below the reals' top
        _image(root / f"d{i}.png", level, seed=9 + i)
        rows.append((f"d{i}.png", "fake", "image", "diffusion", "diff"))
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "modality", "kind", "source_repo"])
        w.writerows(rows)
    split_file = tmp_path / "split.json"
    split_file.write_text(json.dumps({"image": {"train": [], "val": [], "test": ["cam", "gan", "diff"]}}))
    out = tmp_path / "rep"
    assert cli.main([str(manifest), "--split-file", str(split_file), "--out", str(out), "--reencode", "only",
                     "--image-detector", "eval-stub-image", "--bootstrap", "20", "--no-plots", "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["subset"] == "test" and report["views"] == ["reencoded"]
    groups = {g["kind"]: g for g in report["groups"]}
    assert groups["gan-face"]["n_real"] == 3 and groups["gan-face"]["n_fake"] == 2
    assert groups["gan-face"]["auc"] == 1.0
    # diffusion: 50 beats reals 40 only -> pairs won: 1 + 3 of 6
    assert groups["diffusion"]["auc"] == pytest.approx(4 / 6, abs=0.01)
    assert groups["real-photo"]["n_fake"] == 0 and groups["real-photo"]["auc"] is None  # NaN -> null
    assert groups["real-photo"]["accuracy"] == 1.0
    assert not list(out.glob("*.png"))


def test_split_subcommand(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    lines = ["file,label,modality,kind,source_repo"]
    for s in range(6):
        for label in ("real", "fake"):
            lines += [f"image/{label}/{s}_{i}.jpg,{label},image,x,src{s}" for i in range(3 + s)]
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "split.json"
    assert cli.main(["split", str(manifest), "--out", str(out), "--seed", "1", "--restarts", "10"]) == 0
    made = json.loads(out.read_text())
    parts = [set(made["image"][p]) for p in ("train", "val", "test")]
    assert set().union(*parts) == {f"src{s}" for s in range(6)}
    assert sum(len(p) for p in parts) == 6
    assert cli.main(["split", str(manifest), "--out", str(out)]) == 2  # no overwrite without --force


def test_bad_input_exits_2(tmp_path, capsys):
    assert cli.main([str(tmp_path / "nothing-here")]) == 2
    (tmp_path / "empty").mkdir()
    assert cli.main([str(tmp_path / "empty")]) == 2


def test_reencoded_view_defeats_a_format_only_detector(tiny_folder, tmp_path, capsys):
    out = tmp_path / "fmt"
    assert cli.main([str(tiny_folder), "--modality", "image", "--out", str(out), "--image-detector",
                     "eval-format-only", "--bootstrap", "0", "--no-plots", "--no-progress"]) == 0
    groups = {g["view"]: g for g in json.loads((out / "report.json").read_text())["groups"] if g["kind"] == "all"}
    assert groups["original"]["auc"] == 1.0  # fakes are PNG, reals JPEG: the container gives it away
    assert groups["reencoded"]["auc"] == 0.5  # every input is JPEG now: no signal left
