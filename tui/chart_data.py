"""Bounded chart data: what the Chart tab draws, whatever the length of the run.

A run can take a million steps; a chart is ~40-120 columns wide. Each curve keeps an
EMA-smoothed value plus the raw min/max of every bucket of steps, in at most ~2x the plot's
width of buckets: when full, neighbouring buckets merge pairwise and each then covers twice
as many steps. Adding a point is O(1) amortised and redraw cost never grows with the run
(a prototype drew 100k raw points at ~540 ms a redraw, 240 buckets at ~9 ms).

Pure Python, no Textual: the render thread gets an immutable `Snapshot` of it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from pttui.engine import events as ev

DEFAULT_CAPACITY = 240


@dataclass(frozen=True)
class Curve:
    """One frozen curve: x, smoothed y, and the raw min/max envelope per bucket."""

    name: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    points: bool = False  # few points (one per epoch): drawn with markers, no envelope


class Series:
    """One curve, bounded to `capacity` buckets of [x_last, ema, lo, hi, n]."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, smoothing: float = 0.9):
        self.capacity = max(8, capacity)
        self.smoothing = smoothing
        self.span = 1  # raw points per bucket; doubles at each merge
        self.buckets: list[list[float]] = []
        self.count = 0
        self.skipped = 0  # NaN/inf losses: counted, never drawn
        self._m = 0.0  # EMA numerator and weight, for a bias-corrected average (as Adam does)
        self._w = 0.0

    def add(self, x: float, y: float) -> None:
        if not math.isfinite(y):
            self.skipped += 1
            return
        s = self.smoothing
        self._m = s * self._m + (1 - s) * y
        self._w = s * self._w + (1 - s)
        smooth = self._m / self._w if self._w else y
        self.count += 1
        last = self.buckets[-1] if self.buckets else None
        if last is not None and last[4] < self.span:
            last[0], last[1] = x, smooth
            last[2] = min(last[2], y)
            last[3] = max(last[3], y)
            last[4] += 1
            return
        self.buckets.append([x, smooth, y, y, 1])
        if len(self.buckets) > self.capacity:
            self._merge()

    def _merge(self) -> None:
        """Halve the bucket count: each pair becomes one bucket that ends where the pair ended."""
        merged = []
        b = self.buckets
        for i in range(0, len(b) - 1, 2):
            a, c = b[i], b[i + 1]
            merged.append([c[0], c[1], min(a[2], c[2]), max(a[3], c[3]), a[4] + c[4]])
        if len(b) % 2:
            merged.append(b[-1])
        self.buckets = merged
        self.span *= 2

    def resize(self, capacity: int) -> None:
        """Follow the widget's width; shrinking merges now, growing helps only new points."""
        self.capacity = max(8, capacity)
        while len(self.buckets) > self.capacity:
            self._merge()

    def freeze(self, name: str, points: bool = False) -> Curve:
        b = self.buckets
        return Curve(
            name,
            tuple(r[0] for r in b),
            tuple(r[1] for r in b),
            tuple(r[2] for r in b),
            tuple(r[3] for r in b),
            points,
        )


@dataclass(frozen=True)
class Snapshot:
    """What the render thread draws: this run's curves and the previous run's, dimmed."""

    loss: tuple[Curve, ...] = ()
    metric: tuple[Curve, ...] = ()  # accuracy-like figures per epoch, on the second plot
    previous_loss: tuple[Curve, ...] = ()
    previous_metric: tuple[Curve, ...] = ()
    x_label: str = "step"
    metric_label: str = "val accuracy"
    x_total: float = 0.0  # the steps the run will take, when it said: the x axis spans them all

    @property
    def empty(self) -> bool:
        return not (self.loss or self.metric or self.previous_loss or self.previous_metric)


def curve_name(series: str, rank: int | None) -> str:
    """One curve per series and per rank: "train", "bf16", "train r1"."""
    return series if rank is None else f"{series} r{rank}"


_RANK = re.compile(r"^r(\d+)$")


def by_rank(group: dict[str, Series]) -> list[tuple[str, Series]]:
    """A group's curves in the order their series first came, and within a series by rank:
    ranks report in any order ("train r1" may come first), the legend reads r0, r1, ..."""
    first: dict[str, int] = {}
    keyed = []
    for name, series in group.items():
        words = name.split()
        rank = next((int(m.group(1)) for w in words if (m := _RANK.match(w))), -1)
        kind = " ".join(w for w in words if not _RANK.match(w))
        keyed.append(((first.setdefault(kind, len(first)), rank), name, series))
    keyed.sort(key=lambda item: item[0])
    return [(name, series) for _, name, series in keyed]


@dataclass
class ChartData:
    """This run's curves, fed by step and epoch events; `new_run` keeps the last run dimmed."""

    capacity: int = DEFAULT_CAPACITY
    loss: dict[str, Series] = field(default_factory=dict)
    metric: dict[str, Series] = field(default_factory=dict)
    previous: Snapshot | None = None
    version: int = 0  # bumped on every change, so the widget redraws only when needed
    _last_x: dict[str, float] = field(default_factory=dict)
    _stepped: set[str] = field(default_factory=set)
    _x_total: float = 0.0
    ended: bool = False  # the run said its last word: the x axis spans what was drawn

    def add(self, event: ev.Event) -> bool:
        """Take a step or epoch event; returns True when the chart changed."""
        if isinstance(event, ev.Step):
            name = curve_name(event.series, event.rank)
            self._stepped.add(name)
            self._series(self.loss, name, 0.9).add(event.step, event.loss)
            self._last_x[name] = event.step
        elif isinstance(event, ev.Epoch):
            name = curve_name(event.series, event.rank)
            if event.steps_total:
                self._x_total = max(self._x_total, float(event.steps_total))
            # Per-epoch figures sit at the step the epoch ended on; a lab without step
            # events gets an epoch axis and its train loss plotted per epoch instead.
            x = self._last_x.get(name, event.epoch + 1) if name in self._stepped else event.epoch + 1
            for key, value in event.metrics.items():
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    continue
                if event.units.get(key) == "fraction":  # its declaration, not its name, says so
                    label = key.replace("_", " ") if name == "train" else f"{name} {key.replace('_', ' ')}"
                    self._series(self.metric, label, 0.0).add(x, float(value))
                elif key == "val_loss" or (key in ("train_loss", "loss") and name not in self._stepped):
                    label = name if key != "val_loss" else "val loss" if name == "train" else f"{name} val"
                    self._series(self.loss, label, 0.0).add(x, float(value))
        else:
            return False
        self.version += 1
        return True

    def _series(self, group: dict[str, Series], name: str, smoothing: float) -> Series:
        series = group.get(name)
        if series is None:
            series = group[name] = Series(self.capacity, smoothing)
        return series

    def resize(self, capacity: int) -> None:
        if capacity == self.capacity:
            return
        self.capacity = capacity
        for series in (*self.loss.values(), *self.metric.values()):
            series.resize(capacity)
        self.version += 1

    def new_run(self, keep_previous: bool = True) -> None:
        """Start over; this run's curves become the dimmed previous run (if it drew any)."""
        current = self.snapshot()
        if keep_previous and (current.loss or current.metric):
            self.previous = Snapshot(loss=current.loss, metric=current.metric, x_label=current.x_label)
        elif not keep_previous:
            self.previous = None
        self.loss.clear()
        self.metric.clear()
        self._last_x.clear()
        self._stepped.clear()
        self._x_total = 0.0
        self.ended = False
        self.version += 1

    def end(self) -> None:
        """The run ended (done, stopped or failed): the axis no longer waits for the steps it
        planned, so a run stopped early reads the same live and reopened: its own length."""
        if not self.ended:
            self.ended = True
            self.version += 1

    def snapshot(self) -> Snapshot:
        prev = self.previous
        return Snapshot(
            loss=tuple(s.freeze(n, points=s.smoothing == 0.0) for n, s in by_rank(self.loss)),
            metric=tuple(s.freeze(n, points=True) for n, s in by_rank(self.metric)),
            previous_loss=prev.loss if prev else (),
            previous_metric=prev.metric if prev else (),
            x_label="step" if self._stepped or not self.loss else "epoch",
            x_total=self._x_total if self._stepped and not self.ended else 0.0,
        )

    @property
    def steps(self) -> int:
        return sum(s.count for n, s in self.loss.items() if n in self._stepped)
