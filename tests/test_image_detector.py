"""image-default end to end: the committed weights, verdicts, faces, inconclusive cases."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from detectors.faces import FaceDetector
from detectors.image.prepare import prepare_rgb
from detectors.media import make_media_ref
from detectors.settings import DEFAULT_MODEL_PATH
from tests.media_factory import synthetic_face_image, write_image

pytestmark = pytest.mark.skipif(
    not (DEFAULT_MODEL_PATH / "image" / "head.npz").exists(), reason="no trained image model in models/image"
)


@pytest.fixture(scope="module")
def det():
    from detectors.base import create
    from detectors.settings import Settings

    d = create("image-default", settings=Settings(environment="test"))
    d.load()
    return d


def test_result_fields_and_components(det, tmp_path):
    path = write_image(tmp_path / "a.png", size=(300, 200), seed=1)
    res = det.analyze(make_media_ref(path, "image"))
    out = res.to_json_dict()
    assert out["mediaType"] == "image" and (out["width"], out["height"]) == (300, 200)
    assert out["verdict"] in ("fake", "real") and 0.0 <= out["fakeProbability"] <= 1.0
    p, thr = out["fakeProbability"], out["threshold"]
    assert out["isDeepfake"] == (p >= thr)
    assert out["confidence"] == pytest.approx(100 * (p if p >= thr else 1 - p), abs=0.06)
    assert out["modelUsed"].startswith("image-default")
    names = [c["name"] for c in out["components"]]
    assert names == ["mobilenetv2-head:whole-image", "mobilenetv2-head:faces", "forensic-features"]
    assert out["components"][0]["used"] and out["components"][0]["weight"] >= 0
    for a in out["anomalies"]:
        assert a["severity"] in ("low", "medium", "high") and a["description"]


def test_deterministic_and_batched(det, tmp_path):
    path = write_image(tmp_path / "b.jpg", size=(256, 256), seed=2)
    ref = make_media_ref(path, "image")
    r1, r2 = det.analyze(ref), det.analyze(ref)
    assert r1.fake_probability == r2.fake_probability
    crops = det.preprocess(ref).model_inputs + [synthetic_face_image(224, 224, seed=3)]
    batch = det.infer(crops)
    assert np.allclose(batch, [det.infer([c])[0] for c in crops], atol=1e-4)
    with pytest.raises(ValueError, match="224x224x3"):
        det.infer([np.zeros((100, 100, 3), np.uint8)])


@pytest.mark.parametrize(
    ("size", "fill", "reason"),
    [((40, 40), None, "too little detail"), ((200, 200), 128, "almost uniform")],
)
def test_inconclusive_with_a_reason(det, tmp_path, size, fill, reason):
    arr = synthetic_face_image(*size) if fill is None else np.full((size[1], size[0], 3), fill, np.uint8)
    path = tmp_path / "c.png"
    Image.fromarray(arr).save(path)
    res = det.analyze(make_media_ref(path, "image"))
    assert res.verdict == "inconclusive" and reason in res.verdict_reason and res.confidence == 0.0


def _two_faces(shared_data) -> np.ndarray:
    from detectors.media import load_image

    with open(shared_data / "manifest.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["file"].startswith("image/real/eyesr_")]
    a, b = (load_image(shared_data / rows[i]["file"], 10**7) for i in (0, 1))
    return np.concatenate([a, b], axis=1)


def test_a_result_per_face(det, shared_data, tmp_path):
    img = _two_faces(shared_data)
    path = tmp_path / "two.png"
    Image.fromarray(img).save(path)
    res = det.analyze(make_media_ref(path, "image"))
    assert len(res.faces) == 2
    xs = sorted(f.box[0] for f in res.faces)
    assert xs[0] < img.shape[1] // 2 <= xs[1]
    for f in res.faces:
        assert 0 <= f.fake_probability <= 1 and f.is_deepfake == (f.fake_probability >= det.face_threshold)
    assert res.components[1].used


def test_faces_are_capped_and_the_cap_is_reported(shared_data):
    img = _two_faces(shared_data)
    fd = FaceDetector()
    inputs, ev = prepare_rgb(np.concatenate([img, img], axis=1), fd, max_faces=2)
    assert ev.faces_found == 4 and len(ev.faces) == 2 and len(inputs) == 3
    assert any("4 faces found" in n for n in ev.notes)
