"""The transformers path (image-hf): checkpoints the test saves itself, label mapping, calibration."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from detectors.calibration import Calibration
from detectors.image.hf import fake_label_ids
from tests.media_factory import write_image


def _save_vit(path, id2label: dict[int, str], processor: bool = True) -> None:
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    cfg = ViTConfig(
        image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=len(id2label), id2label=id2label, label2id={v: k for k, v in id2label.items()},
    )
    ViTForImageClassification(cfg).save_pretrained(path)
    if processor:
        ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)


def _save_resnet(path, id2label: dict[int, str]) -> None:
    import torch
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    cfg = ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=len(id2label), id2label=id2label,
        label2id={v: k for k, v in id2label.items()}, image_size=64,
    )
    ResNetForImageClassification(cfg).save_pretrained(path)


def _detector(settings, model_dir):
    from detectors.base import create

    s = settings.model_copy(update={"image_model": str(model_dir), "model_path": model_dir.parent / "no-models"})
    det = create("image-hf", settings=s)
    det.load()
    return det


@pytest.mark.parametrize(
    ("id2label", "fake"),
    [
        ({0: "real", 1: "fake"}, [1]),
        ({0: "Deepfake", 1: "Realism"}, [0]),
        ({0: "human", 1: "artificial"}, [1]),
        ({0: "LABEL_0", 1: "real"}, [0]),
        ({0: "bonafide", 1: "spoof"}, [1]),
        ({0: "real", 1: "gan", 2: "diffusion-ai"}, [2]),
        ({0: "not ai", 1: "ai generated"}, [1]),
    ],
)
def test_fake_label_from_config(id2label, fake):
    assert fake_label_ids(id2label) == fake


def test_fake_label_ambiguous_raises():
    with pytest.raises(ValueError, match="cannot tell"):
        fake_label_ids({0: "LABEL_0", 1: "LABEL_1"})


def test_vit_checkpoint_saved_by_the_test(tmp_path, settings):
    ckpt = tmp_path / "vit"
    _save_vit(ckpt, {0: "real", 1: "fake"})
    det = _detector(settings, ckpt)
    assert "uncalibrated" in det.model_used and "ViTForImageClassification" in det.model_used
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(3)]
    batch = det.infer(crops)
    single = [det.infer([c])[0] for c in crops]
    assert np.allclose(batch, single, atol=1e-4)
    # the logit is log p(fake) - log p(real), read from the model's own output
    import torch

    with torch.no_grad():
        logits = det.model(pixel_values=det._pixels(crops[:1])).logits[0]
    assert batch[0] == pytest.approx(float(logits[1] - logits[0]), abs=1e-5)

    img = write_image(tmp_path / "x.png", size=(200, 160))
    from detectors.media import make_media_ref

    res = det.analyze(make_media_ref(img))
    out = res.to_json_dict()
    assert out["mediaType"] == "image" and out["width"] == 200 and out["height"] == 160
    assert out["threshold"] == 0.5 and "uncalibrated" in out["modelUsed"]
    p_whole = 1 / (1 + np.exp(-det.infer(det.preprocess(make_media_ref(img)).model_inputs)[0]))
    assert out["components"][0]["fakeProbability"] == pytest.approx(p_whole, abs=1e-3)
    assert out["verdict"] in ("fake", "real")


def test_label_mapping_follows_config(tmp_path, settings):
    a, b = tmp_path / "a", tmp_path / "b"
    _save_vit(a, {0: "real", 1: "fake"})
    shutil.copytree(a, b)
    cfg = json.loads((b / "config.json").read_text())
    cfg["id2label"], cfg["label2id"] = {"0": "fake", "1": "real"}, {"fake": 0, "real": 1}
    (b / "config.json").write_text(json.dumps(cfg))
    crop = [np.full((224, 224, 3), 90, np.uint8)]
    sa, sb = _detector(settings, a).infer(crop)[0], _detector(settings, b).infer(crop)[0]
    assert sa == pytest.approx(-sb, abs=1e-5) and abs(sa) > 0


def test_calibration_json_beside_checkpoint(tmp_path, settings):
    ckpt = tmp_path / "resnet"
    _save_resnet(ckpt, {0: "FAKE", 1: "REAL"})  # no preprocessor config: ImageNet normalisation fallback
    Calibration(a=2.0, b=-1.0, threshold=0.7, fitted_on="a test").save(ckpt / "calibration.json")
    det = _detector(settings, ckpt)
    assert det.calibrated and "calibrated" in det.model_used and "uncalibrated" not in det.model_used
    assert det.fake_ids == [0]
    img = write_image(tmp_path / "y.jpg", size=(128, 128))
    from detectors.media import make_media_ref

    res = det.analyze(make_media_ref(img))
    assert res.threshold == 0.7
    s = det.infer(det.preprocess(make_media_ref(img)).model_inputs)
    assert res.fake_probability == pytest.approx(max(1 / (1 + np.exp(-(2 * v - 1))) for v in s), abs=1e-3)


def test_analyzer_uses_image_hf_when_image_model_is_set(tmp_path, settings):
    from detectors.pipeline import Analyzer

    ckpt = tmp_path / "vit"
    _save_vit(ckpt, {0: "real", 1: "fake"}, processor=False)
    s = settings.model_copy(update={"image_model": str(ckpt), "model_path": tmp_path / "none"})
    res = Analyzer(s).analyze_file(write_image(tmp_path / "z.bmp", size=(96, 96)), "image")
    assert res.model_used.startswith("image-hf") and res.processing_time > 0
