"""deepfake-data build on small git repositories made here: extraction at pinned commits, both glob
dialects, count checks, missing blobs, exact and near duplicates, grid/composite/watermark rules,
manifest, excluded.csv, data card, idempotence and resume."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectors.corpus import build as corpus_build
from detectors.corpus import caveats, phash
from detectors.corpus.catalogue import pathspec_match, shell_match

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

IV_HEADER = "repo,commit,path_glob,label,modality,kind,generator,n_files,total_mb,license,label_evidence\n"
AUDIO_HEADER = "repo,commit,path_glob,label,kind,generator,n_files,total_mb,license,label_evidence\n"


def _smooth(seed: int, w: int = 64, h: int = 64) -> np.ndarray:
    """A smooth random RGB picture (low frequencies: its pHash survives JPEG re-saving)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def _jpg(a: np.ndarray, q: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=q)
    return buf.getvalue()


def _wav(seed: int, seconds: float = 0.2, rate: int = 16000) -> bytes:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(int(seconds * rate)) * 3000).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(x.tobytes())
    return buf.getvalue()


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(repo), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def _make_repo(mirror: Path, name: str, files: dict[str, bytes], bare_layout: bool = True) -> str:
    """A repository with ``files`` committed; returns the commit. Layout as the fetcher makes it."""
    owner, repo = name.split("/")
    work = mirror / f"{owner}+{repo}" / "repo" if bare_layout else mirror / owner / repo
    work.mkdir(parents=True)
    _git(work, "init", "-q")
    for rel, data in files.items():
        p = work / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "media")
    return _git(work, "rev-parse", "HEAD")


def _drop_blob(mirror: Path, name: str, rel: str) -> None:
    """Delete one loose blob, as a snapshot that skipped a large file lacks it."""
    owner, repo = name.split("/")
    git_dir = mirror / f"{owner}+{repo}" / "repo" / ".git"
    blob = subprocess.run(["git", f"--git-dir={git_dir}", "rev-parse", f"HEAD:{rel}"], check=True,
                          capture_output=True, text=True).stdout.strip()
    (git_dir / "objects" / blob[:2] / blob[2:]).unlink()


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    mirror, catalogue, train, out = (tmp_path / d for d in ("mirror", "catalogue", "train", "out"))
    catalogue.mkdir()
    grid = np.concatenate([np.concatenate([_smooth(1), _smooth(2)], 1), np.concatenate([_smooth(3), _smooth(4)], 1)], 0)
    composite = np.concatenate([_smooth(10), _smooth(11), _smooth(12)], 1)  # real | real | generated
    marked = _smooth(20, 64, 80).copy()
    marked[70:, 40:] = 255  # a white "watermark" in the bottom band
    pic = _smooth(30)
    img_commit = _make_repo(mirror, "acme/gen", {
        "grids/g1.png": _png(grid),
        "comp/c1.png": _png(composite),
        "wm/w1.png": _png(marked),
        "pics/a.png": _png(pic),
        "pics/b.png": _png(pic),  # exact duplicate of a.png
        "pics/c.jpg": _jpg(pic, 85),  # near duplicate of a.png (JPEG re-save)
        "pics/d.png": _png(_smooth(31)),
        "pics/big.png": _png(_smooth(32)),  # will be "absent from the snapshot"
        "pics/sub/e.png": _png(_smooth(33)),  # shell glob pics/*.png must not match this
    })
    _drop_blob(mirror, "acme/gen", "pics/big.png")
    real_commit = _make_repo(mirror, "acme/photos", {f"r/{i}.jpg": _jpg(_smooth(100 + i)) for i in range(3)},
                             bare_layout=False)  # an <owner>/<name> clone
    audio_commit = _make_repo(mirror, "acme/tts", {
        "demo/gt/1.wav": _wav(1), "demo/gt/2.wav": _wav(2),
        "demo/yourtts/x/1.wav": _wav(3), "demo/yourtts/2.wav": _wav(4), "demo/yourtts/notes.txt": b"text",
    })
    (catalogue / "image_video.csv").write_text(
        IV_HEADER
        + f"acme/gen,{img_commit},grids/*.png,fake,image,diffusion,Stable Diffusion 1.5,1,0.1,MIT,grid\n"
        + f"acme/gen,{img_commit},comp/*.png,fake,image,faceswap,BlendFace,1,0.1,CC BY-NC-SA 4.0,composite\n"
        + f"acme/gen,{img_commit},wm/*.png,fake,image,diffusion,DALL-E 2,1,0.1,none,marked\n"
        + f"acme/gen,{img_commit},pics/*.*,fake,image,gan-face,StyleGAN2,6,0.1,NC,pics\n"  # 5 match: wrong count
        + f"acme/photos,{real_commit},r/*.jpg,real,image,real-photo,,3,0.1,CC0,photos\n"
    )
    (catalogue / "audio.csv").write_text(
        AUDIO_HEADER
        + f"acme/tts,{audio_commit},demo/gt/*.wav,real,real-speech,LibriTTS (bona fide),2,0.1,CC-BY-4.0,gt\n"
        + f"acme/tts,{audio_commit},demo/yourtts/*.wav,fake,voice-clone,YourTTS,2,0.1,none,yourtts\n"
    )
    train.mkdir()
    (train / "image" / "real").mkdir(parents=True)
    (train / "image" / "real" / "x_0001.jpg").write_bytes(_jpg(_smooth(200)))
    (train / "image" / "fake").mkdir(parents=True)
    (train / "image" / "fake" / "sdfd_0001.jpg").write_bytes(_jpg(_smooth(201)))
    with open(train / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "modality", "kind", "source_repo", "source_path", "source_commit", "license",
                    "label_evidence"])
        w.writerow(["image/real/x_0001.jpg", "real", "image", "real-photo", "someone/photos", "x.jpg", "0" * 40,
                    "CC0", "photo"])
        w.writerow(["image/fake/sdfd_0001.jpg", "fake", "image", "diffusion", "gebaltso/SDFD", "allImages/1.jpg",
                    "1" * 40, "none", "SD 2.1"])
    rules = (
        ("acme/gen", "grids/*.png", caveats._a("grid", "tile of 2x2 grid", rows=2, cols=2)),
        ("acme/gen", "comp/*.png", caveats._a("grid", "generated panel", rows=1, cols=3, select="cols:2")),
        ("acme/gen", "wm/*.png", caveats._a("crop", "watermark band cropped", crop_bottom=0.125)),
    )
    monkeypatch.setattr(caveats, "RULES", rules + caveats.RULES)
    return {"mirror": mirror, "catalogue": catalogue, "train": train, "out": out}


def _build(w: dict[str, Path], **kw: object) -> corpus_build.BuildReport:
    return corpus_build.build(w["mirror"], w["out"], w["catalogue"], w["train"], log=lambda _m: None, **kw)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_globs_two_dialects() -> None:
    assert shell_match("pics/a.png", "pics/*.png") and not shell_match("pics/sub/a.png", "pics/*.png")
    assert shell_match("img/Abc.webp", "img/[A-Zjr]*.webp") and not shell_match("img/abc.webp", "img/[A-Zjr]*.webp")
    assert pathspec_match("wavs/a/b.wav", "wavs/*.wav") and pathspec_match("wavs/x.wav", "wavs")
    assert not pathspec_match("other/x.wav", "wavs/*.wav")


def test_phash_near_and_far() -> None:
    a = _smooth(30, 128, 128)
    h1, h2, h3 = phash.phash_hex(_png(a)), phash.phash_hex(_jpg(a, 80)), phash.phash_hex(_png(_smooth(31, 128, 128)))
    assert phash.distance(h1, h2) <= phash.DEFAULT_THRESHOLD < phash.distance(h1, h3)


def test_build_manifest_decisions_and_exclusions(world: dict[str, Path]) -> None:
    report = _build(world)
    out = world["out"]
    rows = _rows(out / "manifest.csv")
    assert list(rows[0].keys())[:3] == ["file", "label", "modality"] and "decision" in rows[0]
    by_path: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        assert (out / r["file"]).is_file()
        by_path.setdefault(r["source_path"], []).append(r)
    # grid: four 64 px tiles, each its own row and file
    tiles = by_path["grids/g1.png"]
    assert len(tiles) == 4 and all(r["width"] == "64" and r["height"] == "64" for r in tiles)
    assert [r["decision"].split(" (")[0] for r in tiles] == [f"tile of 2x2 grid {i}/4" for i in range(1, 5)]
    assert all(r["family"] == "sd1" and r["group"] == "image_video:1" for r in tiles)
    # composite: only the generated (third) panel
    (panel,) = by_path["comp/c1.png"]
    assert panel["decision"].startswith("generated panel 1/1") and panel["family"] == "faceswap"
    with Image.open(out / panel["file"]) as im:
        assert np.abs(np.asarray(im.convert("RGB"), dtype=int) - _smooth(12).astype(int)).max() <= 2
    # watermark band cropped away
    (marked,) = by_path["wm/w1.png"]
    assert marked["height"] == "70" and "watermark" in marked["decision"] and marked["family"] == "dalle2"
    # exact duplicate, near duplicate, absent blob; sub-folder file not matched by the shell glob
    excluded = {e["source_path"]: e["reason"] for e in _rows(out / "excluded.csv")}
    assert excluded["pics/b.png"].startswith("duplicate of image/fake/acme+gen/pics/a.png")
    assert "near-duplicate of image/fake/acme+gen/pics/a.png" in excluded["pics/c.jpg"]
    assert excluded["pics/big.png"].startswith("missing from snapshot")
    assert "pics/sub/e.png" not in by_path and "pics/sub/e.png" not in excluded
    assert by_path["pics/a.png"][0]["decision"] == "kept" and "pics/d.png" in by_path
    # audio: pathspec '*' crosses '/', only audio extensions, family slug
    fakes = [r for r in rows if r["modality"] == "audio" and r["label"] == "fake"]
    assert sorted(r["source_path"] for r in fakes) == ["demo/yourtts/2.wav", "demo/yourtts/x/1.wav"]
    assert all(r["family"] == "yourtts" and r["sample_rate"] == "16000" for r in fakes)
    # reals from an <owner>/<name> clone, no family; shared/train merged with a family for its fake
    assert {r["family"] for r in rows if r["label"] == "real"} == {""}
    shared = [r for r in rows if r["group"] == "shared-train"]
    assert {(r["label"], r["family"]) for r in shared} == {("real", ""), ("fake", "sd2-sdxl-sd3")}
    # counts: the pics row matched 5 (one absent), catalogue says 6
    groups = {g["group"]: g for g in _rows(out / "groups.csv")}
    assert groups["image_video:4"]["status"] == "count 5 != n_files 6; 1 missing from snapshot"
    assert groups["image_video:1"]["status"] == "ok" and groups["audio:2"]["matched"] == "2"
    assert report.mismatches and report.written == len(rows)
    card = (out / "DATA_CARD.md").read_text()
    assert "Licence warning" in card and "Do not redistribute" in card
    assert "| image | fake | sd1 | 4 |" not in card and "| image | sd1 | 4 |" in card
    assert "near duplicate (pHash)" in card and "image_video:4" in card


def test_second_run_changes_nothing(world: dict[str, Path]) -> None:
    _build(world)
    out = world["out"]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and ".state" not in p.parts}
    report = _build(world)
    assert report.written == 0 and report.removed == 0 and report.reused == len(report.rows)
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and ".state" not in p.parts}
    assert after == before
    # a full re-hash agrees too
    assert _build(world, verify=True).written == 0


def test_interrupted_build_resumes(world: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = corpus_build.Builder._process

    def flaky(self: corpus_build.Builder, c: corpus_build.Candidate) -> None:
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        original(self, c)

    monkeypatch.setattr(corpus_build.Builder, "_process", flaky)
    with pytest.raises(KeyboardInterrupt):
        _build(world)
    out = world["out"]
    done = {p: p.stat().st_mtime_ns for p in out.rglob("*.png") if p.is_file()}
    assert done and not (out / "manifest.csv").exists()
    monkeypatch.setattr(corpus_build.Builder, "_process", original)
    report = _build(world)
    assert (out / "manifest.csv").is_file()
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # finished files not rewritten
    assert report.reused >= len(done) and report.written == len(report.rows) - report.reused


def test_stale_and_changed_files_are_repaired(world: dict[str, Path]) -> None:
    _build(world)
    out = world["out"]
    rows = _rows(out / "manifest.csv")
    victim = out / rows[-1]["file"]
    victim.write_bytes(b"damaged")
    stray = out / "image" / "fake" / "old.png"
    stray.write_bytes(b"x")
    report = _build(world)
    assert report.written == 1 and report.removed == 1 and not stray.exists()
    assert corpus_build.sha256_file(victim) == rows[-1]["sha256"]


def test_decision_classes_for_the_data_card() -> None:
    from detectors.corpus.datacard import decision_class, reason_class

    assert decision_class("tile of 2x2 grid 3/4 (512x512 at 512,0)") == "tile of 2x2 grid"
    assert decision_class("'AIGC' watermark band cropped (512x430 at 0,0; re-encoded)") == "'AIGC' watermark band cropped"
    assert reason_class("tile of grid 2/4 (64x64 at 0,0): near-duplicate of x.png (pHash distance 3)") == \
        "near duplicate (pHash)"
    assert reason_class("duplicate of a/b.wav") == "exact duplicate (sha256)"
