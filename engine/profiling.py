"""Where the time goes: torch.profiler over N training steps after a warm-up.

The first steps pay for lazy initialisation (allocator, kernels picked, caches filled), so
the profile starts after WARMUP steps, as torch.profiler's own `schedule(warmup=...)` would.
It emits a table titled "profiler: top ops" and writes a Chrome/Perfetto trace
(chrome://tracing or ui.perfetto.dev open it), whose path it prints.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import torch

from pttui.engine import numbers, quiet
from pttui.engine.train import Hooks

WARMUP = 5
TOP = 15
TITLE = "profiler: top ops"


def trace_path(ctx) -> Path:
    """A new trace file in the run's keep folder (<runs dir>/traces; with --no-record the temporary
    folder: engine.runs.keep_dir), else the temporary folder when that is not writable."""
    from pttui.engine.runs import keep_dir

    name = f"{datetime.now():%Y%m%d-%H%M%S}-{ctx.topic}-{os.getpid()}-trace.json"  # two runs a second
    folder = keep_dir(ctx.extras, "traces")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / (name + ".probe")
        probe.write_bytes(b"")
        probe.unlink()
        return folder / name
    except OSError:
        return Path(tempfile.gettempdir()) / name


# What kineto itself writes to stderr when a profile starts and stops (`USDT:... profiler_start`):
# news to nobody, so it is dropped; anything else the profiler prints is shown as a warning.
_ROUTINE = ("profiler_start", "profiler_stop")


def top_ops(prof, wall_us: float, on_cuda: bool, top: int = TOP) -> tuple[list[str], list[list]]:
    """Columns and rows of the slowest ops by self CPU time; % is of the profiled steps' wall time."""
    averages = sorted(prof.key_averages(), key=lambda a: a.self_cpu_time_total, reverse=True)
    columns = ["op", "calls", "self CPU ms"] + (["self CUDA ms"] if on_cuda else []) + ["% of step"]
    rows = []
    for a in averages[:top]:
        row = [a.key, int(a.count), a.self_cpu_time_total / 1000.0]
        if on_cuda:
            row.append(getattr(a, "self_device_time_total", 0.0) / 1000.0)
        row.append(100.0 * a.self_cpu_time_total / wall_us if wall_us > 0 else 0.0)
        rows.append(row)
    return columns, rows


class ProfileHook(Hooks):
    """Profiles steps WARMUP+1 .. WARMUP+steps; `finish()` ends a profile the run cut short."""

    def __init__(self, ctx, steps: int, device: str, warmup: int = WARMUP):
        self.ctx, self.steps, self.warmup = ctx, steps, warmup
        self.on_cuda = torch.device(device).type == "cuda"
        self.prof = None
        self.first = 0
        self.started = 0.0
        self.done = False
        self.path: Path | None = None
        self.last_step = 0
        self.noise = quiet.Captured()

    def on_step_end(self, step: int, loss: torch.Tensor) -> None:
        if self.done:
            return
        self.last_step = step
        if self.prof is None and step >= self.warmup:
            self._start(step)
        elif self.prof is not None and step - self.first >= self.steps:
            self.finish()

    def _start(self, step: int) -> None:
        try:
            from torch.profiler import ProfilerActivity, profile  # a build may lack it: said below

            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.on_cuda else [])
            self.prof = profile(activities=activities)
            with quiet.captured(self.noise):  # kineto prints to fd 2 as it starts
                self.prof.__enter__()
        except Exception as exc:  # a build without the profiler (or kineto): say so, train on
            self.prof, self.done = None, True
            self.ctx.warn(
                f"profile: torch.profiler is not available here ({exc}); training goes on without it"
            )
            return
        self.first, self.started = step, time.perf_counter()

    def finish(self) -> None:
        """Stop profiling (if it runs), emit the table, write the trace and say where."""
        if self.prof is None or self.done:
            return
        if self.on_cuda:
            torch.cuda.synchronize()
        wall_us = (time.perf_counter() - self.started) * 1e6
        prof, self.prof, self.done = self.prof, None, True
        with quiet.captured(self.noise):  # ... and as it stops
            prof.__exit__(None, None, None)
        self.noise.messages = [m for m in self.noise.messages if not m.endswith(_ROUTINE)]
        if self.noise.messages:
            self.ctx.warn(self.noise.note("profiling"))
        steps = max(self.last_step - self.first, 1)
        columns, rows = top_ops(prof, wall_us, self.on_cuda)
        note = f"{numbers.count(steps, 'step')} after {numbers.count(self.first, 'warm-up step')}; ms summed over them; % of their wall time"
        self.ctx.table(TITLE, columns, rows, note=note)
        path = trace_path(self.ctx)
        try:
            prof.export_chrome_trace(str(path))
            self.path = path
            self.ctx.text("profiler", f"Chrome/Perfetto trace written to {path}")
        except (OSError, RuntimeError) as exc:
            self.ctx.warn(f"profile: could not write the trace to {path}: {exc}")
