"""``deepfake-train image`` (v2 recipe) end to end on a tiny generated corpus with a stand-in stream:
LOGO tables, the model file, held-out calibration and operating points, the card, and the
``image-clip`` detector loading what was written."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from detectors.image.v2_model import HeadSpec
from tests.media_factory import synthetic_face_image, write_video
from tests.test_image_v2_streams import TinyStream


def _corpus(root) -> None:
    rows = []
    rng = np.random.default_rng(0)
    for fam in ("gan-a", "diff-b", "diff-c"):
        for i in range(16):
            real = synthetic_face_image(160, 128, seed=int(rng.integers(1 << 30)))
            fake = cv2.resize(cv2.resize(real, (80, 64), interpolation=cv2.INTER_AREA), (160, 128))
            fake = np.clip(fake.astype(int) + 25, 0, 255).astype(np.uint8)  # a brighter 'generator'
            rel = f"image/fake/{fam}_{i:03d}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(fake).save(root / rel)
            rows.append({"file": rel, "label": "fake", "modality": "image", "kind": "gan", "source_repo": f"repo/{fam}",
                         "family": fam, "generator": fam})
    for src in range(5):
        for i in range(8):
            rel = f"image/real/r{src}_{i:03d}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(synthetic_face_image(160, 128, seed=1000 * src + i)).save(root / rel)
            rows.append({"file": rel, "label": "real", "modality": "image", "kind": "real-photo",
                         "source_repo": f"real/{src}", "family": "", "generator": ""})
    for label, source, fam in (("real", "vid/real", ""), ("fake", "vid/loopy", "loopy"), ("real", "real/0", "")):
        for i in range(2):  # the last two come from an image row's repository: no frames from them
            rel = f"video/{label}/{source.replace('/', '+')}_{i}.mp4"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            write_video(root / rel, seconds=1.0, with_audio=False)
            rows.append({"file": rel, "label": label, "modality": "video", "kind": "talking-head" if fam else "real-video",
                         "source_repo": source, "family": fam, "generator": fam, "sha256": f"{abs(hash(rel)):016x}"})
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[-1]), restval="")
        w.writeheader()
        w.writerows(rows)


@pytest.mark.slow
def test_v2_train_command_end_to_end(tmp_path, monkeypatch, settings):
    from detectors.base import create
    from detectors.image import streams, v2_model, v2_train
    from detectors.media import MediaRef
    from detectors.training.cli import main

    monkeypatch.setenv("DEEPFAKE_FEATURE_CACHE", str(tmp_path / "cache"))
    streams.stream_factory("forensic")
    monkeypatch.setitem(streams.STREAMS, "tiny", TinyStream)
    monkeypatch.setitem(v2_model.HEADS, "tiny-whole", HeadSpec("tiny", ("whole.t", "centre.t")))
    monkeypatch.setitem(v2_model.HEADS, "tiny-centre", HeadSpec("tiny", ("centre.t",)))
    monkeypatch.setitem(v2_train.STREAM_OPTIONS, "tiny", {"crops": ("centre",)})
    data = tmp_path / "corpus"
    _corpus(data)
    out = tmp_path / "models" / "image" / "v2"
    rc = main(["image", "--manifest", str(data / "manifest.csv"), "--out", str(out), "--heads", "tiny-whole,tiny-centre",
               "--train-view", "aug", "--sbi", "0", "--no-baselines", "--n-boot", "20", "--min-fakes", "10"])
    assert rc == 0
    model = json.loads((out / "image_v2.json").read_text())
    assert set(model["heads"]) == {"tiny-whole", "tiny-centre"}
    assert model["meta"]["n_video_frames"] == 16  # 4 videos x 4 frames; none from an image row's repository
    assert model["meta"]["groups"]["fake:video:loopy"] == 8 and model["meta"]["groups"]["real:vid/real"] == 8
    ops = model["operating_points"]
    assert ops["real_below"] <= 0.5 <= ops["fake_above"]
    assert "LOGO held-out" in ops["fitted_on"]
    tables = json.loads((out / "logo_tables.json").read_text())
    assert [r["fold"] for r in tables["jpeg90"]["fused"]] == ["diff-b", "diff-c", "gan-a"]
    assert "metadata only" in tables["as-is"]
    card = (tmp_path / "models" / "image" / "MODEL_CARD.md").read_text()
    assert "Leave-one-family-out" in card and "metadata only" in card and "plus 16 frames (real,fake)" in card
    det = create("image-clip", settings=settings, model_dir=tmp_path / "models" / "image")
    det.load()
    path = data / "image" / "fake" / "gan-a_000.png"
    res = det.analyze(MediaRef(path=str(path), media_type="image", format="png", size_bytes=path.stat().st_size))
    assert res.fake_probability is not None and 0.0 <= res.fake_probability <= 1.0


def test_content_balance_section_renders_each_variant_and_the_inner_choice(tmp_path):
    """The model card's content-confound section: a row per head variant, and the change the
    inner-fold choice ("auto") makes against the base probe, from the experiment's JSON."""
    import json

    from detectors.image.v2_card import content_balance_section

    assert content_balance_section(tmp_path / "absent.json") == []
    row = {"mean": 0.6, "min": 0.3, "per_fold": {}}
    strata = {"faces": {"auc": 0.41, "n_real": 5, "n_fake": 5}, "scenes": {"auc": None, "n_real": 0, "n_fake": 0}}
    table = {"h base": row, "h null16": {"mean": 0.65, "min": 0.46, "per_fold": {}}, "h auto": {"mean": 0.62, "min": 0.35, "per_fold": {}}}
    f = tmp_path / "cb.json"
    f.write_text(json.dumps({"n": 10, "table": {"as-is": table, "jpeg90": table},
                             "strata": {"jpeg90": {k: strata for k in table}}, "auto_pick": {"h": ["base", "null16"]}}))
    text = "\n".join(content_balance_section(f))
    assert "| h null16 | 0.650 (0.46) | 0.650 (0.46) | 0.410 | – |" in text
    assert "moves the JPEG q90 mean by +0.020 and the worst fold by +0.050 (picks per fold: base, null16)" in text


def test_resolution_view_section_renders_fronts_and_the_inner_picks(tmp_path):
    import json

    from detectors.image.v2_card import resolution_view_section

    assert resolution_view_section(tmp_path / "absent.json") == []
    row = {"mean": 0.7, "min": 0.4, "per_fold": {}}
    table = {"h front end as-is": {"mean": 0.64, "min": 0.3, "per_fold": {}}, "h front end short128": row,
             "h selected front end": row}
    chosen = {"h selected front end (inner criterion)": [{"front": "short128", "as-is": 0.6, "short128": 0.7},
                                                         {"front": "as-is", "as-is": 0.7, "short128": 0.6}],
              "h rule on all rows (inner criterion)": {"as-is": 0.61, "short128": 0.72}}
    f = tmp_path / "rv.json"
    f.write_text(json.dumps({"n": 10, "shorts": [128], "table": {"as-is": table, "jpeg90": table}, "chosen": chosen}))
    on = "\n".join(resolution_view_section(f, 128))
    assert "| h front end short128 | 0.700 (0.40) | 0.700 (0.40) | – | – |" in on
    assert "picks per fold: h: short128, as-is" in on and "**Adopted**" in on and "short sides 128 px" in on
    assert "every row (inner leave-one-family-out AUC per front end): h: as-is 0.610, short128 0.720." in on
    assert "Not used by this model" in "\n".join(resolution_view_section(f, 0))


def test_real_groups_section_marks_the_folds_pairing_and_ranks_real_sources(tmp_path):
    import json

    from detectors.image.v2_card import real_groups_section

    assert real_groups_section(tmp_path / "absent.json") == []
    out = {"folds": ["gan", "sd"], "groups": [["a/photos"], ["b/art", "c/faces"]],
           "auc": {"as-is": [[0.9, 0.4], [0.8, 0.6]], "jpeg90": [[0.9, 0.3], [0.7, 0.5]]},
           "per_source": {"jpeg90": {"a/photos": 0.8, "b/art": 0.35}}, "source_files": {"a/photos": 30, "b/art": 25, "c/faces": 5}}
    f = tmp_path / "real_groups.json"
    f.write_text(json.dumps(out))
    text = "\n".join(real_groups_section(f))
    assert "| held-out family | group 0 (30 reals) | group 1 (30 reals) | mean |" in text
    assert "| gan | **0.900** | 0.300 | 0.600 |" in text  # fold 0 is paired with group 0
    assert "| sd | 0.700 | **0.500** | 0.600 |" in text
    assert "| mean | 0.800 | 0.400 | 0.600 |" in text
    assert "lowest first; below 0.5: the probe finds that source's photos more fake than the fakes): b/art 0.35, a/photos 0.80." in text


def test_video_frames_section_renders_each_training_set(tmp_path):
    import json

    from detectors.image.v2_card import video_frames_section

    assert video_frames_section(tmp_path / "absent.json") == []

    def variant(card_q90: dict, grid: float) -> dict:
        v = list(card_q90.values())
        row = {"mean": sum(v) / len(v), "min": min(v), "per_fold": card_q90}
        return {"card": {"as-is": row, "jpeg90": row}, "grid": {"jpeg90": {"mean": grid, "rows": []}}}

    out = {"frames": {"real": 8, "fake": 4, "real_sources": ["a", "b"], "fake_families": ["video:x"]}, "folds": ["gan", "sd"],
           "variants": {"shipped procedure": variant({"gan": 0.5, "sd": 0.7}, 0.6),
                        "+ real and fake frames": variant({"gan": 0.6, "sd": 0.9}, 0.7)}}
    f = tmp_path / "video_frames.json"
    f.write_text(json.dumps(out))
    text = "\n".join(video_frames_section(f))
    assert "12 frames (4 per video)" in text and "8 real from 2 repositories, 4 fake from 1 generator families" in text
    assert "| shipped procedure | 0.600 (0.500) | 0.600 (0.500) | 0.600 | 0.500 | 0.700 |" in text
    assert "| + real and fake frames | 0.750 (0.600) | 0.750 (0.600) | 0.700 | 0.600 | 0.900 |" in text


def test_equalised_variants_section_renders_what_exists(tmp_path):
    """The card's not-adopted variants: block probes with their per-fold picks, the multi-scale table,
    the cap-600 means from its LOGO tables ...; each part only when its result file is in the folder."""
    import json

    from detectors.image.v2_card import equalised_variants_section

    assert equalised_variants_section(tmp_path) == []
    row = {"mean": 0.71, "min": 0.3, "per_fold": {}}
    blocks = tmp_path / "block_probe.json"
    blocks.write_text(json.dumps({"n": 10, "table": {"as-is": {"block 9": row}, "jpeg90": {"block 9": row}},
                                  "chosen": {"block chosen by inner criterion": [{"fold": "a", "pick": "block 9"}]}}))
    fold = {"fold": "a", "auc": 0.64, "eer": 0.4, "n_real": 5, "n_fake": 5}
    cap = tmp_path / "cap600_logo_tables.json"
    cap.write_text(json.dumps({"jpeg90": {"fused": [fold], "clip-whole-proj": [fold]}}))
    raw0 = {"mean": 0.70, "min": 0.40, "per_fold": {}}
    text = "\n".join(equalised_variants_section(tmp_path))
    assert "| block 9 | 0.710 (0.30) | 0.710 (0.30) | – | – |" in text and "(picks: block 9)" in text
    assert "fused 0.640 (0.640); clip-whole-proj 0.640 (0.640)" in text
    assert "Several resolutions" not in text and "face condition" not in text
    (tmp_path / "cap_refold.json").write_text(json.dumps({"table": {"jpeg90": {"trained on cap 300": raw0, "trained on cap 600": raw0}}}))
    text = "\n".join(equalised_variants_section(tmp_path))
    assert "trained on cap 300 0.700 (0.400); trained on cap 600 0.700 (0.400)" in text
    fn = tmp_path / "face_norm.json"
    raw, cen = {"mean": 0.70, "min": 0.40, "per_fold": {}}, {"mean": 0.71, "min": 0.39, "per_fold": {}}
    fn.write_text(json.dumps({"n": 10, "table": {c: {"proj raw": raw, "proj centre": cen} for c in ("as-is", "jpeg90")},
                              "chosen": {"inner": [{"fold": "a", "raw": 0.60, "centre": 0.62, "z": 0.61},
                                                   {"fold": "b", "raw": 0.70, "centre": 0.69, "z": 0.68}]}}))
    text = "\n".join(equalised_variants_section(tmp_path))
    assert "centred: +0.010 on the mean, -0.010 on the worst fold" in text
    assert "prefers a normalised score in 1 of 2 folds, by 0.020 at most" in text
    pf = tmp_path / "paired_sources.json"
    pf.write_text(json.dumps({"n": 10, "paired": ["a/b", "c/d"], "table": {c: {"proj paired x1": raw} for c in ("as-is", "jpeg90")},
                              "inner_criterion": {"paired x1": [0.6, 0.8], "paired only": [0.5, 0.5]}}))
    text = "\n".join(equalised_variants_section(tmp_path))
    assert "Rows of the 2 repositories with both labels" in text and "paired x1 0.700, paired only 0.500" in text
    nf = tmp_path / "nuisance_projection.json"
    nf.write_text(json.dumps({"n": 10, "chosen": [{"fold": "a", "pick": [2, "both"]}],
                              "table": {c: {"proj, no projection": raw, "proj, minus 2 both directions": cen,
                                            "proj, minus 4 both directions": cen} for c in ("as-is", "jpeg90")}}))
    text = "\n".join(equalised_variants_section(tmp_path))
    assert "(picks: 2 both)" in text and "| proj, minus 2 both directions | 0.710 (0.39) |" in text
    assert "minus 4 both" not in text
    fe = tmp_path / "face_expert.json"
    fe.write_text(json.dumps({"n": 10, "with_face": {"real": 3, "fake": 4}, "chosen": [{"fold": "a", "pick": "global"}],
                              "table": {c: {"global": raw, "experts": cen} for c in ("as-is", "jpeg90")}}))
    text = "\n".join(equalised_variants_section(tmp_path))
    assert "(3 reals and 4 fakes have one)" in text and "(picks: global)" in text and "| experts | 0.710 (0.39) |" in text
    (tmp_path / "mlp_probe.json").write_text(json.dumps({"n": 10, "chosen": [{"fold": "a", "pick": "linear"}],
                                                         "table": {c: {"mlp": cen} for c in ("as-is", "jpeg90")}}))
    text = "\n".join(equalised_variants_section(tmp_path))
    assert "### A small MLP" in text and "(picks: linear)" in text and "| mlp | 0.710 (0.39) |" in text
