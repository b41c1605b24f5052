"""The ``image-clip`` detector with a tiny stand-in stream (no weights), the model file's
round trip, the fusion's calibration, and the leave-one-family-out scoring."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from detectors.calibration import OperatingPoints, fit_operating_points, fit_platt
from detectors.evaluation import metrics
from detectors.image.streams import FaceCache, ForensicStream
from detectors.image.v2_model import V2Model
from detectors.training.probe import LinearProbe
from tests.test_image_v2_streams import TinyStream


def _probe(d: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, d))
    y = (X[:, 0] + 0.3 * rng.normal(size=40) > 0).astype(int)
    return LinearProbe(1.0).fit(X, y).to_dict()


def _model(tmp_path, whole_short: int = 0) -> tuple[V2Model, object]:
    tiny = TinyStream(crops=("centre",), face_cache=FaceCache(None), whole_short=whole_short)
    fo = ForensicStream(face_cache=FaceCache(None))
    m = V2Model()
    m.streams = {"tiny": {"name": tiny.name, "version": tiny.version, "crops": ["centre"], "faces": True,
                          "whole_short": whole_short},
                 "forensic": {"name": fo.name, "version": fo.version, "crops": ["centre"], "faces": True}}
    m.heads = {
        "tiny-whole": {"stream": "tiny", "keys": ["whole.t", "centre.t"], "fixed": False, "probe": _probe(12, 0)},
        "tiny-face": {"stream": "tiny", "keys": ["face_mean.t", "face_max.t"], "fixed": False, "probe": _probe(12, 1)},
        "forensic": {"stream": "forensic", "keys": ["image.forensic"], "fixed": False, "probe": _probe(19, 2)},
    }
    m.fusion_weights = {"tiny-whole": 0.7, "tiny-face": 0.5, "forensic": 0.2}
    m.fusion_bias = -0.1
    m.calibration = fit_platt(np.r_[np.linspace(-3, 1, 30), np.linspace(-1, 3, 30)], np.r_[np.zeros(30), np.ones(30)])
    m.operating_points = OperatingPoints(real_below=0.3, fake_above=0.7)
    m.meta = {"version": "test"}
    (tmp_path / "image" / "v2").mkdir(parents=True)
    m.save(tmp_path / "image" / "v2" / "image_v2.json")
    return m, tiny


@pytest.fixture()
def tiny_registered(monkeypatch):
    from detectors.image import streams

    streams.stream_factory("forensic")  # fills the registry
    monkeypatch.setitem(streams.STREAMS, "tiny", TinyStream)


def test_model_round_trip(tmp_path):
    m, _ = _model(tmp_path)
    again = V2Model.load(tmp_path / "image" / "v2" / "image_v2.json")
    s = {"tiny-whole": np.array([0.5, -1.0]), "tiny-face": np.array([0.0, 2.0]), "forensic": np.array([1.0, 1.0])}
    assert np.allclose(m.probability(s), again.probability(s))
    assert again.operating_points.fake_above == 0.7


@pytest.mark.parametrize("whole_short", [0, 128])
def test_detector_matches_the_model_on_an_image_without_faces(tmp_path, settings, tiny_registered, whole_short):
    """The service's path (detector) and the training path (stream features) give the same score,
    also with the whole view at equalised resolution."""
    from detectors.base import create
    from detectors.media import MediaRef

    m, tiny = _model(tmp_path, whole_short)
    yy, xx = np.mgrid[0:240, 0:320]
    rgb = np.stack([(xx * 7) % 256, (yy * 5) % 256, ((xx + yy) * 3) % 256], -1).astype(np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(rgb).save(path)
    det = create("image-clip", settings=settings, model_dir=tmp_path / "image")
    det.load()
    ref = MediaRef(path=str(path), media_type="image", format="png", size_bytes=path.stat().st_size)
    res = det.analyze(ref)
    assert "tiny-test" in res.model_used and (f"-s{whole_short}" in res.model_used) == bool(whole_short)
    # the same number from the model file and the streams directly
    f = tiny.features(path)
    fo = ForensicStream(face_cache=FaceCache(None)).features(path)
    assert f["meta.faces"][0] == 0, "the constructed image should have no face"
    scores = {h: m.head_score(h, {k: v[None] for k, v in (fo if h == "forensic" else f).items()}) for h in m.heads}
    p = float(m.probability(scores)[0])
    assert res.fake_probability == pytest.approx(p, abs=2e-3)
    assert res.verdict == m.operating_points.verdict(p) or res.verdict == "inconclusive"
    names = [c.name for c in res.components]
    assert any(n.startswith("image-level heads") for n in names) and "forensic" in names


def test_detector_face_crops_score_one_value_each(tmp_path, settings, tiny_registered):
    from detectors.base import create

    _model(tmp_path)
    det = create("image-clip", settings=settings, model_dir=tmp_path / "image")
    det.load()
    crops = [np.full((224, 224, 3), v, np.uint8) for v in (10, 200)]
    stack = np.stack([crops[0], crops[1]])
    out = det.infer([stack, crops[0], crops[1]])
    assert len(out) == 3 and all(np.isfinite(out))
    assert out[1] != out[2]


@pytest.mark.parametrize("face_weight", [0.5, 0.0])
def test_face_crops_go_to_the_model_only_when_a_face_head_reads_them(tmp_path, settings, tiny_registered, monkeypatch,
                                                                     face_weight):
    """A face head with fusion weight 0 is not run, so its crops are not sent (each is 150 kB between
    processes in the Serve graph); the face still appears in the result, with the image's score."""
    from detectors.base import create
    from detectors.faces import Face
    from detectors.media import MediaRef

    m, _ = _model(tmp_path)
    m.fusion_weights["tiny-face"] = face_weight
    m.save(tmp_path / "image" / "v2" / "image_v2.json")
    det = create("image-clip", settings=settings, model_dir=tmp_path / "image")
    det.load()
    monkeypatch.setattr(det.faces, "detect", lambda rgb: [Face(box=(100, 60, 80, 80), score=0.9)])
    rng = np.random.default_rng(0)
    path = tmp_path / "x.png"
    Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(path)
    ref = MediaRef(path=str(path), media_type="image", format="png", size_bytes=path.stat().st_size)
    prepared = det.preprocess(ref)
    assert len(prepared.model_inputs) == (2 if face_weight else 1)
    res = det.postprocess(prepared, det.infer(prepared.model_inputs))
    assert len(res.faces) == 1 and res.faces[0].box == (100, 60, 80, 80)
    if not face_weight:
        assert res.faces[0].fake_probability == round(res.fake_probability, 4)
        assert not any(c.name.startswith("face heads") for c in res.components)


def test_missing_model_file_says_how_to_train(tmp_path, settings):
    from detectors.base import create

    det = create("image-clip", settings=settings, model_dir=tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="deepfake-train image"):
        det.load()


def test_calibration_from_heldout_scores_is_calibrated():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    z = rng.normal(loc=np.where(y == 1, 1.5, -1.0), scale=1.3) * 3.0 + 2.0  # scaled and shifted logits
    cal = fit_platt(z[:2000], y[:2000])
    p = np.asarray(cal.probability(z[2000:]))
    assert metrics.ece(y[2000:], p) < 0.05
    ops = fit_operating_points(p, y[2000:], max_fpr=0.05, max_fnr=0.05)
    assert ops.real_below <= 0.5 <= ops.fake_above
    assert ops.measured["real_called_fake"] <= 0.06


def test_logo_scores_hold_out_families_and_sbi_sources():
    from detectors.evaluation.logo import logo_folds
    from detectors.image.v2_logo import HeadData, fold_rows, logo_scores, pooled_heldout

    rng = np.random.default_rng(0)
    rows, X = [], []
    for fam in ("a", "b", "c"):
        for _ in range(30):
            rows.append({"label": "fake", "family": fam, "kind": "gan", "source_repo": f"f/{fam}"})
            X.append(rng.normal(1.0, 1.0, 5))
    for src in ("r1", "r2", "r3", "r4", "r5"):
        for _ in range(20):
            rows.append({"label": "real", "family": "", "kind": "real-photo", "source_repo": f"r/{src}"})
            X.append(rng.normal(-1.0, 1.0, 5))
    X = np.array(X)
    y = np.array([1 if r["label"] == "fake" else 0 for r in rows])
    sbi_rows = [dict(rows[i], label="fake", family="self-blend") for i in range(90, 100)]
    Xs = rng.normal(0.5, 1.0, (10, 5))
    folds = logo_folds(rows, min_fakes=20, n_real_groups=3)
    data = {"h1": HeadData(np.vstack([X, Xs]), {"as-is": X, "jpeg90": X + 0.1}),
            "h2": HeadData(np.vstack([X[:, :2], Xs[:, :2]]), {"as-is": X[:, :2], "jpeg90": X[:, :2]})}
    res = logo_scores(data, np.r_[y, np.ones(10, int)], rows + sbi_rows, len(rows), folds,
                      Cs=(0.01, 0.1), log=lambda m: None)
    table = fold_rows(y, folds, res.scores["jpeg90"]["fused"], n_boot=20)
    assert [r["fold"] for r in table] == ["a", "b", "c"]
    assert all(r["auc"] > 0.8 for r in table)
    held = pooled_heldout(len(rows), folds, res.scores["as-is"]["h1"])
    assert np.isfinite(held[:90]).all()  # every fake was tested once


def test_extra_rows_leave_out_held_out_sources_and_same_kind_video_frames():
    """A fold trains on no self-blend of a real source it tests and no video frame of the kind of a
    family it holds out (video face swaps when image face swaps are held out)."""
    from detectors.evaluation.logo import logo_folds
    from detectors.image.v2_logo import extra_train

    rows = [{"label": "fake", "family": fam, "kind": "gan", "source_repo": f"f/{fam}"}
            for fam in ("faceswap", "stylegan") for _ in range(25)]
    rows += [{"label": "real", "family": "", "kind": "real-photo", "source_repo": f"r/{s}"} for s in "ab" for _ in range(20)]
    extra = [dict(rows[50], label="fake", family="self-blend"),  # made from real source r/a
             {"label": "fake", "family": "video:faceswap", "source_repo": "v/swap"},
             {"label": "fake", "family": "video:loopy", "source_repo": "v/loopy"},
             {"label": "real", "family": "", "source_repo": "v/real"}]
    folds = {f.name: f for f in logo_folds(rows, min_fakes=20, n_real_groups=2)}
    n = len(rows)
    swap, gan = folds["faceswap"], folds["stylegan"]
    assert "r/a" in swap.test_real_sources + gan.test_real_sources
    for fold in (swap, gan):
        got = set(extra_train(fold, rows + extra, n).tolist())
        assert (n in got) == ("r/a" not in fold.test_real_sources)
        assert (n + 1 in got) == (fold is gan)  # video face swaps only train when image face swaps do
        assert {n + 2, n + 3} <= got
