"""The machine beside the run: CPU % and memory of the engine's whole process tree, CUDA memory.

psutil reads the process tree (ranks and DataLoader workers are children of the engine), so
the figure is what the run costs, not just this process. GPU utilization comes from NVML
(nvidia-ml-py, an optional extra); without it the event says so once and carries torch's
own memory figures.
"""

from __future__ import annotations

import os
import time

from pttui.engine import events as ev
from pttui.engine.train import Hooks

EVERY_S = 1.0


class ProcessTree:
    """CPU % (100 = one core) and RSS of this process and all its descendants."""

    def __init__(self):
        import psutil

        self.psutil = psutil
        self.root = psutil.Process(os.getpid())
        self._known: dict[int, object] = {}
        self.sample()  # cpu_percent counts from the previous call: prime it

    def sample(self) -> tuple[float, float, int]:
        """(cpu_percent, rss_mb, processes) since the previous sample."""
        psutil = self.psutil
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            procs = [self.root]
        cpu = rss = 0.0
        alive: dict[int, object] = {}
        for p in procs:
            known = self._known.get(p.pid, p)
            try:
                cpu += known.cpu_percent(None)  # type: ignore[attr-defined]
                rss += known.memory_info().rss  # type: ignore[attr-defined]
            except psutil.Error:  # it ended between the listing and the reading
                continue
            alive[p.pid] = known
        self._known = alive
        return cpu, rss / 2**20, len(alive)


def cuda_memory(device: str) -> dict[str, float] | None:
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    dev = torch.device(device)
    mb = 2**20
    return {
        "allocated_mb": torch.cuda.memory_allocated(dev) / mb,
        "reserved_mb": torch.cuda.memory_reserved(dev) / mb,
        "peak_mb": torch.cuda.max_memory_allocated(dev) / mb,
    }


class GpuUtil:
    """GPU utilization % through NVML, or None (and `missing` says why) without nvidia-ml-py."""

    def __init__(self, device: str):
        self.handle = None
        self.missing = ""
        try:
            import pynvml

            pynvml.nvmlInit()
            index = int(device.split(":")[1]) if ":" in device else 0
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self.pynvml = pynvml
        except ImportError:
            self.missing = (
                "GPU utilization needs nvidia-ml-py (pip install 'pttui[nvml]'); memory comes from torch"
            )
        except Exception as exc:  # no driver library, a device NVML does not know
            self.missing = f"GPU utilization is not available ({exc}); memory comes from torch"

    def percent(self) -> float | None:
        if self.handle is None:
            return None
        try:
            return float(self.pynvml.nvmlDeviceGetUtilizationRates(self.handle).gpu)
        except Exception:
            return None


class SystemHook(Hooks):
    """A `system` event at most every EVERY_S seconds, from the training loop's own thread."""

    def __init__(self, ctx, device: str, every_s: float = EVERY_S):
        self.ctx, self.device, self.every_s = ctx, device, every_s
        self.tree: ProcessTree | None = None
        try:
            self.tree = ProcessTree()
        except ImportError:
            ctx.warn("system: psutil is not installed, so no CPU/memory figures (pip install psutil)")
        self.gpu = GpuUtil(device) if device.startswith("cuda") else None
        if self.gpu is not None and self.gpu.missing:
            ctx.text("system", self.gpu.missing)
        self.last = time.perf_counter()
        self.seconds = 0.0

    def on_step_end(self, step: int, loss) -> None:
        now = time.perf_counter()
        if self.tree is not None and now - self.last >= self.every_s:
            self.last = now
            self.emit()
            self.seconds += time.perf_counter() - now

    def emit(self) -> None:
        if self.tree is None:
            return
        cpu, rss, count = self.tree.sample()
        cuda = cuda_memory(self.device)
        if cuda is not None and self.gpu is not None:
            util = self.gpu.percent()
            if util is not None:
                cuda["util_percent"] = util
        cuda = {k: round(v, 1) for k, v in cuda.items()} if cuda else None
        self.ctx.emit(ev.System(self.ctx.now(), round(cpu, 1), round(rss, 1), count, cuda))
