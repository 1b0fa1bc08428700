"""Runs kept on disk: every run recorded as it goes, listed with its status, read back whole,
and a run killed with SIGKILL still opens with at most its last second lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import pttui

from pttui.engine import events as ev
from pttui.engine import runs
from pttui.engine.labs import get_lab
from pttui.engine.runner import Runner

QUICK = ["--dataset", "moons", "--size", "200", "--threads", "1"]
TINY = dict(dataset="moons", size=200, hidden="8", epochs=2, threads=1, device="cpu")


def _record(runs_dir: Path, params=None, stop_after_steps: int | None = None):
    """Run the training lab in-process with a RunRecorder, as `pttui run` does."""
    from pttui.engine.params import validate
    from pttui.engine.sinks import Sink

    lab = get_lab("training")
    values = validate(lab.params, params or TINY)
    recorder = runs.RunRecorder.create(lab.name, values, runs_dir)
    sinks = [recorder]
    if stop_after_steps is not None:

        class Stopper(Sink):
            def on_event(self, event):
                if event.kind == "step" and event.step >= stop_after_steps:
                    runner.stop()

        sinks.append(Stopper())
    runner = Runner(lab, values, sinks)
    final = runner.run()
    return recorder.path, final


def test_a_headless_run_is_recorded_exactly(training_json_run, monkeypatch):
    out, runs_dir = training_json_run  # `pttui run training --json --epochs 2` + QUICK, PTTUI_RUNS_DIR set
    assert out.returncode == 0, out.stderr
    monkeypatch.setenv("PTTUI_RUNS_DIR", str(runs_dir))
    (run,) = runs.list_runs()  # the folder PTTUI_RUNS_DIR names, as the run's process saw it
    assert run.path.parent == runs_dir
    assert run.path.name.endswith(f"-training-{run.path.name.rsplit('-', 1)[1]}")
    header = json.loads((run.path / "params.json").read_text())
    assert set(header) == {"topic", "params", "started", "pid"}
    assert header["params"]["epochs"] == 2 and header["pid"] > 0
    # The file holds what --json printed, line for line.
    assert (run.path / "events.jsonl").read_text().splitlines() == out.stdout.splitlines()
    events = runs.read_events(run.path)
    assert [e.to_json() for e in events] == out.stdout.splitlines()
    assert (
        run.status == "done"
        and run.result["val_acc"] == json.loads(out.stdout.splitlines()[-1])["result"]["val_acc"]
    )


def test_statuses_done_stopped_failed_running(tmp_path):
    root = tmp_path / "r"
    done, _ = _record(root)
    stopped, final = _record(root, {**TINY, "epochs": 500}, stop_after_steps=3)
    assert isinstance(final, ev.Done) and final.stopped
    failed, final = _record(root, {**TINY, "device": "cuda:9"})
    assert isinstance(final, ev.Error)
    running = runs.RunRecorder.create("training", {"epochs": 1}, root)  # open: this pid is alive
    try:
        status = {info.path: info.status for info in runs.list_runs(root)}
        assert status == {done: "done", stopped: "stopped", failed: "failed", running.path: "running"}
        assert [i.path for i in runs.list_runs(root)] == [running.path, failed, stopped, done]  # newest first
        info = runs.read_run(done)
        assert info.topic == "training" and info.params["epochs"] == 2 and "val_loss" in info.result
        assert runs.read_run(failed).result == {}
    finally:
        running.close()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_run_loses_at_most_its_last_second(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "pttui.tui", "run", "training", "--json", "--epochs", "10000", *QUICK],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ),
    )
    printed: list[str] = []
    first_step_t = None
    try:
        for line in proc.stdout:
            printed.append(line.rstrip("\n"))
            event = json.loads(line)
            if event["event"] == "step" and first_step_t is None:
                first_step_t = event["t"]
            if first_step_t is not None and event["t"] > first_step_t + 2.5:  # a few timed flushes
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    (run,) = runs.list_runs()
    assert run.status == "killed" and run.result == {}
    recorded = [e.to_json() for e in runs.read_events(run.path)]
    # The same events in the same order (the run went on a little after our last read).
    assert recorded[: len(printed)] == printed[: len(recorded)]
    last_t = json.loads(printed[-1])["t"]
    kept = [line for line in printed if json.loads(line)["t"] <= last_t - 1.05]
    assert recorded[: len(kept)] == kept and len(kept) > 10


def test_a_torn_last_line_is_skipped(tmp_path):
    run, _ = _record(tmp_path / "r")
    events_file = run / "events.jsonl"
    whole = events_file.read_text()
    lines = whole.splitlines()
    events_file.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # cut mid-done
    events = runs.read_events(run)
    assert len(events) == len(lines) - 1 and events[-1].kind != "done"
    assert events[-1].to_json() == lines[-2]
    assert runs.read_run(run).status == "running"  # no done event, and the recording pid (ours) lives
    header = json.loads((run / "params.json").read_text())
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (run / "params.json").write_text(json.dumps({**header, "pid": int(gone.stdout)}))
    assert runs.read_run(run).status == "killed"


def test_the_recorder_flushes_once_a_second_without_new_events(tmp_path):
    recorder = runs.RunRecorder.create("training", {}, tmp_path / "r")
    try:
        recorder.on_event(ev.Step(0.1, 1, 0, 0.5))
        recorder.on_event(ev.Step(0.2, 2, 0, 0.4))
        time.sleep(1.6)  # no event comes; the timer must flush anyway
        assert len((recorder.path / "events.jsonl").read_text().splitlines()) == 2
        recorder.on_event(ev.Epoch(0.3, 0, 1, {"train_loss": 0.4}))  # epoch ends flush at once
        assert len((recorder.path / "events.jsonl").read_text().splitlines()) == 3
    finally:
        recorder.close()


def test_an_unwritable_runs_folder_warns_and_the_run_goes_on(tmp_path, capsys):
    # Tests run as root, where chmod does not stop writes: a folder under a file is unwritable.
    blocker = tmp_path / "plain-file"
    blocker.write_text("runs cannot live under a file")
    bad = blocker / "runs"
    rc, out, err = _headless(capsys, "--json", "--epochs", "1", "--runs-dir", str(bad), *QUICK)
    assert rc == 0, err
    assert str(bad) in err and "warning" in err
    assert all(json.loads(line)["event"] for line in out.splitlines())  # stdout: events only
    assert json.loads(out.splitlines()[-1])["event"] == "done"


def test_a_write_failure_mid_run_is_a_warning(tmp_path, capsys):
    recorder = runs.RunRecorder.create("training", {}, tmp_path / "r")

    class FullDisk:
        def write(self, text):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

        def close(self):
            pass

    recorder._stream.close()
    recorder._stream = FullDisk()
    recorder.on_event(ev.Text(0.0, "x", "y"))  # must not raise: the run goes on
    recorder.on_event(ev.Text(0.1, "x", "y"))
    recorder.close()
    err = capsys.readouterr().err
    assert err.count("stopped recording") == 1 and str(recorder.path) in err


def _headless(capsys, *argv):
    """`pttui run training ...` in this process (no torch import to wait for); (rc, out, err)."""
    from pttui.engine import headless

    capsys.readouterr()
    rc = headless.main("training", list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_no_record_keeps_nothing(tmp_path, capsys):
    rc, _, _ = _headless(capsys, "--json", "--epochs", "1", "--no-record", *QUICK)
    assert rc == 0
    assert runs.list_runs() == [] and not (tmp_path / "runs").exists()


def test_pttui_runs_lists_them(tmp_path):
    root = tmp_path / "listed"
    _record(root, {**TINY, "lr": 0.01})
    table = pttui("runs", "--runs-dir", str(root), env={"COLUMNS": "200"})  # room for every detail
    assert table.returncode == 0, table.stderr
    header, _rule, row = table.stdout.splitlines()[:3]
    assert header.split()[:3] == ["run", "when", "topic"]
    assert "training" in row and "lr=0.01" in row and "val_acc" in row and row.rstrip().endswith("done")
    listed = json.loads(pttui("runs", "--json", "--runs-dir", str(root)).stdout)
    assert len(listed) == 1 and listed[0]["status"] == "done" and listed[0]["params"]["lr"] == 0.01
    assert set(listed[0]) == {"path", "topic", "started", "params", "status", "result", "reason"}
    (tmp_path / "empty").mkdir()
    empty = pttui("runs", "--runs-dir", str(tmp_path / "empty"))
    assert empty.returncode == 0 and "no runs" in empty.stdout
    assert json.loads(pttui("runs", "--json", "--runs-dir", str(tmp_path / "empty")).stdout) == []
    missing = pttui("runs", "--runs-dir", str(tmp_path / "none"))  # named, not listed as empty
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_folders_that_are_not_runs_are_ignored(tmp_path):
    root = tmp_path / "r"
    _record(root)
    (root / "junk").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "params.json").write_text("{not json")
    (root / "notes.txt").write_text("hello")
    # junk (no record at all) is not a run; broken is a run folder whose record cannot be read
    assert sorted(i.status for i in runs.list_runs(root)) == ["done", "unreadable"]


def test_runs_dir_comes_from_the_flag_then_the_environment(tmp_path, monkeypatch):
    assert runs.resolve_runs_dir("x") == Path("x")
    monkeypatch.setenv("PTTUI_RUNS_DIR", str(tmp_path / "env"))
    assert runs.resolve_runs_dir() == tmp_path / "env"
    monkeypatch.delenv("PTTUI_RUNS_DIR")
    assert runs.resolve_runs_dir() == Path("runs")
