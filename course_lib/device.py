"""Choice of the torch device and seeding for reproducible runs.

`get_device()` prefers CUDA, then Apple's MPS, then the CPU. The environment
variable ``COURSE_DEVICE`` overrides the choice with any device string torch
accepts (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_ENV_VAR = "COURSE_DEVICE"


class DeviceError(ValueError):
    """Raised when a requested device is unknown to torch or not available."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def available_devices() -> list[str]:
    """List the devices this machine can run tensors on, best first."""
    devices = []
    if torch.cuda.is_available():
        devices.extend(f"cuda:{index}" for index in range(torch.cuda.device_count()))
    if _mps_available():
        devices.append("mps")
    devices.append("cpu")
    return devices


def _check_available(device: torch.device, requested: str) -> None:
    if device.type == "cpu":
        return
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = 0 if device.index is None else device.index
        if index < count:
            return
    elif device.type == "mps" and _mps_available():
        return
    raise DeviceError(
        f"{DEVICE_ENV_VAR}={requested!r} names a device that is not available on "
        f"this machine; available devices: {', '.join(available_devices())}. "
        f"Unset {DEVICE_ENV_VAR} or set it to one of those."
    )


def get_device(requested: str | None = None) -> torch.device:
    """Return the device the course runs on.

    Args:
        requested: a device string such as ``"cpu"`` or ``"cuda:0"``. When it
            is None, the environment variable ``COURSE_DEVICE`` is read, and
            when that is unset or empty the best available device is chosen:
            CUDA, then MPS, then the CPU.

    Raises:
        DeviceError: the requested device is not a device string torch
            knows, or that device is not available on this machine. The
            message names the value and the available devices.
    """
    if requested is None:
        requested = os.environ.get(DEVICE_ENV_VAR, "").strip()
    if not requested:
        return torch.device(available_devices()[0])
    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError) as error:
        raise DeviceError(
            f"{DEVICE_ENV_VAR}={requested!r} is not a device torch knows; "
            f"available devices: {', '.join(available_devices())}. Unset "
            f"{DEVICE_ENV_VAR} or set it to one of those (device names are "
            f"lowercase). torch said: {error}"
        ) from None
    _check_available(device, requested)
    return device


def seed_everything(seed: int = 0, *, deterministic: bool = False) -> torch.Generator:
    """Seed Python's, NumPy's and torch's random number generators.

    Args:
        seed: a non-negative integer.
        deterministic: also ask torch for deterministic algorithms, which
            makes some CUDA kernels slower or unavailable.

    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``, for functions that
        take an explicit generator.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
