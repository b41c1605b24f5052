"""Each forensic feature on constructed inputs whose answer is known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from detectors.image import forensics as F


def scene(n: int = 512, seed: int = 0, noise: float = 5.0) -> np.ndarray:
    """A camera-like picture: smooth random shapes plus sensor noise (RGB uint8)."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.random((n // 8, n // 8, 3)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
    img = base * 180 + 30 + rng.normal(0, noise, (n, n, 1)) + rng.normal(0, noise / 3, (n, n, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg_file(rgb: np.ndarray, quality: int, path) -> np.ndarray:
    Image.fromarray(rgb).save(path, format="JPEG", quality=quality)
    return np.asarray(Image.open(path).convert("RGB"))


def test_double_jpeg_twice_vs_once(tmp_path):
    img = scene()
    once = tmp_path / "once.jpg"
    jpeg_file(img, 90, once)
    first = jpeg_file(img, 60, tmp_path / "first.jpg")
    twice = tmp_path / "twice.jpg"
    jpeg_file(first, 90, twice)
    s_once = F.double_jpeg(*F.read_jpeg_luma(str(once)))["double_jpeg"]
    s_twice = F.double_jpeg(*F.read_jpeg_luma(str(twice)))["double_jpeg"]
    assert s_once < 0.2
    assert s_twice > 0.4
    assert s_twice > 4 * s_once


def test_double_jpeg_needs_a_jpeg(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(scene(64)).save(path)
    assert F.read_jpeg_luma(str(path)) == (None, None)
    assert np.isnan(F.double_jpeg(None, None)["double_jpeg"])


@pytest.mark.parametrize("interp", [cv2.INTER_LINEAR, cv2.INTER_CUBIC])
def test_upsampled_2x_vs_not(interp):
    img = scene(512, seed=1)
    half = img[:256, :256]
    up = cv2.resize(half, (512, 512), interpolation=interp)
    native = F.periodicity(F.to_gray(img))
    upsampled = F.periodicity(F.to_gray(up))
    assert native["upsampling_replica"] < 0.08
    assert upsampled["upsampling_replica"] > 0.15
    assert abs(upsampled["upsampling_lag"] - 0.5) < 0.01  # period 2 px


def test_upsampling_also_lowers_high_frequencies():
    img = scene(512, seed=2)
    up = cv2.resize(img[:256, :256], (512, 512), interpolation=cv2.INTER_CUBIC)
    a, b = F.spectral_features(F.to_gray(img)), F.spectral_features(F.to_gray(up))
    assert b["hf_energy_ratio"] < a["hf_energy_ratio"] - 0.5
    assert b["spectral_slope"] < a["spectral_slope"]


def _paste_face(img: np.ndarray, box: tuple[int, int, int, int], seed: int = 3) -> np.ndarray:
    """Blend a smoother, re-rendered patch (another picture, down- and up-sampled) into ``box``."""
    x, y, w, h = box
    donor = scene(img.shape[0], seed=seed, noise=0.5)
    donor = cv2.resize(cv2.resize(donor, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA), img.shape[1::-1])
    mask = np.zeros(img.shape[:2], np.float32)
    cv2.ellipse(mask, (x + w // 2, y + h // 2), (int(w * 0.4), int(h * 0.48)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 6)[..., None]
    return np.clip(donor * mask + img * (1 - mask), 0, 255).astype(np.uint8)


def test_pasted_blended_face_vs_untouched():
    img = scene(512, seed=4)
    box = (176, 160, 160, 190)
    untouched = F.analyse(img, [box]).faces[0]
    pasted = F.analyse(_paste_face(img, box), [box]).faces[0]
    assert abs(untouched["face_noise_ratio"]) < 0.25
    assert abs(untouched["face_sharpness_ratio"]) < 0.25
    assert pasted["face_noise_ratio"] < -1.0  # far cleaner than its surroundings
    assert pasted["face_sharpness_ratio"] < -1.0


def test_jpeg_grid_strength_and_offset(tmp_path):
    img = scene(256, seed=5)
    comp = jpeg_file(img, 50, tmp_path / "g.jpg")
    raw = F.jpeg_grid(F.to_gray(img))
    grid = F.jpeg_grid(F.to_gray(comp))
    assert grid["jpeg_blockiness"] > raw["jpeg_blockiness"] + 0.5
    assert grid["jpeg_grid_misaligned"] == 0.0
    shifted = F.jpeg_grid(F.to_gray(comp[3:, 5:]))  # cropped after compression
    assert shifted["jpeg_grid_misaligned"] == 1.0


def test_error_level_lower_after_compression(tmp_path):
    img = scene(256, seed=6)
    comp = jpeg_file(img, 90, tmp_path / "e.jpg")
    assert F.error_level(comp)[0] < 0.7 * F.error_level(img)[0]


def test_edge_density_and_consistency():
    flat = np.tile(np.linspace(0, 255, 256, dtype=np.float32), (256, 1))
    checker = ((np.indices((256, 256)).sum(axis=0) // 16) % 2 * 200 + 20).astype(np.float32)
    assert F.edge_features(flat)["edge_density"] < 0.01
    assert F.edge_features(checker)["edge_density"] > 0.05
    # half sharp, half blurred edges: the sharpness differs between regions
    mixed = checker.copy()
    mixed[:, 128:] = cv2.GaussianBlur(checker, (0, 0), 3)[:, 128:]
    assert F.edge_features(mixed)["edge_strength_spread"] > F.edge_features(checker)["edge_strength_spread"] + 0.2


def test_colour_features():
    rng = np.random.default_rng(7)
    gray = np.repeat(scene(128, seed=7)[..., :1], 3, axis=2)
    assert F.colour_features(gray)["saturation_mean"] == 0.0
    base = cv2.GaussianBlur(rng.random((128, 128, 3)).astype(np.float32), (0, 0), 8) * 150 + 50
    shared = base + rng.normal(0, 6, (128, 128, 1))  # same fine detail in R, G, B (a camera's demosaicing)
    independent = base + rng.normal(0, 6, (128, 128, 3))
    c_shared = F.colour_features(np.clip(shared, 0, 255).astype(np.uint8))["channel_residual_corr"]
    c_indep = F.colour_features(np.clip(independent, 0, 255).astype(np.uint8))["channel_residual_corr"]
    assert c_shared > 0.8 and abs(c_indep) < 0.2


def test_noise_level_estimates_sigma():
    rng = np.random.default_rng(8)
    flat = np.full((256, 256), 128.0, np.float32) + rng.normal(0, 5.0, (256, 256)).astype(np.float32)
    assert F.texture_features(flat)["noise_level"] == pytest.approx(5.0, rel=0.2)
    patchy = flat.copy()
    patchy[:, :128] = 128.0 + rng.normal(0, 0.5, (256, 128))
    assert F.texture_features(patchy)["noise_spread"] > F.texture_features(flat)["noise_spread"] + 0.5


def test_analyse_large_image_uses_a_native_crop():
    img = cv2.resize(scene(512, seed=9), (1400, 1100), interpolation=cv2.INTER_NEAREST)
    rep = F.analyse(img)
    assert any("central 1024x1024" in n for n in rep.notes)
    assert set(rep.image) >= {"edge_density", "noise_level", "upsampling_replica", "double_jpeg", "error_level"}

