"""Where a model replica runs its models: CUDA when the replica has a GPU, else the CPU.

The batch size follows the device: a GPU wants large batches, the CPU small ones (latency).
Nothing here needs a GPU: ``select_device`` only asks torch whether one is visible. The torch
backbones (the Whisper encoder) move to ``Device.name``; the ONNX CLIP encoder runs on
``onnx_providers``: CUDA when the installed onnxruntime has it (the ``onnxruntime-gpu`` package),
else the CPU, with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

CPU_MAX_BATCH = 16
GPU_MAX_BATCH = 64

DeviceChoice = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class Device:
    """The device a replica uses and the largest batch of inputs it scores at once."""

    kind: Literal["cpu", "cuda"]
    name: str
    max_batch: int


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (False when torch has no CUDA build)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def select_device(choice: DeviceChoice = "auto", has_cuda: bool | None = None) -> Device:
    """``auto``: CUDA when there is one, else CPU; ``cuda`` without a GPU fails loudly."""
    cuda = cuda_available() if has_cuda is None else has_cuda
    if choice == "cuda" and not cuda:
        raise RuntimeError("DEVICE=cuda but no CUDA device is visible to this replica")
    if choice != "cpu" and cuda:
        return Device("cuda", "cuda:0", GPU_MAX_BATCH)
    return Device("cpu", "cpu", CPU_MAX_BATCH)


def onnx_providers(device: str, available: list[str] | None = None) -> list[str]:
    """onnxruntime execution providers for ``device`` ("cpu", "cuda:0"): CUDA first when asked for
    and present in this onnxruntime build, the CPU always as the fallback."""
    if not device.startswith("cuda"):
        return ["CPUExecutionProvider"]
    if available is None:
        import onnxruntime as ort

        available = list(ort.get_available_providers())
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    logging.getLogger("deepfake.device").warning(
        "a GPU is in use but this onnxruntime has no CUDA provider (install onnxruntime-gpu): CLIP runs on the CPU")
    return ["CPUExecutionProvider"]
