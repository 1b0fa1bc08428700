"""How the speed labs time things, so that `data`, `amp`, `quantization` and bench measure alike.

Every figure is a median of repeated timings taken after a warm-up (the first calls pay for
allocation, lazy imports, kernel selection and worker start-up). Where variants are compared,
they run interleaved, A B A B, so that noise from the rest of the machine hits them alike, and
a speed-up is the median of the per-round ratios (each round's pair saw the same machine).

Every figure carries its spread over the rounds (`Spread`: min, max and the quartiles), as
pyperf does. A figure is `noisy` when the middle half of its rounds spans more than
NOISY_IQR (15%) of its median, or when fewer than MIN_JUDGED rounds were taken: then the words
say it is unreliable and what to do, instead of a headline. Where rounds are cheap, `interleave`
calibrates: it keeps adding rounds while the figure is noisy, within a time budget.

Torch-free: a CUDA caller passes `sync=torch.cuda.synchronize`, since GPU work is queued and a
timer alone would measure the queueing.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

# Interquartile range / median above which rounds "disagree": 0.15, about pyperf's "stdev above
# 10% of the mean" for normal noise (the IQR is 1.35 standard deviations), but robust to the
# one wild round that a shared machine throws in.
NOISY_IQR = 0.15
MIN_JUDGED = 3  # fewer rounds than this cannot show a spread: such a figure is noisy
UNRELIABLE_ADVICE = (
    "do not read a speed-up into it; rerun with more rounds (or epochs), fewer --threads, or on a "
    "quiet machine, and compare the ranges rather than the medians"
)


@dataclass(frozen=True)
class Spread:
    """A figure measured over rounds: its median, min, max and quartiles, and whether it is noisy.

    `values` are the per-round figures (seconds, samples/s or speed-ups: any unit).
    """

    values: tuple[float, ...]
    threshold: float = NOISY_IQR

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    @property
    def quartiles(self) -> tuple[float, float]:
        if len(self.values) < 2:
            return self.values[0], self.values[0]
        q1, _, q3 = statistics.quantiles(self.values, n=4, method="inclusive")
        return q1, q3

    @property
    def rel_iqr(self) -> float:
        """(q3 - q1) / |median|: how far the middle half of the rounds spread."""
        q1, q3 = self.quartiles
        med = abs(self.median)
        return (q3 - q1) / med if med > 0 else math.inf

    @property
    def noisy(self) -> bool:
        return len(self.values) < MIN_JUDGED or self.rel_iqr > self.threshold

    @property
    def noisy_reason(self) -> str:
        """Why the figure is noisy, in words ("" when it is not)."""
        n = len(self.values)
        if n < MIN_JUDGED:
            return (
                f"only {n} round{'s' if n != 1 else ''}: at least {MIN_JUDGED} are needed to judge a spread"
            )
        if self.rel_iqr > self.threshold:
            return f"the middle half of the rounds spans {self.rel_iqr:.0%} of the median (more than {self.threshold:.0%})"
        return ""

    def iqr_words(self, fmt: str = "{:.2f}") -> str:
        q1, q3 = self.quartiles
        return f"{fmt.format(q1)}-{fmt.format(q3)}"

    def to_dict(self, digits: int = 4) -> dict[str, float | int | bool]:
        q1, q3 = self.quartiles
        return {
            "median": round(self.median, digits),
            "min": round(self.low, digits),
            "max": round(self.high, digits),
            "q1": round(q1, digits),
            "q3": round(q3, digits),
            "rounds": len(self.values),
            "noisy": self.noisy,
            "noisy_above_iqr": self.threshold,
        }

    def range_words(self, fmt: str = "{:.2f}") -> str:
        """The quartiles and extremes in words: "1.30-1.41 (IQR; min 1.25, max 1.50; 7 rounds)"."""
        q1, q3 = self.quartiles
        n = len(self.values)
        return (
            f"{fmt.format(q1)}-{fmt.format(q3)} (IQR; min {fmt.format(self.low)}, "
            f"max {fmt.format(self.high)}; {n} round{'s' if n != 1 else ''})"
        )


def spread(values: Sequence[float], threshold: float = NOISY_IQR) -> Spread:
    """A Spread of per-round figures; raises ValueError when there are none."""
    if not values:
        raise ValueError("nothing was timed")
    return Spread(tuple(float(v) for v in values), threshold)


def round_ratios(baseline: Timing, other: Timing) -> Spread:
    """The speed-up of `other` over `baseline`, round by round (paired: same round, same machine)."""
    n = min(len(baseline.seconds), len(other.seconds))
    return spread([speedup(b, o) for b, o in zip(baseline.seconds[:n], other.seconds[:n], strict=True)])


def rates(count: float, timing: Timing) -> Spread:
    """Per-round rates (`count` per second of each round), e.g. samples/s."""
    return spread([count / s if s > 0 else math.inf for s in timing.seconds])


def speedup_words(s: Spread, tolerance: float = 0.03) -> str:
    """A speed-up with its spread, or "unreliable" with its range when the rounds disagree."""
    if s.noisy:
        q1, q3 = s.quartiles
        return f"unreliable (IQR {q1:.2f}-{q3:.2f}x, min {s.low:.2f}x, max {s.high:.2f}x)"
    q1, q3 = s.quartiles
    return f"{speed_words(s.median, tolerance)}, IQR {q1:.2f}-{q3:.2f}x"


@dataclass(frozen=True)
class Timing:
    """Seconds per call of each timed repeat (warm-up excluded), and their median."""

    seconds: tuple[float, ...]
    warmup: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """(slowest - fastest) / median: how noisy the repeats were."""
        med = self.median
        return (max(self.seconds) - min(self.seconds)) / med if med > 0 else 0.0


def summarize(seconds: list[float] | tuple[float, ...], warmup: int = 1) -> Timing:
    """A Timing from timings a lab took itself (epochs, say): the first `warmup` are dropped,
    unless nothing would be left."""
    seconds = tuple(seconds)
    if not seconds:
        raise ValueError("nothing was timed")
    warmup = min(warmup, len(seconds) - 1)
    return Timing(seconds[warmup:], warmup)


def autorange(fn: Callable[[], object], min_s: float = 0.01, sync: Callable[[], None] | None = None) -> int:
    """How many calls make one repeat last at least `min_s` (fast calls are timed in groups,
    since a single call of a few microseconds is below the timer's noise)."""
    number = 1
    while True:
        if _timed(fn, number, sync) >= min_s or number >= 1 << 20:
            return number
        number *= 4


def time_call(
    fn: Callable[[], object],
    repeat: int = 5,
    warmup: int = 1,
    number: int = 1,
    sync: Callable[[], None] | None = None,
) -> Timing:
    """Call `fn` `warmup` times untimed, then time `repeat` groups of `number` calls."""
    return interleave({"fn": fn}, repeat, warmup, {"fn": number}, sync)["fn"]


def interleave(
    fns: Mapping[str, Callable[[], object]],
    rounds: int = 5,
    warmup: int = 1,
    number: Mapping[str, int] | None = None,
    sync: Callable[[], None] | None = None,
    budget_s: float = 0.0,
    max_rounds: int = 100,
    stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Timing]:
    """Time several variants round by round (A B C, A B C, ...), each after its own warm-up;
    seconds are per call.

    Calibration: after `rounds` rounds, more are taken while any variant's per-round ratio to
    the first variant (or, alone, its seconds) is noisy, until `budget_s` seconds have passed
    since the timed rounds began or `max_rounds` were taken. `stop()` ends it early.

    `clock` reads the time: wall-clock by default; `time.thread_time` when all the work runs on
    the calling thread (torch with 1 intra-op thread, on the CPU), so that time the scheduler
    gives to other processes on a shared machine is not counted as the variant's.
    """
    number = dict(number or {})
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        if sync is not None:
            sync()
        number.setdefault(name, 1)
    taken: dict[str, list[float]] = {name: [] for name in fns}
    started = time.perf_counter()
    done = 0
    while True:
        if stop is not None and stop():
            break
        for name, fn in fns.items():
            taken[name].append(_timed(fn, number[name], sync, clock) / number[name])
        done += 1
        if done >= max(rounds, 1) and (
            done >= max_rounds or time.perf_counter() - started >= budget_s or _settled(taken)
        ):
            break
    return {name: Timing(tuple(s), warmup) for name, s in taken.items()}


def _settled(taken: Mapping[str, list[float]]) -> bool:
    names = list(taken)
    if not taken[names[0]]:
        return True
    if len(names) == 1:
        return not spread(taken[names[0]]).noisy
    base = Timing(tuple(taken[names[0]]))
    return not any(round_ratios(base, Timing(tuple(taken[n]))).noisy for n in names[1:])


def _timed(
    fn: Callable[[], object],
    number: int,
    sync: Callable[[], None] | None,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    started = clock()
    for _ in range(number):
        fn()
    if sync is not None:
        sync()
    return clock() - started


def speedup(baseline_s: float, other_s: float) -> float:
    """How many times faster `other` is than the baseline (below 1: slower)."""
    return baseline_s / other_s if other_s > 0 else float("inf")


def speed_words(ratio: float, tolerance: float = 0.03) -> str:
    """A speed-up as a person should read it: "1.37x faster", "slower: 0.69x", or "about the
    same (1.01x)" within `tolerance`."""
    if abs(ratio - 1.0) <= tolerance:
        return f"about the same ({ratio:.2f}x)"
    if ratio > 1.0:
        return f"{ratio:.2f}x faster"
    return f"slower: {ratio:.2f}x"
