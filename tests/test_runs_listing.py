"""`pttui runs` says what is true of the folder it lists and of each run in it: a runs folder
that is a file or not there, a garbage events file, a run reached twice through a symlink, and
a recorder's pid that another process now has (pid reuse)."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta

from conftest import pttui

from pttui.engine import events as ev
from pttui.engine import proctree, runs


def _run(root, name, started: datetime, pid: int, events: str = "") -> None:
    path = root / name
    path.mkdir(parents=True)
    header = {"topic": "training", "params": {}, "started": started.isoformat(), "pid": pid}
    (path / runs.PARAMS_FILE).write_text(json.dumps(header))
    (path / runs.EVENTS_FILE).write_text(events)


def test_a_runs_folder_that_is_a_file_or_missing_is_named_not_called_empty(tmp_path):
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0\n")
    for args, env, words in (
        (["--runs-dir", str(a_file)], {}, "--runs-dir: '" + str(a_file) + "' is not a folder"),
        (
            ["--runs-dir", str(tmp_path / "none")],
            {},
            "--runs-dir: '" + str(tmp_path / "none") + "' does not exist",
        ),
        (
            [],
            {runs.ENV_VAR: str(tmp_path / "none")},
            "$PTTUI_RUNS_DIR: '" + str(tmp_path / "none") + "' does not exist",
        ),
    ):
        out = pttui("runs", *args, env=env, cwd=tmp_path)
        assert out.returncode == 2 and out.stdout == "", (args, out.stdout)
        assert out.stderr.strip() == f"pttui runs: {words}; give the folder runs are recorded in"
    out = pttui("runs", cwd=tmp_path, env={runs.ENV_VAR: ""})  # the default ./runs: no run yet
    assert out.returncode == 0 and "no runs recorded" in out.stdout and "does not exist yet" in out.stdout


def test_garbage_events_read_as_unreadable_not_killed(tmp_path):
    now = datetime.now().astimezone()
    _run(tmp_path, "garbage", now, 0, "\x00\x01 not an event\n{also not\n")
    _run(tmp_path, "empty", now, 0, "")  # killed before its first event: killed is true
    status = {i.path.name: runs.status_text(i) for i in runs.list_runs(tmp_path)}
    assert status == {
        "garbage": "unreadable (events.jsonl holds no event that can be read)",
        "empty": "killed",
    }


def test_a_run_reached_through_a_symlink_is_listed_once(tmp_path):
    done = ev.Done(1.0, {"val_acc": 0.5}).to_json() + "\n"
    _run(tmp_path, "20260101-run", datetime.now().astimezone(), 0, done)
    os.symlink(tmp_path / "20260101-run", tmp_path / "zz-link")
    assert [i.path.name for i in runs.list_runs(tmp_path)] == ["20260101-run"]


def test_a_pid_that_another_process_now_has_is_not_the_run_still_running(tmp_path):
    began = proctree.start_time(os.getpid())
    if began is None:  # no /proc here: pid_alive alone decides, as before
        return
    mine = datetime.fromtimestamp(began).astimezone()
    # Recorded an hour before this process began: the recorder was another process of this pid.
    _run(tmp_path, "reused", mine - timedelta(hours=1), os.getpid())
    # Recorded after this process began: this process may be its recorder, still running.
    _run(tmp_path, "mine", mine + timedelta(seconds=1), os.getpid())
    status = {i.path.name: i.status for i in runs.list_runs(tmp_path)}
    assert status == {"reused": runs.KILLED, "mine": runs.RUNNING}
    assert 0 <= time.time() - began < 24 * 3600  # this test process began, as /proc says, today
