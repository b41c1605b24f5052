"""The recipes: one per modality, the same steps in one process and in the graph; each named-model
call goes through the ``ModelClient``; a host loads no backbone; the device choice without CUDA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tests.standin_detectors  # noqa: F401  (registers the stand-ins)
from deployments.models import count_inputs, score_requests
from detectors.pipeline import Analyzer
from detectors.recipes.device import select_device
from detectors.recipes.models import LocalModels, WhisperLayersOf, only_layers
from detectors.settings import Settings
from detectors.video.v2_features import WHISPER_STATES
from tests.media_factory import write_audio, write_image, write_video

STANDINS = {"image_detector": "image-standin", "audio_detector": "audio-standin", "video_detector": "video-standin"}


class CountingModels(LocalModels):
    """LocalModels that keep a log of every named-model call (name, number of inputs)."""

    def __init__(self, analyzer: Analyzer) -> None:
        super().__init__(analyzer.detector)
        self.calls: list[tuple[str, int]] = []

    def scores(self, model, inputs):
        self.calls.append((model, len(inputs)))
        return super().scores(model, inputs)


@pytest.fixture()
def analyzer(tmp_path) -> tuple[Analyzer, CountingModels]:
    an = Analyzer(Settings(environment="test", upload_folder=tmp_path, **STANDINS))
    models = CountingModels(an)
    an.models = models
    return an, models


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("recipe-media")
    return {"image": write_image(d / "i.png", size=(96, 64)), "audio": write_audio(d / "a.wav", seconds=3.0),
            "video": write_video(d / "v.mp4", seconds=2.0, size=(96, 64))}


@pytest.mark.parametrize("kind", ["image", "audio"])
def test_one_model_call_per_request_and_monotonic_progress(analyzer, media, kind):
    an, models = analyzer
    events: list[tuple[str, float]] = []
    result = an.analyze_file(media[kind], kind, progress=lambda s, f, e: events.append((s, f)))
    assert result.media_type == kind
    assert [m for m, _ in models.calls] == [kind]  # all of the file's inputs in one call
    fractions = [f for _, f in events]
    assert fractions == sorted(fractions) and 0.0 <= fractions[0] and fractions[-1] <= 1.0
    assert events[-1][0] == "aggregating"


def test_the_video_recipe_scores_crops_and_the_sound_track(analyzer, media):
    an, models = analyzer
    events: list[str] = []
    result = an.analyze_file(media["video"], "video", progress=lambda s, f, e: events.append(s))
    assert [m for m, _ in models.calls] == ["image", "audio"]
    assert result.audio_track is not None and result.audio_track.media_type == "audio"
    assert {"video_temporal", "video_faces_scored", "video_audio", "aggregating"} <= set(events)


def test_detector_analyze_is_the_recipe(analyzer, media):
    an, _ = analyzer
    det = an.detector("video")
    alone = det.analyze(__import__("detectors.media", fromlist=["x"]).make_media_ref(media["video"], "video"))
    piped = an.analyze_file(media["video"], "video")
    assert alone.fake_probability == piped.fake_probability
    assert alone.audio_track is not None and piped.audio_track is not None


def test_model_batches_count_inputs_and_split_back():
    class Sum:
        def infer(self, inputs):
            return [float(np.sum(x)) for x in inputs]

    reqs = [[np.ones(2)], [np.ones(3), np.zeros(1)], []]
    assert count_inputs(reqs) == 3
    assert score_requests(Sum(), reqs) == [[2.0], [3.0, 0.0], []]


def test_device_is_the_cpu_without_cuda():
    d = select_device("auto", has_cuda=False)
    assert (d.kind, d.name) == ("cpu", "cpu") and d.max_batch == 16
    assert select_device("auto", has_cuda=True).kind == "cuda"
    assert select_device("cpu", has_cuda=True).kind == "cpu"
    with pytest.raises(RuntimeError, match="no CUDA device"):
        select_device("cuda", has_cuda=False)
    assert select_device("auto").kind == "cpu"  # this machine has no GPU (CPU torch)


def test_onnx_providers_put_clip_on_cuda_only_when_onnxruntime_has_it(caplog):
    from detectors.recipes.device import onnx_providers

    assert onnx_providers("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert onnx_providers("cuda:0", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider", "CPUExecutionProvider"]
    with caplog.at_level("WARNING"):
        assert onnx_providers("cuda:0", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert "install onnxruntime-gpu" in caplog.text
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]  # this onnxruntime, no GPU asked for


def test_local_models_put_their_own_backbones_on_the_chosen_device(monkeypatch):
    """Video-v2's own Whisper encoder (no audio-whisper detector to share) goes where ``DEVICE`` says."""
    from detectors.audio import v2_streams
    from detectors.recipes import models

    made = []

    class Recorded(v2_streams.WhisperLayers):
        def load(self):
            made.append(self.device)
            self.encoder = object()

    monkeypatch.setattr(v2_streams, "WhisperLayers", Recorded)
    monkeypatch.setattr(models, "select_device", lambda choice: select_device(choice, has_cuda=True))
    local = models.LocalModels(lambda modality: None, device="auto")
    local.whisper()
    assert made == ["cuda:0"]
    local = models.LocalModels(lambda modality: None, device="cpu")
    local.whisper()
    assert made == ["cuda:0", "cpu"]


def test_an_image_host_holds_no_backbone():
    from detectors.base import create
    from detectors.errors import ModelNotReadyError

    det = create("image-default", settings=Settings(environment="test"))
    if not (det.model_dir / "head.npz").exists():
        pytest.skip(f"no trained image-default model in {det.model_dir}")
    det.load_part("host")
    assert det.model is None and det.head is not None and "image-default" in det.model_used
    with pytest.raises(ModelNotReadyError):
        det.infer([np.zeros((224, 224, 3), np.uint8)])


def test_hosts_load_on_a_cpu_node_when_the_models_are_told_to_use_cuda():
    """DEVICE=cuda is for the model replicas: a host part (the Analysis replica, on a CPU node) holds
    no backbone and must load; the model part fails loudly without a GPU."""
    from detectors.base import create

    settings = Settings(environment="test", device="cuda")
    for name, weights in (("image-clip", "v2/image_v2.json"), ("audio-whisper", "audio_whisper.json")):
        det = create(name, settings=settings)  # model_dir: models/image, models/audio/whisper
        if not (det.model_dir / weights).exists():
            pytest.skip(f"no trained {name} model in {det.model_dir}")
        det.load_part("host")
        assert det.loaded
    with pytest.raises(RuntimeError, match="no CUDA device"):
        create("audio-whisper", settings=settings).load_part("model")


def test_a_video_v2_host_sends_its_backbone_calls_to_the_models():
    from detectors.base import create

    det = create("video-v2", settings=Settings(environment="test"))
    if not (det.model_dir / "v2_fusion.json").exists():
        pytest.skip(f"no trained video-v2 fusion in {det.model_dir}")

    class Client:
        def scores(self, model, inputs):
            return [0.0] * len(inputs)

        def embed(self, images):
            raise AssertionError("not called here")

        def states(self, samples, upto=None):
            raise AssertionError("not called here")

    client = Client()
    det.load_part("host", client)
    assert det.analyser is not None and det.analyser.clip is client
    whisper = det.analyser.whisper
    assert isinstance(whisper, WhisperLayersOf) and whisper.models is client and whisper.keep == WHISPER_STATES


def test_only_the_layers_read_are_kept():
    states = [np.full((3, 2), i, np.float32) for i in range(5)]
    out = only_layers(states, (2, 4))
    assert [s.shape for s in out] == [(0, 2), (0, 2), (3, 2), (0, 2), (3, 2)]
    assert out[4][0, 0] == 4 and only_layers(states, None) is states

    class Client:
        def states(self, samples, upto=None, keep=None):
            return [("upto", upto, "keep", keep)]

    assert WhisperLayersOf(Client(), (2, 4)).states(np.zeros(10)) == [("upto", 4, "keep", (2, 4))]


def test_prepare_steps_of_one_detector_never_overlap(analyzer, media):
    """A serving replica runs several recipes in threads; a detector's prepare keeps state (OpenCV
    cascades, silero VAD) that must not be shared by two threads at once."""
    import threading
    import time

    an, _ = analyzer
    det = an.detector("image")
    inside, worst = [0], [0]
    real = det.preprocess

    def guarded(ref, progress):
        inside[0] += 1
        worst[0] = max(worst[0], inside[0])
        time.sleep(0.05)
        inside[0] -= 1
        return real(ref, progress)

    det.preprocess = guarded
    threads = [threading.Thread(target=an.analyze_file, args=(media["image"], "image")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert worst[0] == 1


def test_an_image_clip_host_loads_no_backbone():
    from detectors.base import create
    from detectors.image.clip_detector import MODEL_SUBDIR
    from detectors.image.v2_model import MODEL_FILE

    det = create("image-clip", settings=Settings(environment="test"))
    if not (det.model_dir / MODEL_SUBDIR / MODEL_FILE).exists():
        pytest.skip(f"no trained image-clip model in {det.model_dir / MODEL_SUBDIR}")
    det.load_part("host")
    assert det.streams and all(getattr(s, "session", None) is None for s in det.streams.values())
    assert det.model_used.startswith("image-clip")
