"""Image v2 views on constructed images: native crops where they should be, whole-image resize,
face crops, pooling, and the ``aug`` / ``sbi`` training views."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from detectors.faces import Face
from detectors.image.views import aug_view, augment_chain, make_views, native_crop, pool, sbi_view


def _coords(h=300, w=400):
    """An image whose pixel (y, x) encodes its position: R = y % 256, G = x % 256, B = x // 256."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([yy % 256, xx % 256, xx // 256], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("where,y0,x0", [("centre", 38, 88), ("tl", 0, 0), ("tr", 0, 176), ("bl", 76, 0), ("br", 76, 176)])
def test_native_crops_are_unresampled_windows(where, y0, x0):
    rgb = _coords()
    c = native_crop(rgb, where)
    assert c.shape == (224, 224, 3)
    assert int(c[0, 0, 0]) == y0 % 256 and int(c[0, 0, 1]) == x0 % 256
    assert np.array_equal(c, rgb[y0 : y0 + 224, x0 : x0 + 224])


def test_small_image_is_scaled_up_for_native_crops():
    c = native_crop(_coords(100, 150), "centre")
    assert c.shape == (224, 224, 3)


def test_make_views_whole_crops_faces():
    rgb = _coords()
    face = Face(box=(150, 100, 80, 90), score=1.0, landmarks=None)
    v = make_views(rgb, [face, face, face, face], crops=("centre", "br"), max_faces=3)
    assert v.whole.shape == (224, 224, 3) and v.width == 400 and v.height == 300
    assert list(v.crops) == ["centre", "br"]
    assert len(v.faces) == 3 and v.face_boxes[0] == (150, 100, 80, 90)
    names, inputs = v.batch()
    assert names == ["whole", "centre", "br", "face0", "face1", "face2"] and len(inputs) == 6


def test_pool_mean_max_and_absent():
    mean, mx = pool([np.array([0.0, 2.0]), np.array([2.0, 0.0])], 2)
    assert mean.tolist() == [1.0, 1.0] and mx.tolist() == [2.0, 2.0]
    mean, mx = pool([], 3)
    assert np.isnan(mean).all() and np.isnan(mx).all() and mean.shape == (3,)


def test_augment_chain_varies_size_and_container():
    rgb = _coords(512, 512)
    rng = np.random.default_rng(0)
    fmts, sizes = set(), set()
    for _ in range(40):
        out, fmt, _ = augment_chain(rgb, rng)
        fmts.add(fmt)
        sizes.add(out.shape[:2])
        assert out.dtype == np.uint8 and out.ndim == 3
    assert {"JPEG", "WEBP", "PNG"} <= fmts
    assert len(sizes) > 10


def test_aug_view_writes_a_decodable_file(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(_coords()).save(src)
    out = aug_view(src, tmp_path, np.random.default_rng(1))
    assert out.exists() and out.parent == tmp_path
    with Image.open(out) as im:
        assert im.size[0] >= 16


def test_sbi_view_needs_a_face(tmp_path):
    src = tmp_path / "noface.png"
    Image.fromarray(np.full((128, 128, 3), 120, np.uint8)).save(src)
    with pytest.raises(ValueError, match="no face"):
        sbi_view(src, tmp_path, np.random.default_rng(0))


def test_equalise_resolution_downscales_and_recompresses():
    from detectors.image.views import equalise_resolution, whole_view

    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (600, 900, 3), dtype=np.uint8)
    small = rng.integers(0, 256, (100, 150, 3), dtype=np.uint8)
    eb, es = equalise_resolution(big, 128), equalise_resolution(small, 128)
    assert eb.shape == (128, 192, 3) and eb.dtype == np.uint8
    assert es.shape == small.shape and not np.array_equal(es, small)  # not resized, but JPEG-compressed
    # a sharp and a blurred copy of the same scene reach the backbone far more alike than as they are
    sharp = np.kron(rng.integers(0, 256, (60, 90, 3)), np.ones((10, 10, 1))).astype(np.uint8)
    blurred = cv2.resize(cv2.resize(sharp, (135, 90), interpolation=cv2.INTER_AREA), (900, 600), interpolation=cv2.INTER_CUBIC)
    plain = np.abs(whole_view(sharp).astype(float) - whole_view(blurred)).mean()
    equal = np.abs(whole_view(sharp, 128).astype(float) - whole_view(blurred, 128)).mean()
    assert whole_view(sharp, 128).shape == (224, 224, 3) and equal < 0.6 * plain


def test_stream_version_names_the_equalised_view():
    from detectors.image.streams import FaceCache, ImageStream

    assert ImageStream(crops=(), faces=False, face_cache=FaceCache(None)).version == "1-cnone-f0"
    assert ImageStream(crops=(), faces=False, face_cache=FaceCache(None), whole_short=128).version == "1-cnone-f0-s128"
