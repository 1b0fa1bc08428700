"""Where a run stands, folded from its events: what the status line shows.

Pure and clock-free: every figure (samples/s, ETA, progress) comes from the events' own
times, so the status line of a finished or replayed run is the same on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pttui.engine import events as ev
from pttui.engine import numbers

IDLE, STARTING, RUNNING, PAUSED, STOPPING, DONE, STOPPED, FAILED, KILLED = (
    "idle",
    "starting",
    "running",
    "paused",
    "stopping",
    "done",
    "stopped",
    "failed",
    "killed",  # a past run that never reported its end, and whose process is gone
)


@dataclass(frozen=True)
class RunState:
    state: str = IDLE
    device: str = ""
    torch: str = ""
    step: int = 0
    epoch: int = 0  # epochs completed
    epochs: int = 0
    steps_total: int | None = None
    samples_per_s: float | None = None
    t: float = 0.0  # the latest event's time (seconds since the run began)
    t_first_step: float | None = None
    seconds: float | None = None  # the whole run, once it ended
    message: str = ""  # what failed, or a note such as "past run"
    pace: float = 0.0  # steps per second the run holds to (0: as fast as it can)
    system: str = ""  # the machine beside the run (latest `system` event), as the status line shows it
    # Time and steps the run did not train at its own speed (paused, single steps while paused):
    # the ETA leaves them out, so a pause does not read as a slow run.
    paused_s: float = 0.0  # seconds paused after the first step, closed pauses only
    paused_since: float | None = None  # when the open pause began
    steps_paused: int = 0  # steps taken one at a time while paused

    def update(self, event: ev.Event) -> RunState:
        """The state after `event` (states are frozen: a new one is returned)."""
        s = replace(self, t=max(self.t, event.t))
        if isinstance(event, ev.Start):
            return replace(s, state=RUNNING, device=event.device, torch=event.torch)
        if isinstance(event, ev.Step):
            first = s.t_first_step if s.t_first_step is not None else event.t
            gained = max(event.step - s.step, 0) if s.state == PAUSED else 0
            return replace(
                s, step=max(s.step, event.step), t_first_step=first, steps_paused=s.steps_paused + gained
            )
        if isinstance(event, ev.Epoch):
            sps = event.metrics.get("samples_per_s")
            return replace(
                s,
                epoch=max(s.epoch, event.epoch + 1),
                epochs=event.epochs,
                steps_total=event.steps_total or s.steps_total,
                samples_per_s=float(sps) if isinstance(sps, (int, float)) else s.samples_per_s,
            )
        if isinstance(event, ev.System):
            return replace(s, system=system_words(event))
        if isinstance(event, ev.Done):
            return replace(s, state=STOPPED if event.stopped else DONE, seconds=event.t)
        if isinstance(event, ev.Error):
            if not event.fatal:  # a control command the engine could not take: the run goes on
                return s
            return replace(s, state=FAILED, seconds=event.t, message=event.message)
        if isinstance(event, ev.State):
            s = replace(s, pace=event.pace)
            if event.state == PAUSED and s.state in (STARTING, RUNNING):
                return replace(s, state=PAUSED, step=max(s.step, event.step), paused_since=event.t)
            if event.state == RUNNING and s.state == PAUSED:
                return replace(
                    s, state=RUNNING, paused_s=s.paused_s + s._pause_length(event.t), paused_since=None
                )
        return s

    def update_all(self, events) -> RunState:
        """The state after a batch: steps (most of any batch) fold without a copy each."""
        state, step, t, first = self, self.step, self.t, self.t_first_step
        for event in events:
            if event.kind == "step" and state.state == PAUSED:
                state = replace(state, step=step, t=t, t_first_step=first).update(event)
                step, t, first = state.step, state.t, state.t_first_step
            elif event.kind == "step":
                step = max(step, event.step)  # type: ignore[attr-defined]
                t = max(t, event.t)
                if first is None:
                    first = event.t
            else:
                state = replace(state, step=step, t=t, t_first_step=first).update(event)
                step, t, first = state.step, state.t, state.t_first_step
        if (step, t, first) != (state.step, state.t, state.t_first_step):
            state = replace(state, step=step, t=t, t_first_step=first)
        return state

    @property
    def active(self) -> bool:
        return self.state in (STARTING, RUNNING, PAUSED, STOPPING)

    @property
    def progress(self) -> float | None:
        """0..1, from steps when the run said how many there will be, else from epochs."""
        if self.state == DONE:
            return 1.0
        if self.steps_total:
            return min(self.step / self.steps_total, 1.0)
        if self.epochs:
            return min(self.epoch / self.epochs, 1.0)
        return None

    def _pause_length(self, t: float) -> float:
        """Seconds of the open pause up to `t` that fall after the first step (0 if none is open)."""
        if self.paused_since is None or self.t_first_step is None:
            return 0.0
        return max(t - max(self.paused_since, self.t_first_step), 0.0)

    @property
    def eta_s(self) -> float | None:
        """Seconds left, from the pace the run kept while it trained (paused time and steps
        taken one at a time while paused left out); never less than the steps left at the set
        `pace`, which bounds a paced run. None when not running or nothing is measured yet."""
        p = self.progress
        if self.state != RUNNING or not p or self.t_first_step is None or p >= 1.0:
            return None
        spent = self.t - self.t_first_step - self.paused_s
        if spent <= 0:
            return None
        if self.steps_total:
            trained = self.step - self.steps_paused
            if trained <= 0:
                return None
            left = max(self.steps_total - self.step, 0)
            eta = left * spent / trained
            return max(eta, left / self.pace) if self.pace > 0 else eta
        return spent / p * (1 - p)

    def figures(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "step": self.step,
            "epoch": self.epoch,
            "epochs": self.epochs,
            "progress": self.progress,
            "eta_s": self.eta_s,
        }


def fmt_seconds(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def system_words(event: ev.System) -> str:
    """ "cpu 180% 350.2 MB" (the run's whole process tree), then CUDA memory and use where known.
    Sizes are scaled by engine.numbers as everywhere (MB of 2^20 bytes)."""
    words = f"cpu {event.cpu_percent:.0f}% {numbers.field('rss_mb', event.rss_mb)}"
    cuda = event.cuda or {}
    if "allocated_mb" in cuda:
        words += (
            f" · gpu {numbers.field('allocated_mb', cuda['allocated_mb'])}"
            f"/{numbers.field('reserved_mb', cuda.get('reserved_mb', 0))}"
        )
        words += f" peak {numbers.field('peak_mb', cuda.get('peak_mb', 0))}"
        if "util_percent" in cuda:
            words += f" {cuda['util_percent']:.0f}%"
    return words
