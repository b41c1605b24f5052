"""Where a model replica runs its models: CUDA when the replica has a GPU, else the CPU.

The batch size follows the device: a GPU wants large batches, the CPU small ones (latency).
Nothing here needs a GPU: ``select_device`` only asks torch whether one is visible.
"""

from __future__ import annotations

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
