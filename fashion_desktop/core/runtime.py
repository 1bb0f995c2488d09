"""Where torch runs: device choice and thread count."""

from __future__ import annotations

import os
import threading

import torch

from fashion_desktop.core.config import normalize_device
from fashion_desktop.core.errors import ConfigError


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` takes a CUDA GPU, then Apple's MPS, then the CPU; an unknown or unavailable choice is a clear error.

    The device is returned as the tensors on it report theirs (``cuda:0``, not ``cuda``; ``cpu``, not ``cpu:0``),
    so it compares equal to ``tensor.device``.
    """
    name = normalize_device(name)
    if name == "auto":
        if torch.cuda.is_available():
            return _as_tensors_report(torch.device("cuda"))
        return _as_tensors_report(torch.device("mps")) if _mps_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was chosen but torch finds no CUDA GPU on this machine; choose auto or cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"there is no {name}; this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if device.type == "mps" and not _mps_available():
        raise ConfigError("MPS was chosen but this machine has no Apple GPU; choose auto or cpu")
    if device.type == "mps" and (device.index or 0) != 0:
        raise ConfigError(f"there is no {name}; a Mac has one Apple GPU: choose mps")
    return _as_tensors_report(device) if device.type != "cpu" else torch.device("cpu")


def _as_tensors_report(device: torch.device) -> torch.device:
    """``cuda`` as ``cuda:0`` and ``mps`` as ``mps:0``: the device a tensor put there reports.

    Worked out, not tried: a tensor on the GPU would start a CUDA context (seconds, and GPU memory) on whichever
    thread asks, the GUI thread included. The app never changes torch's current GPU, so that GPU is number 0.
    """
    return torch.device(device.type, 0 if device.index is None else device.index)


def available_devices() -> list[tuple[str, str]]:
    """(value, label) for each device the user can choose, ``auto`` first."""
    devices = [("auto", f"Auto ({describe_device(pick_device())})"), ("cpu", "CPU")]
    devices += [(f"cuda:{i}", f"CUDA {i}: {torch.cuda.get_device_name(i)}") for i in range(torch.cuda.device_count())]
    if _mps_available():
        devices.append(("mps", "Apple MPS"))
    return devices


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA GPU: {torch.cuda.get_device_name(device)}"
    return {"mps": "Apple MPS", "cpu": "CPU"}.get(device.type, str(device))


def configure_threads() -> int:
    """Let torch use every core this process may run on; returns the count."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(cores)
    return cores


def keep_this_thread_on_one_core() -> None:
    """Run the calling thread's torch work on one core for good; threads that start torch work later get the rest.

    For the GUI thread: its torch work (one image, a preview) is small, and an OpenMP team of its own beside the
    training thread's halved training speed on a 2-core machine (OpenMP stops spinning at its barriers once its
    threads outnumber the cores).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.zeros(1).add_(1)  # torch fixes a thread's count at its first parallel-capable operation: make that now
    # set_num_threads also sets the count that other threads start with: put it back, from a thread of its own.
    restore = threading.Thread(target=torch.set_num_threads, args=(threads,))
    restore.start()
    restore.join()


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
