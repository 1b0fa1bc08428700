"""How the speed labs time things, so that `data`, `amp` and `quantization` measure alike.

Every figure is a median of repeated timings taken after a warm-up (the first calls pay for
allocation, lazy imports, kernel selection and worker start-up). Where variants are compared,
they run interleaved, A B A B, so that noise from the rest of the machine hits them alike.
Ratios are written in words that say plainly when a variant is slower. Torch-free: a CUDA
caller passes `sync=torch.cuda.synchronize`, since GPU work is queued and a timer alone would
measure the queueing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


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
) -> dict[str, Timing]:
    """Time several variants round by round (A B C, A B C, ...), each after its own warm-up;
    seconds are per call."""
    number = dict(number or {})
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        if sync is not None:
            sync()
        number.setdefault(name, 1)
    taken: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            taken[name].append(_timed(fn, number[name], sync) / number[name])
    return {name: Timing(tuple(s), warmup) for name, s in taken.items()}


def _timed(fn: Callable[[], object], number: int, sync: Callable[[], None] | None) -> float:
    started = time.perf_counter()
    for _ in range(number):
        fn()
    if sync is not None:
        sync()
    return time.perf_counter() - started


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
