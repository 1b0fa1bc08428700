"""torch.profiler leaves the screen and the working folder alone: kineto's `USDT: ...
profiler_start/stop` lines are caught like quantization's C-level output, and a run that keeps
no record (`--no-record`) writes its trace under the temporary folder and says where."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import pttui

QUICK = ["--dataset", "spiral", "--size", "1000", "--epochs", "1", "--threads", "1", "--no-boundary"]


@pytest.mark.slow
@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_a_profiled_run_prints_only_its_own_lines_and_keeps_no_runs_folder(tmp_path, json_mode):
    args = ["run", "training", *QUICK, "--profile", "3", "--no-record"] + (["--json"] if json_mode else [])
    out = pttui(*args, cwd=tmp_path, env={"COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    assert "USDT" not in out.stderr and "profiler_start" not in out.stderr, out.stderr
    assert "USDT" not in out.stdout and "profiler_stop" not in out.stdout
    assert not (tmp_path / "runs").exists()  # --no-record keeps nothing here
    if json_mode:
        events = [json.loads(line) for line in out.stdout.splitlines()]  # every line an event
        (done,) = [e for e in events if e["event"] == "done"]
        trace = Path(done["result"]["trace"])
    else:
        trace = Path(re.search(r"trace\s+(\S+-trace\.json)", out.stdout)[1])
    try:
        assert trace.is_file() and trace.is_absolute()
        assert json.loads(trace.read_text())["traceEvents"]  # a Chrome trace that opens
    finally:
        trace.unlink(missing_ok=True)


@pytest.mark.slow
def test_a_recorded_profiled_run_keeps_its_trace_beside_its_record(tmp_path):
    out = pttui("run", "training", *QUICK, "--profile", "3", "--json", "--runs-dir", "kept", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout.splitlines()[-1])
    trace = Path(done["result"]["trace"])
    assert (tmp_path / trace if not trace.is_absolute() else trace).parent == tmp_path / "kept" / "traces"
