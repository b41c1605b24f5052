"""What every replica does first: settings, logging with secrets redacted, torch threads."""

from __future__ import annotations

from detectors.logs import setup_logging
from detectors.settings import Settings, get_settings


def replica_settings(uses_torch: bool = True) -> Settings:
    """The process-wide settings, logging set up; ``uses_torch``: set torch's threads deliberately
    (Ray sets OMP_NUM_THREADS=1 in replicas). The ingress passes False and never imports torch."""
    settings = get_settings()
    secrets = [settings.python_service_api_key.get_secret_value(), settings.secret_key.get_secret_value()]
    setup_logging(settings.log_level, settings.log_dir, secrets)
    if uses_torch:
        import torch

        torch.set_num_threads(settings.torch_threads)
    return settings


def release_freed_memory() -> None:
    """Hand the heap that loading freed (ONNX protos, state dicts read then copied) back to the OS,
    so a replica's resident size is what it holds, not what it once read. glibc only; else a no-op."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:
        pass
