"""The one place a ``--device`` choice becomes a torch device."""

from __future__ import annotations

import torch

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; other names pass through.

    :param name: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    :return: the torch device.
    :raises ValueError: CUDA is asked for and this machine has none, or the name is no device.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name}: not a device (auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    return device
