"""The supervisor of headless runs: crashes, stops past the grace, memory, time, orphans.

Each fault runs through the real `pttui.engine.supervisor.main` in a fresh interpreter. The
faulty labs are registered in that interpreter before it forks, so the engine child (a fork,
no exec) runs them exactly as it runs a shipped lab.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pttui.engine import proctree
from pttui.engine.lifecycle import EXIT_FAILED, EXIT_INTERRUPTED, STOP_GRACE_S
from pttui.engine.runs import list_runs

pytestmark = pytest.mark.skipif(not proctree.HAS_PROC, reason="the supervisor reads /proc (Linux)")

FAULTY_LABS = textwrap.dedent(
    """
    import os, signal, sys, time
    from pttui.engine.lab import Lab
    from pttui.engine.labs import all_labs
    from pttui.engine.params import Param

    def steps(ctx, n):
        ctx.start("cpu")
        for i in range(n):
            ctx.step(i, 0, 1.0 / (i + 1))
        ctx.epoch(0, 1, {"train_loss": 0.5})

    def crash(values, ctx):
        steps(ctx, 3)
        time.sleep(0.2)  # the relay has the steps before the crash
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(60)  # a signal sent to one's own process arrives a moment later

    def hang(values, ctx):
        steps(ctx, 2)
        print("hanging", file=sys.stderr, flush=True)
        while True:  # never looks at ctx.stopped
            time.sleep(0.05)

    def native(values, ctx):
        import torch
        steps(ctx, 1)
        print("hanging", file=sys.stderr, flush=True)
        # 10^12 additions in one native call: no Python runs until it returns.
        torch.zeros(1, 1).expand(1000000, 1000000).sum()
        return {"finished": True}

    def hog(values, ctx):
        steps(ctx, 1)
        kept = []
        for _ in range(80):  # 4 GB at most, should the ceiling not bind
            kept.append(b"x" * (50 << 20))  # written, so resident
            time.sleep(0.01)
        ctx.text("hog", "reached 4 GB unstopped")
        return {"finished": True}

    def slow(values, ctx):
        steps(ctx, 1)
        time.sleep(60)
        return {}

    MAX_MB = Param("max_mb", "int", 64, "MiB", low=1, high=4096)
    for name, fn, params, limit in (
        ("crash", crash, (), None),
        ("hang", hang, (), None),
        ("native", native, (), None),
        ("hog", hog, (MAX_MB,), None),
        ("slow", slow, (), 1.0),
    ):
        all_labs()[name] = Lab(name, name, "a faulty lab", 99, params, fn, lambda v: "", time_limit_s=limit)

    from pttui.engine.supervisor import main
    sys.exit(main(sys.argv[1], sys.argv[2:]))
    """
)


def _start(topic: str, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", FAULTY_LABS, topic, "--json", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: a Ctrl-C to it reaches the supervisor and the engine
    )


def _events(out: str) -> list[dict]:
    lines = out.splitlines()
    for line in lines:  # whole lines only: every line the relay passed is one JSON object
        json.loads(line)
    return [json.loads(line) for line in lines]


def _wait_for(proc: subprocess.Popen, word: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for line in proc.stderr:
        if word in line:
            return
        assert time.monotonic() < deadline, f"no {word!r} on stderr within {timeout} s"
    raise AssertionError(f"stderr closed before {word!r}")


def _end(proc: subprocess.Popen, timeout: float = 120) -> tuple[list[dict], str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return _events(out), err


def test_a_crash_becomes_an_error_event_and_a_crashed_record(tmp_path):
    proc = _start("crash", "--runs-dir", str(tmp_path))
    events, err = _end(proc)
    assert proc.returncode == EXIT_FAILED, err
    assert [e["event"] for e in events] == ["start", "step", "step", "step", "epoch", "error"]
    final = events[-1]
    assert final["cause"] == "crashed"
    assert "SIGSEGV" in final["message"] and "last event: epoch 0 of 1" in final["message"]
    [run] = list_runs(tmp_path)
    assert run.status == "crashed"


@pytest.mark.slow
def test_a_lab_that_ignores_a_stop_is_killed_after_the_grace_period(tmp_path):
    proc = _start("hang", "--runs-dir", str(tmp_path))
    _wait_for(proc, "hanging")
    asked = time.monotonic()
    proc.send_signal(signal.SIGTERM)  # the supervisor alone: it forwards the stop once
    events, err = _end(proc)
    took = time.monotonic() - asked
    assert proc.returncode == EXIT_INTERRUPTED, err
    final = events[-1]
    assert final["event"] == "done" and final["stopped"] is True
    assert final["result"]["train_loss"] == 0.5 and final["result"]["epochs_done"] == 1  # what was recorded
    assert took >= STOP_GRACE_S, f"killed after {took:.2f} s, before the grace of {STOP_GRACE_S} s"
    assert [r.status for r in list_runs(tmp_path)] == ["stopped"]


@pytest.mark.slow
def test_ctrl_c_ends_a_native_op_that_ignores_signals():
    proc = _start("native", "--no-record")
    _wait_for(proc, "hanging")
    time.sleep(0.3)  # inside the native sum by now
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground group
    events, err = _end(proc)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert events[-1]["event"] == "done" and events[-1]["stopped"] is True
    assert "finished" not in events[-1]["result"]


@pytest.mark.slow
def test_a_memory_hog_is_stopped_at_the_ceiling(tmp_path):
    proc = _start("hog", "--max-mb", "64", "--runs-dir", str(tmp_path))
    events, err = _end(proc)
    assert proc.returncode == EXIT_FAILED, err
    final = events[-1]
    assert final["event"] == "error" and final["cause"] == "memory" and final["field"] == "max_mb"
    assert "--max-mb 64" in final["message"]
    assert not any(e["event"] == "text" and e["title"] == "hog" for e in events), "the hog was never stopped"
    assert [r.status for r in list_runs(tmp_path)] == ["failed"]


def test_an_explicit_ceiling_names_its_flag():
    proc = _start("hog", "--ceiling-mb", "300", "--no-record")
    events, err = _end(proc)
    assert proc.returncode == EXIT_FAILED, err
    assert events[-1]["cause"] == "memory" and "--ceiling-mb 300" in events[-1]["message"]


def test_a_declared_time_limit_ends_the_run():
    proc = _start("slow", "--no-record")
    events, err = _end(proc)
    assert proc.returncode == EXIT_FAILED, err
    assert events[-1]["cause"] == "time" and "1 s" in events[-1]["message"]


def test_bad_flags_and_help_pass_through_the_supervisor():
    bad = subprocess.run(
        [sys.executable, "-m", "pttui.engine", "run", "training", "--epochs=0", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stdout == "" and "epochs" in bad.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "pttui.engine", "run", "training", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert helped.returncode == 0 and "--ceiling-mb" in helped.stdout


DATA_FLAGS = ("--num-workers=2", "--epochs=1000", "--no-sweep", "--sample-cost-us=200")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"  # a zombie has ended
    except OSError:
        return False


@pytest.mark.slow
def test_sigkill_of_a_run_leaves_no_process_behind():
    proc = subprocess.Popen(
        [sys.executable, "-m", "pttui.tui", "run", "data", "--json", "--no-record", *DATA_FLAGS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    tree: list[int] = []
    while len(tree) < 5:  # the engine, the watchdog, the forkserver, two workers (+ the tracker)
        assert proc.poll() is None and time.monotonic() < deadline, f"the workers did not start: {tree}"
        time.sleep(0.2)
        tree = [p for p in proctree.descendants([proc.pid]) if p != proc.pid]
    time.sleep(0.5)
    tree = [p for p in proctree.descendants([proc.pid]) if p != proc.pid]
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(map(_alive, tree)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in tree if _alive(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the run still alive 10 s after its SIGKILL: {left}"


APP = (
    "import os, subprocess, sys, time\n"
    "env = dict(os.environ, PTTUI_END_WITH_PARENT='1')  # as tui/child.py sets it\n"
    "cmd = [sys.executable, '-m', 'pttui.engine', 'run', 'training', '--epochs=1000', '--json', '--no-record']\n"
    "run = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)\n"
    "run.stdout.readline()  # the first event: torch is in\n"
    "print(run.pid, flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.mark.slow
def test_a_run_ends_when_the_app_that_started_it_is_killed():
    app = subprocess.Popen([sys.executable, "-c", APP], stdout=subprocess.PIPE, text=True)
    try:
        supervisor = int(app.stdout.readline())
        tree = proctree.descendants([supervisor])
        assert len(tree) >= 3, f"expected the supervisor, the engine and the watchdog: {tree}"
    finally:
        app.kill()
        app.wait()
    deadline = time.monotonic() + 60
    while any(map(_alive, tree)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in tree if _alive(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the run still alive 60 s after the app was killed: {left}"
