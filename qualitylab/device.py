"""Where models run and in which precision: one resolution of ``auto`` for extraction and
generation alike.

``device`` is auto, cpu, cuda or mps; ``auto`` takes CUDA, then MPS, then the CPU.
``precision`` is auto, fp32, fp16 or bf16; ``auto`` is fp16 on CUDA and fp32 elsewhere, and
half precision on the CPU is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

Device = Literal["auto", "cpu", "cuda", "mps"]
Precision = Literal["auto", "fp32", "fp16", "bf16"]


def resolve_device(device: str) -> str:
    """``cuda``, ``mps`` or ``cpu`` for a device setting; ``auto`` takes the first that is
    available. ValueError when a named accelerator is not available."""
    import torch

    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (device == "cuda" and not cuda) or (device == "mps" and not mps):
        raise ValueError(f"device {device!r} is not available on this machine; use cpu or auto")
    if device not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {device!r}; expected auto, cpu, cuda or mps")
    return device


def resolve(device: str, precision: str) -> tuple[str, str]:
    """The concrete (device, precision) that will run for these settings; ValueError when
    the device is not available or the precision cannot run on it."""
    device = resolve_device(device)
    if precision == "auto":
        precision = "fp16" if device == "cuda" else "fp32"
    if precision != "fp32" and device == "cpu":
        raise ValueError(f"precision {precision} needs a GPU; use precision fp32 on the CPU")
    return device, precision


def torch_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a resolved precision (fp32, fp16 or bf16)."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
