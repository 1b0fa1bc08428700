"""The README's reliability figures, measured: `python tests/measure_supervisor.py [--runs N]`.

Not a test (pytest does not collect it): it prints what the supervisor costs and how fast it
answers, each figure as the spread of N runs, so the README can quote them with this command.

- relay cost: samples/s of a training run (the defaults, 2 epochs: the default 20 took 9.5
  minutes at load 14) through the supervisor's relay, against the same run in one process (`pttui.engine.headless.main`, no supervisor), runs interleaved;
- exit after the final event: seconds from reading the `done` line to the process's exit,
  supervised (`python -m pttui.engine run`) and in one process;
- time to stop: a native op that ignores signals (`torch.zeros(1,1).expand(10**6,
  10**6).sum()`, run by the test lab `native` of tests/test_supervisor.py, since the tensors
  lab now refuses it before it runs): seconds from Ctrl-C (SIGINT to the group) to exit 130;
- memory at the ceiling: the test lab `hog` (50 MB a step, written) at `--max-mb 64`: the
  ceiling and what the run held when it was ended (from the error event).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

IN_PROCESS = "import sys; from pttui.engine.headless import main; sys.exit(main(sys.argv[1], sys.argv[2:]))"


def _cmd(supervised: bool, topic: str, *flags: str) -> list[str]:
    head = [sys.executable, "-m", "pttui.engine", "run"] if supervised else [sys.executable, "-c", IN_PROCESS]
    return [*head, topic, "--json", "--no-record", *flags]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(cmd: list[str]) -> tuple[dict, float]:
    """The final event, and seconds from reading it to the process's exit.

    Supervised, the final event's result also gets `cpu_supervisor_s` and `cpu_engine_s`.
    """
    from pttui.engine import proctree

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    final, read_at, engine, cpu = {}, time.monotonic(), None, {}
    for line in proc.stdout:
        if engine is None:
            engine = min(proctree.children(proc.pid), default=None)  # the engine forks first
        if line.startswith((b'{"event":"done"', b'{"event":"error"')):
            read_at = time.monotonic()
            if engine is not None:
                cpu = {"cpu_supervisor_s": _cpu_s(proc.pid), "cpu_engine_s": _cpu_s(engine)}
            final = json.loads(line)
            final.setdefault("result", {}).update(cpu)
    proc.wait()
    return final, time.monotonic() - read_at


def _spread(values: list[float], fmt: str = "{:.3f}") -> str:
    return f"median {fmt.format(statistics.median(values))} (min {fmt.format(min(values))}, max {fmt.format(max(values))})"


def relay_and_exit(runs: int) -> None:
    rates: dict[bool, list[float]] = {True: [], False: []}
    exits: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(runs):
        for supervised in (True, False):
            final, after = _run(_cmd(supervised, "training", "--epochs=2"))
            if supervised:
                cpu = (final["result"]["cpu_supervisor_s"], final["result"]["cpu_engine_s"])
            rates[supervised].append(final["result"]["samples_per_s"])
            exits[supervised].append(after)
    ratio = [s / u for s, u in zip(rates[True], rates[False], strict=True)]
    print(f"relay CPU: supervisor {cpu[0]:.2f} s beside the engine's {cpu[1]:.2f} s (last run)")
    print(f"relay: supervised {_spread(rates[True], '{:,.0f}')} samples/s")
    print(f"       one process {_spread(rates[False], '{:,.0f}')} samples/s; ratio {_spread(ratio)}")
    print(f"exit after done: supervised {_spread(exits[True])} s; one process {_spread(exits[False])} s")
    data = [_run(_cmd(s, "data", "--num-workers=2", "--epochs=2", "--no-sweep"))[1] for s in (True, False)]
    print(f"exit after done, data --num-workers 2: supervised {data[0]:.3f} s; one process {data[1]:.3f} s")


def _faulty(topic: str, *flags: str) -> subprocess.Popen:
    from test_supervisor import FAULTY_LABS  # the test labs: a hog, a native op, ...

    cmd = [sys.executable, "-c", FAULTY_LABS, topic, "--json", "--no-record", *flags]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def time_to_stop(runs: int) -> None:
    took = []
    for _ in range(runs):
        proc = _faulty("native")
        for line in proc.stderr:
            if b"hanging" in line:
                break
        time.sleep(0.5)  # inside the native sum by now
        asked = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        out = proc.stdout.read().splitlines()
        proc.wait()
        took.append(time.monotonic() - asked)
        last = json.loads(out[-1]) if out else {}
        assert proc.returncode == 130 and last.get("stopped"), (proc.returncode, last)
    print(f"time to stop a native op that ignores signals: {_spread(took)} s (exit 130, done stopped)")


def memory_ceiling(runs: int) -> None:
    for _ in range(runs):
        proc = _faulty("hog", "--max-mb=64")
        out = proc.stdout.read().splitlines()
        proc.wait()
        print(f"memory ceiling (exit {proc.returncode}): {json.loads(out[-1])['message']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("what", nargs="*", default=["relay", "stop", "ceiling"], help="relay, stop, ceiling")
    args = parser.parse_args()
    for what in args.what:
        {"relay": relay_and_exit, "stop": time_to_stop, "ceiling": memory_ceiling}[what](args.runs)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    main()
