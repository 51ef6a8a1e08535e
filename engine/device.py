"""Device choice (cuda > mps > cpu), per-device precision, memory release, and the
host-memory check made before a large result is allocated."""
from __future__ import annotations

import contextlib
import gc

import psutil
import torch

from .errors import DeviceError, RestoraError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an explicit name must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no CUDA GPU is available; use --device cpu or auto")
    if name == "mps" and not _mps_available():
        raise DeviceError("MPS was requested but is not available on this machine; use --device cpu or auto")
    if name not in DEVICE_CHOICES:
        raise DeviceError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool = True):
    """Mixed precision for inference: fp16 on CUDA/MPS, bf16 on CPUs that run it natively."""
    if not enabled:
        return contextlib.nullcontext()
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_has_fast_bf16() -> bool:
    """True when oneDNN can use AVX-512 BF16 / AMX (otherwise bf16 is emulated and slow)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device out-of-memory error (CUDA, MPS, or the CPU allocator)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_memory(device: torch.device | None = None) -> None:
    """Drop cached allocations after an OOM or a finished job."""
    gc.collect()
    if device is not None and device.type == "cuda":
        torch.cuda.empty_cache()
    elif device is not None and device.type == "mps":
        torch.mps.empty_cache()


def ensure_host_memory(nbytes: int, what: str) -> None:
    """Raise RestoraError when `what` needs `nbytes` and less memory than that is available:
    a clear message before the work starts, not the system killing the process part-way."""
    available = psutil.virtual_memory().available
    if nbytes > available:
        raise RestoraError(f"{what} needs {nbytes / 2**30:.1f} GB of memory and only {available / 2**30:.1f} GB "
                           "is available: work on a selection or a smaller picture, or close other programs")
