"""Choosing a device and an autocast dtype, with a clear parameter error when one is not there.

The decisions live in plain functions of what is available, so they are tested on a CPU
machine for the CUDA cases too (`choose_device(spec, available)`).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pttui.engine import numbers
from pttui.engine.params import ParamError

CUDA_WHEELS = "https://download.pytorch.org/whl/cu128"  # PyTorch's CUDA wheel index


@dataclass(frozen=True)
class Available:
    """What this process can use: the CUDA device count, MPS, and bf16 support on CUDA."""

    cuda_count: int = 0
    mps: bool = False
    cuda_bf16: bool = False
    cuda_built: bool = True  # False for a CPU-only torch build (torch.version.cuda is None)
    torch_version: str = ""

    @classmethod
    def probe(cls) -> Available:
        import torch

        cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
        mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        bf16 = bool(cuda and torch.cuda.is_bf16_supported())
        return cls(cuda, mps, bf16, torch.version.cuda is not None, torch.__version__)

    def why_no_cuda(self) -> str:
        """Why CUDA is missing, and what to do: a CPU-only build needs another torch."""
        if not self.cuda_built:
            build = f" ({self.torch_version})" if self.torch_version else ""
            return (
                f"this torch build{build} is CPU-only; for CUDA install a CUDA build of torch, e.g. "
                f"pip install torch --index-url {CUDA_WHEELS} (pytorch.org/get-started/locally)"
            )
        return "no CUDA GPU is visible to this torch (check the driver and CUDA_VISIBLE_DEVICES)"

    def names(self) -> list[str]:
        names = ["cpu"]
        if self.cuda_count:
            names += ["cuda"] + [f"cuda:{i}" for i in range(self.cuda_count)]
        if self.mps:
            names.append("mps")
        return names


@functools.cache
def torch_build() -> tuple[str, bool] | None:
    """(torch's version, whether it was built with CUDA or ROCm) read from the installed
    torch/version.py with `ast`, without importing torch (~1 ms, so the command line and the
    app can refuse `--device cuda` on a CPU-only build at once); None where it cannot be read."""
    import ast
    import importlib.util

    try:
        spec = importlib.util.find_spec("torch")
        folder = next(iter(spec.submodule_search_locations or [])) if spec else None
        if folder is None:
            return None
        tree = ast.parse(Path(folder, "version.py").read_text(encoding="utf-8"))
    except (OSError, ValueError, SyntaxError, ImportError, StopIteration):
        return None
    found: dict[str, object] = {}
    for node in tree.body:
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant):
            found[target.id] = node.value.value
    if not isinstance(found.get("__version__"), str) or "cuda" not in found:
        return None
    return str(found["__version__"]), found.get("cuda") is not None or found.get("hip") is not None


def cpu_only_refusal(spec: str) -> ParamError | None:
    """The refusal of a CUDA `spec` on a CPU-only torch build, judged without torch (see
    torch_build), as the run itself would say it; None where this cannot be told so early."""
    build = torch_build()
    if not spec.strip().lower().startswith("cuda") or build is None or build[1]:
        return None
    available = Available(cuda_built=False, torch_version=build[0])
    return ParamError("device", spec, f"a device that is here: cpu; {available.why_no_cuda()}")


def choose_device(spec: str, available: Available) -> str:
    """`auto` takes CUDA, then MPS, then the CPU; a named device must exist."""
    if spec == "auto":
        return "cuda" if available.cuda_count else ("mps" if available.mps else "cpu")
    if spec == "cpu" or (spec == "mps" and available.mps):
        return spec
    here = "a device that is here: " + ", ".join(available.names())
    if spec.startswith("cuda"):
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index < available.cuda_count:
            return spec
        if not available.cuda_count:
            raise ParamError("device", spec, f"{here}; {available.why_no_cuda()}")
    raise ParamError("device", spec, here)


def amp_runs(amp: str, device: str, available: Available) -> bool:
    """Whether autocast `amp` can run on `device` here ("off" and "auto" always can)."""
    kind = device.split(":")[0]
    if amp == "fp16":
        return kind == "cuda"
    if amp == "bf16":
        return (kind == "cuda" and available.cuda_bf16) or kind == "cpu"
    return True


def choose_amp(
    amp: str, device: str, available: Available, choices: tuple[str, ...] = ("off", "bf16", "fp16")
) -> str | None:
    """The autocast dtype name for `amp` on `device`, or None for off.

    `choices` are the caller's declared choices: a value this machine cannot run raises a
    ParamError naming those of them that it can, so the message never offers a word the flag
    does not take. Raises ParamError("amp", ...) for fp16 off CUDA, bf16 on a GPU without it
    or on mps.
    """
    if amp == "off":
        return None
    kind = device.split(":")[0]
    if not amp_runs(amp, device, available):
        allowed = ", ".join(c for c in choices if amp_runs(c, device, available))
        why = {
            "fp16": "fp16 autocast needs a CUDA device"
            + ("" if available.cuda_count else f"; {available.why_no_cuda()}"),
            "bf16": "this GPU has no bf16 support"
            if kind == "cuda"
            else f"bf16 autocast is not offered on {kind}",
        }[amp]
        raise ParamError("amp", amp, f"what {device} here can run: {allowed} ({why})")
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


# The speed labs' default on small machines: with 2 threads on 2 shared cores, consecutive runs
# of the quantization lab gave int8 speed-ups of 0.01x, 32x and 1.6x; with 1 thread, 1.64x/4.24x
# and 1.63x/4.21x (issue 11). OpenMP threads wait for each other at every barrier, so one
# stalled core stalls them all; one thread only pays for its own stalls.
SMALL_MACHINE_CPUS = 4


def speed_thread_count(threads: int, cpus: int, default: int, leave_a_core: bool) -> int:
    """Threads for a speed lab: `threads` when given; else 1 on machines with at most
    SMALL_MACHINE_CPUS CPUs (steady timings), else what `thread_count` gives."""
    if threads:
        return threads
    if cpus <= SMALL_MACHINE_CPUS:
        return 1
    return thread_count(0, default, leave_a_core)


def speed_threads_words(threads: int, chosen: int, cpus: int) -> str:
    """Which thread count a speed lab runs with, and why, in one line."""
    if threads:
        return f"{numbers.count(chosen, 'thread')}, as --threads asked"
    if cpus <= SMALL_MACHINE_CPUS:
        return (
            f"1 thread (auto: this machine has {numbers.count(cpus, 'CPU')}, and timings with more threads than that "
            "swing from run to run; --threads N to choose)"
        )
    return f"{numbers.count(chosen, 'thread')} (auto: torch's default here; --threads N to choose)"


@contextlib.contextmanager
def speed_threads(threads: int) -> Iterator[tuple[int, str]]:
    """Pins a speed lab's intra-op threads (see `speed_thread_count`) and puts the old count
    back after; yields (threads, the words that say why)."""
    import torch

    before = torch.get_num_threads()
    cpus = os.cpu_count() or 1
    chosen = speed_thread_count(threads, cpus, before, os.environ.get(LEAVE_A_CORE_ENV) == "1")
    if chosen != before:
        torch.set_num_threads(chosen)
    try:
        yield chosen, speed_threads_words(threads, chosen, cpus)
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def set_threads(threads: int) -> None:
    """0 keeps torch's default (all cores); anything else pins the intra-op thread count."""
    import torch

    default = torch.get_num_threads()
    chosen = thread_count(threads, default, os.environ.get(LEAVE_A_CORE_ENV) == "1")
    if chosen != default:
        torch.set_num_threads(chosen)
