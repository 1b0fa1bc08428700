"""Choosing a device and an autocast dtype, with a clear parameter error when one is not there.

The decisions live in plain functions of what is available, so they are tested on a CPU
machine for the CUDA cases too (`choose_device(spec, available)`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pttui.engine.params import ParamError


@dataclass(frozen=True)
class Available:
    """What this process can use: the CUDA device count, MPS, and bf16 support on CUDA."""

    cuda_count: int = 0
    mps: bool = False
    cuda_bf16: bool = False

    @classmethod
    def probe(cls) -> Available:
        import torch

        cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
        mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        bf16 = bool(cuda and torch.cuda.is_bf16_supported())
        return cls(cuda, mps, bf16)

    def names(self) -> list[str]:
        names = ["cpu"]
        if self.cuda_count:
            names += ["cuda"] + [f"cuda:{i}" for i in range(self.cuda_count)]
        if self.mps:
            names.append("mps")
        return names


def choose_device(spec: str, available: Available) -> str:
    """`auto` takes CUDA, then MPS, then the CPU; a named device must exist."""
    if spec == "auto":
        return "cuda" if available.cuda_count else ("mps" if available.mps else "cpu")
    if spec == "cpu" or (spec == "mps" and available.mps):
        return spec
    if spec.startswith("cuda"):
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index < available.cuda_count:
            return spec
    raise ParamError("device", spec, "a device that is here: " + ", ".join(available.names()))


def choose_amp(amp: str, device: str, available: Available) -> str | None:
    """The autocast dtype name for `amp` on `device`, or None for off."""
    if amp == "off":
        return None
    kind = device.split(":")[0]
    if amp == "fp16" and kind != "cuda":
        raise ParamError("amp", amp, f"off or bf16 on {kind}; fp16 autocast needs a CUDA device")
    if amp == "bf16" and kind == "cuda" and not available.cuda_bf16:
        raise ParamError("amp", amp, "off or fp16: this GPU has no bf16 support")
    if kind == "mps" and amp == "bf16":
        raise ParamError("amp", amp, "off on mps")
    return {"bf16": "bfloat16", "fp16": "float16"}[amp]


def resolve(spec: str) -> str:
    """The device for `spec` in this process (imports torch)."""
    return choose_device(spec, Available.probe())


# Set by the app for its engine child: the app draws on the same cores, and with every core
# in torch's pool each wake-up of the UI stalled one torch thread and the rest waited for it
# (measured: training at 0.81x of the bare loop with 2 threads on 2 cores).
LEAVE_A_CORE_ENV = "PTTUI_LEAVE_A_CORE"


def thread_count(threads: int, default: int, leave_a_core: bool) -> int:
    """How many intra-op threads a run uses: `threads`, else torch's default (less one core
    when the app is drawing beside the run)."""
    if threads:
        return threads
    return max(1, default - 1) if leave_a_core else default


def set_threads(threads: int) -> None:
    """0 keeps torch's default (all cores); anything else pins the intra-op thread count."""
    import torch

    default = torch.get_num_threads()
    chosen = thread_count(threads, default, os.environ.get(LEAVE_A_CORE_ENV) == "1")
    if chosen != default:
        torch.set_num_threads(chosen)
