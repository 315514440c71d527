"""The one parser of `--device`: 'cpu', 'cuda', 'cuda:N' (aliases 'gpu', '0', 'N').

Parsing imports nothing heavy (selftest runs where torch is absent); whether the device
exists is checked by whoever runs on it (PyTorch, or the artifact's runtime), which then
either runs there or refuses with why — it never falls back to another device silently.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UnsupportedOptionError

DEVICE_CHOICES = ("cpu", "cuda", "cuda:N")


@dataclass(frozen=True)
class Device:
    kind: str  # "cpu" or "cuda"
    index: int = 0  # the GPU number for cuda

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"


def parse_device(device: str | Device | object) -> Device:
    """`--device` text (or a torch.device) -> Device; anything else is refused with the choices."""
    if isinstance(device, Device):
        return device
    text = str(device).strip().lower()
    if text == "cpu":
        return Device("cpu")
    if text in ("cuda", "gpu"):
        return Device("cuda", 0)
    if text.isdigit():
        return Device("cuda", int(text))
    kind, _, index = text.partition(":")
    if kind in ("cuda", "gpu") and index.isdigit():
        return Device("cuda", int(index))
    raise UnsupportedOptionError(f"Unknown device '{device}'",
                                 "it must be the CPU or an NVIDIA GPU through CUDA",
                                 "pass --device cpu, or --device cuda:0 on a machine with CUDA",
                                 context=[f"valid choices: {', '.join(DEVICE_CHOICES)}"])
