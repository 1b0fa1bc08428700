"""The data lab: what a DataLoader hands out, the sweep, and that no worker outlives a run."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time

import pytest
from conftest import run_lab

from pttui.engine import events as ev
from pttui.engine.labs import get_lab
from pttui.engine.labs.data import CPUS
from pttui.engine.params import validate

# 320 training samples (the 2-D sets keep 80% of `size`).
TINY = dict(dataset="moons", size=400, batch_size=64, epochs=1, sweep=False, seed=3)


def summary(sink, title):
    return next(t.body for t in sink.of("text") if t.title == title)


def test_batches_last_batch_and_first_batch():
    final, sink = run_lab("data", **{**TINY, "batch_size": 100})
    assert isinstance(final, ev.Done), final
    r = final.result
    assert (r["samples"], r["batches"], r["last_batch"]) == (320, 4, 20)
    body = summary(sink, "batches")
    assert "4 batches per epoch; the last holds 20 sample(s)" in body
    assert "first batch: x [100, 2], y [100]" in body
    first, second = re.findall(r"first labels, epoch \d: (\[.*\])", body)
    assert first != second and "order changed" in body
    assert r["samples_per_s"] > 0


def test_without_shuffle_every_epoch_has_the_same_order():
    _, sink = run_lab("data", **{**TINY, "shuffle": False})
    body = summary(sink, "batches")
    first, second = re.findall(r"first labels, epoch \d: (\[.*\])", body)
    assert first == second and "shuffle off" in body


def test_drop_last_drops_the_short_batch():
    final, sink = run_lab("data", **{**TINY, "batch_size": 100, "drop_last": True})
    assert (final.result["batches"], final.result["last_batch"]) == (3, 100)
    assert "(20 dropped by drop_last)" in summary(sink, "batches")


def test_pin_memory_without_cuda_says_so_once():
    final, sink = run_lab("data", **{**TINY, "pin_memory": True, "device": "cpu"})
    assert isinstance(final, ev.Done)
    notes = [t for t in sink.of("text") if "pin_memory" in t.body]
    assert len(notes) == 1 and "no effect here" in notes[0].body


def test_sweep_measures_every_cell_and_names_the_best():
    final, sink = run_lab("data", **{**TINY, "sweep": True, "sweep_workers": "0,1", "sweep_batch": "32,160"})
    assert isinstance(final, ev.Done), final
    (table,) = sink.of("table")
    assert [(row[0], row[1]) for row in table.rows] == [(0, 32), (0, 160), (1, 32), (1, 160)]
    assert all(row[2] > 0 for row in table.rows)
    assert table.columns[3:5] == ["IQR", "vs num_workers=0"]
    assert table.rows[0][4] == "baseline"
    vs = table.rows[2][4].replace(" faster", "")
    assert vs == "unreliable" or re.match(r"(slower: |about the same \(|)\d+\.\d\dx", vs)
    for row, cell in zip(table.rows, final.result["sweep"], strict=True):
        spread = cell["samples_per_s_spread"]  # every speed carries its spread over the epochs
        assert spread["min"] - 1 <= row[2] <= spread["max"] + 1 and spread["rounds"] >= TINY["epochs"]
    best = final.result["best"]
    assert (best["num_workers"], best["batch_size"]) in [(row[0], row[1]) for row in table.rows]
    assert final.result["start_method"] in ("forkserver", "spawn")
    # the first batch's wait is a time scaled by engine.numbers (`3.2 ms`), not `0.003` s (issue 14)
    from pttui.engine import numbers

    assert table.columns[5] == "first batch"
    for row, cell in zip(table.rows, final.result["sweep"], strict=True):
        assert row[5] == numbers.field("startup_s", cell["startup_s"]) and row[5].endswith(("s", "ms", "µs"))


def test_more_workers_than_cpus_is_a_parameter_error():
    from pttui.engine.params import ParamError

    with pytest.raises(ParamError) as err:
        validate(get_lab("data").params, {"num_workers": CPUS + 1})
    assert err.value.field == "num_workers"


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line), read from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
        found[int(entry)] = (int(fields[1]), fields[0], cmd)
    return found


def _live_workers(root: int) -> set[int]:
    """Living descendants of `root`, except the forkserver and resource tracker, which
    multiprocessing keeps for the life of the process (they are not workers)."""
    procs = _processes()
    out, stack = set(), [root]
    while stack:
        parent = stack.pop()
        for pid, (ppid, state, cmd) in procs.items():
            if ppid != parent:
                continue
            stack.append(pid)
            helper = parent == root and ("forkserver" in cmd or "resource_tracker" in cmd)
            if state != "Z" and not helper:
                out.add(pid)
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_workers_end_when_the_run_is_stopped():
    from pttui.engine.runner import Runner

    me = os.getpid()
    before = _live_workers(me)
    values = {**TINY, "num_workers": min(2, CPUS), "sample_cost_us": 300, "epochs": 1000}
    runner = Runner(get_lab("data"), values).start()
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    while len(seen) < values["num_workers"] and time.monotonic() < deadline:
        seen |= _live_workers(me) - before
        time.sleep(0.02)
    assert len(seen) >= values["num_workers"], "the workers never started"
    runner.stop()
    assert runner.join(30)
    assert isinstance(runner.last, ev.Done) and runner.last.stopped
    assert not (_live_workers(me) & seen), "worker processes outlived the run"


def test_workers_start_when_stderr_has_no_file_descriptor(monkeypatch):
    # Textual replaces sys.stderr with an object that has no real fileno().
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    final, _ = run_lab("data", **{**TINY, "num_workers": 1})
    assert isinstance(final, ev.Done), final
    assert final.result["samples_per_s"] > 0


@pytest.mark.parametrize("extra", [{}, {"num_workers": 1, "sample_cost_us": 10, "drop_last": True}])
def test_exported_script_runs(tmp_path, extra):
    lab = get_lab("data")
    values = validate(lab.params, {**TINY, "batch_size": 100, **extra})
    script = tmp_path / "data.py"
    script.write_text(lab.code(values))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    batches = 3 if extra.get("drop_last") else 4
    assert f"320 samples, {batches} batches per epoch" in out.stdout
    assert "first batch x [100, 2] y [100]" in out.stdout
    assert re.search(r"\d+ samples/s", out.stdout)


@pytest.mark.slow
def test_a_stop_that_reaches_the_workers_is_a_stop_not_a_failure():
    # Ctrl-C (or the app's stop) reaches the whole process group, DataLoader workers included.
    # The workers ignore it, so the lab stops at its next batch instead of failing on an EOFError.
    import os
    import signal
    import threading

    import torch
    from torch.utils.data import TensorDataset

    from pttui.engine.context import Context
    from pttui.engine.labs.data import make_loader, measure, shut_down

    dataset = TensorDataset(torch.randn(4000, 8), torch.arange(4000) % 3)
    values = {"shuffle": True, "drop_last": False}
    loader = make_loader(dataset, 16, values, 2, False, 0)
    batches = iter(loader)
    next(batches), next(batches)  # batches come in order, one per worker: both workers are up
    workers = [w.pid for w in loader._iterator._workers]
    assert len(workers) == 2
    for pid in workers:
        os.kill(pid, signal.SIGINT)
    # They are alive and keep serving batches after the interrupt.
    for _ in range(20):
        next(batches)
    assert all(w.is_alive() for w in loader._iterator._workers)
    stop = threading.Event()
    stop.set()
    m = measure(loader, 1, Context("data", {}, lambda e: None, stop), "cpu", None)
    assert m.last_batch == 16  # it took one batch, saw the stop, and ended without raising
    shut_down(loader)
