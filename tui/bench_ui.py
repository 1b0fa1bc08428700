"""`pttui bench --ui`: what the app costs a training run, and how responsive it stays.

The app runs headless (a real App, real screens, the Chart tab live) and trains `training`
in its engine child process. Interleaved with it, in each round: the bare hand-written loop
(engine.bench.bare_loop) in a fresh process, and the same engine child with no UI reading it.
Each is timed over its epochs after the first (train and validation), so start-up and
first-step costs drop out alike: the bare loop as the time of N epochs minus the time of 1,
the engine runs from their first to their last epoch event. The figure that matters is the
median of the per-round ratios. While the app's run trains, an asyncio task sleeps 10 ms
again and again and records how late each wake-up is: the UI event loop's lag.

Goals on the 2-core dev machine: training ratio >= 0.95 of the bare loop, lag p99 <= 16 ms
(one frame at 60 Hz), also while the warm spare engine (tui.spare) warms up and waits.

The watch figures (`watch_figures`): `r` to the run's first event and first step with the
spare warm (and, for comparison, cold), `r` to `done` for autograd, the headless engine's exit
after its final event (median of 5), and the first frame of a fresh `pttui` (topic list) and
`pttui training` (its form), and when that form's every field and tab is mounted (live).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from pttui.engine.bench import CONFIG
from pttui.tui.first_frame import SIZE

TICK_S = 0.010
EPOCHS = 300  # ~5 s of training a run here: long enough for hundreds of redraws

_BARE = """
import json, sys, time
from pttui.engine.bench import bare_loop
from pttui.engine.labs import get_lab
from pttui.engine.params import validate
from pttui.engine import data
values = validate(get_lab("training").params, json.loads(sys.argv[1]))
bare_loop({**values, "epochs": 2})  # warm-up: imports, allocator, the optimizer's first step
one = bare_loop({**values, "epochs": 1})
seconds = bare_loop(values) - one  # epochs 2..N, as the engine runs are timed
rows = len(data.load(data.DataSpec(values["dataset"], values["size"], values["noise"], values["seed"])).x_train)
print(json.dumps({"seconds": seconds, "rows": rows}))
"""


# --inside: a 2-D set with the decision boundary, layer histograms and system events on (issue 16);
# without it they are off, so the figures compare with the ones before they existed.
INSIDE = {"dataset": "spiral", "size": 2000, "boundary": True, "histograms": 10, "system": True}
OUTSIDE = {"boundary": False, "histograms": 0, "system": False}


def _values(epochs: int, threads: int, inside: bool = False) -> dict[str, Any]:
    from pttui.engine.labs import get_lab
    from pttui.engine.params import validate

    extra = INSIDE if inside else OUTSIDE
    raw = {**CONFIG, **extra, "epochs": epochs, "device": "cpu", "threads": threads}
    return validate(get_lab("training").params, raw)


def bare(values: dict[str, Any]) -> tuple[float, int]:
    """The bare loop in a fresh process: (seconds for epochs 2..N, training rows)."""
    out = subprocess.run(
        [sys.executable, "-c", _BARE, json.dumps(values)], capture_output=True, text=True, check=True
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return figures["seconds"], figures["rows"]


def _epoch_span(times: list[float]) -> float:
    """Seconds from the first epoch's end to the last's: epochs 2..N on the child's clock."""
    if len(times) < 2:
        raise RuntimeError("the run reported fewer than 2 epochs")
    return times[-1] - times[0]


def headless(values: dict[str, Any]) -> float:
    """The engine child with nobody drawing: seconds for epochs 2..N."""
    from pttui.engine import events as ev
    from pttui.engine.labs import get_lab
    from pttui.tui.child import Child, Exit, flags

    child = Child("training", [*flags(get_lab("training").params, values), "--no-record"]).start()
    done, epochs = None, []
    while True:
        for item in child.drain():
            if isinstance(item, ev.Epoch):
                epochs.append(item.t)
            if isinstance(item, ev.Done):
                done = item
            if isinstance(item, Exit):
                if done is None:
                    raise RuntimeError(f"the headless run failed: {item.stderr_tail}")
                return _epoch_span(epochs)
        time.sleep(0.1)  # the same 10 Hz the app drains at


async def _app_run(values: dict[str, Any], lag: bool) -> dict[str, Any]:
    """The app, headless, training with its chart live: seconds, lag (if timed), first frame.

    The 10 ms timer wakes the UI process 100 times a second, and each wake-up can preempt a
    torch thread of the run beside it (measured: ~10-20% slower training with the timer on a
    2-core machine), so the training speed comes from runs without it, the lag from runs with.
    """
    from pttui.tui.app import PlaygroundApp

    app = PlaygroundApp()
    lags: list[tuple[float, float]] = []  # (when, how late)

    async def ticker() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            lags.append((now, now - start - TICK_S))

    async with app.run_test(headless=True, size=SIZE) as pilot:
        screen = app.open_topic("training")
        await screen.wait_built()  # its fields and tabs mount after its first frame
        screen.form.set_values(values)
        await pilot.pause(0.2)
        epochs: list[float] = []
        apply = screen.results.apply

        applies: list[float] = []
        apply_cpu: list[float] = []

        def spy(events):  # the epoch events' times, as the app receives them; the UI thread's cost
            epochs.extend(e.t for e in events if e.kind == "epoch")
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return apply(events)
            finally:
                applies.append(time.perf_counter() - started)
                # CPU time of the UI thread itself: wall time on a loaded machine adds preemption.
                apply_cpu.append(time.thread_time() - cpu)

        screen.results.apply = spy  # type: ignore[method-assign]
        tick = asyncio.get_running_loop().create_task(ticker()) if lag else None
        screen.action_run()
        first_step = None
        cpu_at_first = 0.0
        while screen.child is not None:
            if first_step is None and screen.state.step > 0:
                first_step, cpu_at_first = time.perf_counter(), time.process_time()
            await asyncio.sleep(0.05)
        ended = time.perf_counter()
        # The app process's own CPU (UI, reader and chart threads) per second of training: what
        # it takes from the run beside it, whatever else loads the machine.
        app_cpu = (time.process_time() - cpu_at_first) / (ended - first_step) if first_step else float("nan")
        if tick is not None:
            tick.cancel()
        final = screen.final
        redraws = screen.results.chart.redraws
        swaps = _swap_times(screen)
    if final is None or final.kind != "done":
        raise RuntimeError(f"the app's run failed: {getattr(final, 'message', final)}")
    window = [lag for when, lag in lags if first_step is not None and first_step <= when <= ended]
    return {
        "seconds": _epoch_span(epochs),
        "lags": window,
        "first_frame_s": app.first_frame_s,
        "chart_redraws": redraws,
        "apply_ms": [a * 1000 for a in applies],
        "apply_cpu_ms": [a * 1000 for a in apply_cpu],
        "app_cpu_share": app_cpu,
        "swap_ms": swaps,
    }


async def _r_to(topic: str, values: dict[str, Any], warm: bool, until: str = "done") -> dict[str, Any]:
    """Press `r` in `topic` and time, from the key, when the run's `start` event, its first
    step and its final event are on screen (the drain hands them to the panes).

    Warm: the spare engine has said `ready` before `r`; meanwhile a 10 ms timer records the
    UI's lag while the spare warms up and waits. Cold: no spare, a fresh engine per run.
    """
    from pttui.engine.labs import get_lab
    from pttui.engine.params import validate
    from pttui.tui.app import PlaygroundApp

    app = PlaygroundApp(spares=warm)
    lags: list[float] = []
    marks: dict[str, float] = {}
    async with app.run_test(headless=True, size=SIZE) as pilot:
        screen = app.open_topic(topic)
        await screen.wait_built()  # its fields and tabs mount after its first frame
        screen.form.set_values(validate(get_lab(topic).params, values))  # typed, as the form holds them
        await pilot.pause(0.3)
        if warm:
            screen.spare_for_form()
            deadline = time.monotonic() + 300
            while not app.spares.ready():
                start = time.perf_counter()
                await asyncio.sleep(TICK_S)
                lags.append(time.perf_counter() - start - TICK_S)
                if time.monotonic() > deadline:
                    raise RuntimeError("the spare engine did not get ready in 300 s")
            for _ in range(100):  # one more second with the spare waiting
                start = time.perf_counter()
                await asyncio.sleep(TICK_S)
                lags.append(time.perf_counter() - start - TICK_S)
        apply = screen.results.apply

        def spy(events):
            now = time.perf_counter()
            for e in events:
                key = {"start": "start", "step": "step", "done": "final", "error": "final"}.get(e.kind)
                if key and key not in marks:
                    marks[key] = now
            return apply(events)

        screen.results.apply = spy  # type: ignore[method-assign]
        pressed = time.perf_counter()
        screen.action_run()
        warm_run = app.spares.child is None and warm
        while screen.child is not None:
            await asyncio.sleep(0.01)
        final = screen.final
    if final is None or final.kind != "done":
        why = getattr(final, "message", None) or f"not run: {screen.form.errors or 'no final event'}"
        raise RuntimeError(f"the app's {topic} run failed: {why}")
    return {
        **{f"to_{k}": v - pressed for k, v in marks.items()},
        "warm": warm_run,
        "lags": lags,
    }


def watch_figures(rounds: int) -> dict[str, Any]:
    """The issue-13 figures: `r` to first event/step/done with a warm spare (and cold), the
    engine's exit after its final event, and first frames from fresh processes."""
    training = {**CONFIG, "epochs": 3, "device": "cpu"}
    warm, cold, autograd, lags = [], [], [], []
    for _ in range(rounds):
        result = asyncio.run(_r_to("training", training, warm=True))
        warm.append(result)
        lags.extend(result["lags"])
        cold.append(asyncio.run(_r_to("training", training, warm=False)))
        autograd.append(asyncio.run(_r_to("autograd", {}, warm=True)))
    exits = [_engine_exit() for _ in range(5)]
    ms = [lag * 1000 for lag in lags]

    def med(runs, key):
        return round(statistics.median(r[key] for r in runs), 4)

    return {
        "r_to_first_event_s": med(warm, "to_start"),
        "r_to_first_step_s": med(warm, "to_step"),
        "autograd_r_to_done_s": med(autograd, "to_final"),
        "cold_r_to_first_event_s": med(cold, "to_start"),
        "warm_runs_handed_to_the_spare": sum(r["warm"] for r in warm + autograd),
        "engine_exit_after_done_s": round(statistics.median(exits), 4),
        "spare_lag_ms": {"p50": round(_pct(ms, 0.50), 2), "p99": round(_pct(ms, 0.99), 2), "ticks": len(ms)},
        **_first_frames(None, "process_first_frame"),
        **_first_frames("training", "topic_first_frame"),
        **_first_frames("training", "topic_form_live", live=True),
    }


def _first_frames(topic: str | None, name: str, n: int = 3, live: bool = False) -> dict[str, float]:
    compile_bytecode()
    runs = [process_first_frame_cpu(topic, live) for _ in range(n)]
    return {
        f"{name}_s": round(statistics.median(w for w, _ in runs), 4),
        f"{name}_cpu_s": round(statistics.median(c for _, c in runs), 4),
    }


def compile_bytecode() -> None:
    """Compile pttui's modules to bytecode, as `pip install` does, so a first frame is timed as
    an installed pttui shows it. An editable install run with PYTHONDONTWRITEBYTECODE=1 (as
    here) would otherwise compile ~40 modules from source at every start: 40-60 ms that no
    installed copy pays. The files go to __pycache__ beside the sources (git ignores them)."""
    import compileall

    import pttui.engine
    import pttui.tui

    for package in (pttui.engine, pttui.tui):
        for folder in package.__path__:
            compileall.compile_dir(folder, quiet=1)


def _engine_exit() -> float:
    """One headless autograd run: seconds from its final event on the pipe to its exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pttui.engine", "run", "autograd", "--json", "--no-record"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    last = None
    while True:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith((b'{"event":"done"', b'{"event":"error"')):
            last = time.perf_counter()
    proc.wait()
    ended = time.perf_counter()
    if last is None:
        raise RuntimeError("the headless autograd run printed no final event")
    return ended - last


def _swap_times(screen) -> list[float]:
    """ms the UI thread spent taking in each finished drawing of every chart (loss, boundary, histograms...)."""
    from pttui.tui.widgets.drawn_chart import DrawnChart

    return [ms for chart in screen.query(DrawnChart) for ms in chart.swap_ms]


def process_first_frame(topic: str | None = None) -> float:
    """Wall seconds from starting a fresh app process (tui.first_frame) to its first frame, headless."""
    return process_first_frame_cpu(topic)[0]


def process_first_frame_cpu(topic: str | None = None, live: bool = False) -> tuple[float, float]:
    """(wall seconds, CPU seconds of that process) to the first frame, or with `live` to the
    moment the topic's every field and tab is mounted. The CPU time barely depends on how
    loaded the machine is, the wall time very much does."""
    env = {**os.environ, "PTTUI_BENCH_T0": repr(time.time())}
    argv = [sys.executable, "-m", "pttui.tui.first_frame"] + ([topic] if topic else [])
    argv += ["--live"] if live and topic else []
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env)
    *_, cpu, wall = out.stdout.strip().splitlines()
    return float(wall), float(cpu)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def measure(rounds: int, epochs: int, threads: int, inside: bool = False) -> dict[str, Any]:
    values = _values(epochs, threads, inside)
    bare_s, headless_s, app_s, timed_s, lags, frames, redraws = [], [], [], [], [], [], []
    applies: list[float] = []
    apply_cpu: list[float] = []
    swaps: list[float] = []
    cpu_shares: list[float] = []
    rows = 0
    for _ in range(rounds):
        seconds, rows = bare(values)
        bare_s.append(seconds)
        headless_s.append(headless(values))
        result = asyncio.run(_app_run(values, lag=False))
        app_s.append(result["seconds"])
        frames.append(result["first_frame_s"])
        redraws.append(result["chart_redraws"])
        applies.extend(result["apply_ms"])
        apply_cpu.extend(result["apply_cpu_ms"])
        cpu_shares.append(result["app_cpu_share"])
        swaps.extend(result["swap_ms"])
        timed = asyncio.run(_app_run(values, lag=True))
        timed_s.append(timed["seconds"])
        lags.extend(timed["lags"])
    samples = (epochs - 1) * rows
    ms = [lag * 1000 for lag in lags]
    return {
        "app_vs_bare": round(statistics.median(b / a for b, a in zip(bare_s, app_s, strict=True)), 4),
        "app_vs_headless": round(statistics.median(h / a for h, a in zip(headless_s, app_s, strict=True)), 4),
        "bare_samples_per_s": round(samples / statistics.median(bare_s), 1),
        "headless_samples_per_s": round(samples / statistics.median(headless_s), 1),
        "app_samples_per_s": round(samples / statistics.median(app_s), 1),
        "app_with_lag_timer_samples_per_s": round(samples / statistics.median(timed_s), 1),
        "lag_ms": {
            "p50": round(_pct(ms, 0.50), 2),
            "p99": round(_pct(ms, 0.99), 2),
            "max": round(max(ms, default=float("nan")), 2),
            "ticks": len(ms),
        },
        "first_frame_s": round(statistics.median(frames), 4),
        "chart_redraws_per_run": statistics.median(redraws),
        # The UI thread's share of a redraw: routing a drained batch (results.apply), and taking
        # in a finished drawing of the boundary/histograms (the drawing itself is off-thread).
        "ui_apply_ms": {"p99": round(_pct(applies, 0.99), 2), "max": round(max(applies, default=0.0), 2)},
        "ui_apply_cpu_ms": {
            "p50": round(_pct(apply_cpu, 0.5), 2),
            "p99": round(_pct(apply_cpu, 0.99), 2),
            "max": round(max(apply_cpu, default=0.0), 2),
            "batches": len(apply_cpu),
        },
        "ui_swap_ms_max": round(max(swaps, default=0.0), 2),
        "app_cpu_share_of_a_core": round(statistics.median(cpu_shares), 4),
        "inside": inside,
        "rounds": rounds,
        "config": {
            **CONFIG,
            **(INSIDE if inside else OUTSIDE),
            "epochs": epochs,
            "threads": threads,
            "size": f"{SIZE[0]}x{SIZE[1]}",
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pttui bench --ui",
        description="Measure the app: training samples/s with the app drawing vs the bare loop and "
        "the headless engine, UI event-loop lag (a 10 ms timer) and time to first frame.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs per run (default {EPOCHS})")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the runs (0: default)")
    parser.add_argument("--quick", action="store_true", help="one round of 60 epochs")
    parser.add_argument(
        "--watch-only",
        action="store_true",
        help="only the warm-engine figures (r to first event/step/done, engine exit, first frames)",
    )
    parser.add_argument(
        "--inside",
        action="store_true",
        help="train spiral with the decision boundary, histograms (every 10 steps) and system events on",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.epochs < 2:
        parser.error("--rounds must be at least 1 and --epochs at least 2")
    rounds, epochs = (1, 60) if args.quick else (args.rounds, args.epochs)
    # The app records its runs like any other; these are not worth keeping.
    with tempfile.TemporaryDirectory(prefix="pttui-bench-ui-") as runs:
        os.environ["PTTUI_RUNS_DIR"] = runs
        if args.inside:  # issue 16's figures only: training spiral with the views inside on
            report = measure(rounds, epochs, args.threads, inside=True)
        else:
            report = {} if args.watch_only else measure(rounds, epochs, args.threads)
            report.update(watch_figures(rounds))
    if args.json:
        print(json.dumps(report))
        return 0
    if args.inside:
        lag = report["lag_ms"]
        print(
            f"spiral with boundary, histograms and system events: app_vs_bare {report['app_vs_bare']:.3f}, "
            f"UI lag p99 {lag['p99']} ms, UI thread per batch p99 {report['ui_apply_ms']['p99']} ms "
            f"(max {report['ui_apply_ms']['max']} ms), drawing swap-in max {report['ui_swap_ms_max']} ms",
            flush=True,
        )
        return 0
    print(
        f"r to the run's first event {report['r_to_first_event_s']:.3f} s with a warm engine "
        f"(cold {report['cold_r_to_first_event_s']:.3f} s); to the first step "
        f"{report['r_to_first_step_s']:.3f} s; autograd r to done {report['autograd_r_to_done_s']:.3f} s\n"
        f"engine exit after its final event {report['engine_exit_after_done_s']:.3f} s; UI lag while the "
        f"spare warms and waits: p99 {report['spare_lag_ms']['p99']} ms\n"
        f"first frame from a fresh process: topic list {report['process_first_frame_s'] * 1000:.0f} ms, "
        f"`pttui training` form {report['topic_first_frame_s'] * 1000:.0f} ms "
        f"(every field live {report['topic_form_live_s'] * 1000:.0f} ms)",
        flush=True,
    )
    if args.watch_only:
        return 0
    lag = report["lag_ms"]
    print(
        f"training with the app drawing: {report['app_samples_per_s']:,.0f} samples/s; bare loop "
        f"{report['bare_samples_per_s']:,.0f} (app_vs_bare {report['app_vs_bare']:.3f}); headless "
        f"engine {report['headless_samples_per_s']:,.0f} (app_vs_headless {report['app_vs_headless']:.3f})\n"
        f"UI lag of a 10 ms timer: p50 {lag['p50']} ms, p99 {lag['p99']} ms, max {lag['max']} ms "
        f"({lag['ticks']} ticks)\n"
        f"first frame: {report['first_frame_s'] * 1000:.0f} ms in-process",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
