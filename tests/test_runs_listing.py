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


def _listed_runs(root) -> list[str]:
    """Three recorded runs with long parameters, figures and a failure: a ~160-column listing."""
    now = datetime.now().astimezone()
    long_done = ev.Done(
        2.0, {"val_acc": 0.96, "val_loss": 0.11, "train_loss": 0.1177, "samples_per_s": 80597.0}
    )
    names = []
    for n, (params, last) in enumerate(
        (
            ({"epochs": 5, "batch_size": 32, "lr": 0.01}, long_done.to_json()),
            ({"epochs": 7, "model_spec": "examples/models.py:TabularNet"}, long_done.to_json()),
            ({"epochs": 9}, ev.Error(1.0, "device: 'cuda' is not allowed; " + "x" * 80).to_json()),
        )
    ):
        name = f"20261130-04492{n}-training-{n}a866{n}"
        path = root / name
        path.mkdir(parents=True)
        header = {"topic": "training", "params": params, "started": now.isoformat(), "pid": 0}
        (path / runs.PARAMS_FILE).write_text(json.dumps(header))
        (path / runs.EVENTS_FILE).write_text(last + "\n")
        names.append(name)
    return names


def test_the_listing_names_each_run_as_compare_and_export_take_it_and_fits_any_width(tmp_path):
    names = _listed_runs(tmp_path)
    for columns in (None, 80, 100, 120):  # None: piped with no COLUMNS (rich's 80)
        env = {"COLUMNS": str(columns)} if columns else {}
        if not columns:
            env["COLUMNS"] = ""
        out = pttui("runs", "--runs-dir", str(tmp_path), env=env)
        assert out.returncode == 0, out.stderr
        width = columns or 80
        wide = [line for line in out.stdout.splitlines() if len(line) > width]
        assert not wide, (columns, wide)
        for name in names:  # each run's short id is shown, whole, on a line of its own row
            assert any(
                line.split()[:1] == [name.rsplit("-", 1)[1]] or f"run {name.rsplit('-', 1)[1]}" in line
                for line in out.stdout.splitlines()
            ), (columns, name, out.stdout)
    first, second = (n.rsplit("-", 1)[1] for n in names[:2])
    out = pttui("runs", "compare", first, second, "--json", "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["runs"] == names[:2]


def test_compare_with_a_name_no_run_has_says_so_before_counting(tmp_path):
    _listed_runs(tmp_path)
    out = pttui("runs", "compare", "nosuch", "--runs-dir", str(tmp_path))
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("pttui runs compare: RUN: no run 'nosuch'"), line
