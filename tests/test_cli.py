"""The `pttui` command as a user meets it: real processes, real exit codes, real JSON."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, pttui

LIGHT = "import sys, runpy; sys.argv = {argv!r}; \ntry:\n    runpy.run_module('pttui.tui', run_name='__main__')\nexcept SystemExit: pass\nassert 'torch' not in sys.modules, 'torch imported'\nassert 'textual' not in sys.modules, 'textual imported'\nprint('LIGHT')"


@pytest.mark.parametrize(
    "argv",
    [
        ["pttui", "--help"],
        ["pttui", "topics"],
        ["pttui", "topics", "--json"],
        ["pttui", "run", "training", "--help"],
    ],
)
def test_help_and_topics_stay_light(argv):
    out = subprocess.run(
        [sys.executable, "-c", LIGHT.format(argv=argv)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "LIGHT" in out.stdout


def test_engine_never_imports_textual():
    code = "import pttui.engine.labs, pttui.engine.runner, pttui.engine.headless; pttui.engine.labs.all_labs(); import sys; assert 'textual' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr


def test_topics_json_lists_training():
    out = pttui("topics", "--json")
    names = [t["name"] for t in json.loads(out.stdout)]
    assert "training" in names


def test_run_json_is_events_only(training_json_run):
    out, _ = (
        training_json_run  # `pttui run training --json --epochs 2 --dataset moons --size 200 --threads 1`
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "step" in kinds and "epoch" in kinds
    assert all("t" in e for e in events)
    assert events[0]["params"]["epochs"] == 2 and events[0]["device"] == "cpu" and events[0]["torch"]
    assert events[-1]["stopped"] is False and events[-1]["result"]["steps"] > 0


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--lr", "fast"),
        ("--batch-size", "0"),
        ("--epochs", "-1"),
        ("--dataset", "mnist"),
        ("--hidden", "a,b"),
        ("--device", "tpu"),
        ("--amp", "int4"),
        ("--seed", "1.5"),
    ],
)
def test_bad_values_exit_2_naming_the_field(flag, value):
    out = pttui("run", "training", flag, value, timeout=60)
    assert out.returncode == 2
    field = flag[2:].replace("-", "_")
    assert f"{field}: {value!r} is not allowed" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_device_exits_2():
    out = pttui("run", "training", "--device", "cuda", "--json", "--epochs", "1")
    assert out.returncode == 2
    assert "device" in out.stderr and "Traceback" not in out.stderr
    if out.stdout:  # a CUDA build without a GPU: the run says it, as an error event
        assert json.loads(out.stdout.splitlines()[-1])["field"] == "device"
    else:  # a CPU-only build: refused with the other bad values, before the run (engine.early)
        assert out.stderr.startswith("pttui run training: device: 'cuda' is not allowed")


def test_unknown_topic_exits_2():
    out = pttui("run", "nosuch")
    assert out.returncode == 2 and "training" in out.stderr


def test_human_output_shows_a_result(training_human_run):
    out = training_human_run  # `pttui run training --epochs 2 ...` without --json
    assert out.returncode == 0, out.stderr
    assert "val_acc" in out.stdout and "epoch 2/2" in out.stdout


def test_interrupt_stops_and_exits_130():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui",
            "run",
            "training",
            "--json",
            "--epochs",
            "10000",
            "--dataset",
            "moons",
            "--threads",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
    )
    for line in proc.stdout:
        if '"event":"step"' in line:
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    last = json.loads(out.splitlines()[-1])
    assert last["event"] == "done" and last["stopped"] is True


def test_export_script_writes_a_file(tmp_path):
    target = tmp_path / "train.py"
    out = pttui("run", "training", "--export-script", str(target), "--epochs", "1")
    assert out.returncode == 0
    assert "optimizer.step()" in target.read_text()


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["human", "json"])
def test_a_reader_that_leaves_early_ends_the_run(mode, tmp_path):
    """`pttui run training | head -1` ends quietly with 141, recorded "stopped (reader gone)"."""
    from pttui.engine import runs
    from pttui.engine.lifecycle import EXIT_READER_GONE

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pttui.tui",
            "run",
            "training",
            "--epochs",
            "10000",
            *mode,
            "--runs-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=dict(os.environ),
    )
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == EXIT_READER_GONE, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    (info,) = runs.list_runs(tmp_path)
    assert info.status == runs.STOPPED_READER_GONE


@pytest.mark.parametrize("module", ["pttui.engine", "pttui.tui"])  # the app's child; `pttui run`
@pytest.mark.parametrize("after_s", [0.05, 0.3])
def test_interrupt_while_starting_is_a_stop_not_a_failure(after_s, module):
    """The app's stop (or Ctrl-C) can land while the run still imports: exit 130, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "run", "autograd", "--json", "--no-record"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
    )
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if "init_import_site" in err:
        # On a loaded machine the signal can land while CPython still imports `site`, before any
        # code of ours exists; the interpreter then aborts on its own (exit 1). Nothing to assert
        # about pttui there; the app's Child counts an engine gone before its first line as stopped.
        assert proc.returncode == 1 and "pttui" not in err.split("Fatal Python error")[0], err
        return
    # -2: the signal came before Python installed its handler (the app counts that as a stop
    # too); 0 only if the run had already finished.
    assert proc.returncode in (0, 130, -signal.SIGINT), err
    if proc.returncode == -signal.SIGINT and err.rstrip().endswith("KeyboardInterrupt"):
        # Landed while runpy still looked for the module (seen at load 11): CPython's own frames
        # only, before any line of pttui runs. A frame of ours in it would be our window to close.
        files = re.findall(r'File "([^"]+)"', err)
        assert files and all(f.startswith("<frozen") for f in files), err
        return
    assert "Traceback" not in err


@pytest.mark.parametrize("where", ["missing/g.dot", "."])
def test_a_file_the_run_would_write_is_checked_before_the_run(where, tmp_path):
    # --dot under a missing folder, or naming a folder: refused at once (exit 2), nothing run.
    out = pttui("run", "autograd", "--dot", where, "--no-record", "--json")
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "dot" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == "", "the lab ran before the path was checked"
