"""Hostile run folders: `pttui runs` and the app's `h` screen list what they cannot read as
`unreadable (reason)`, never block on a FIFO, never crash; a recorder that gave up says so."""

from __future__ import annotations

import json
import os
import time

import pytest
from conftest import pttui
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pttui.engine import events as ev
from pttui.engine import runs
from pttui.tui.app import PlaygroundApp
from pttui.tui.screens.runs import RunsScreen
from tests.test_app import sync

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def _folder(root, name, header=None, events=None):
    path = root / name
    path.mkdir(parents=True)
    if header is not None:
        (path / runs.PARAMS_FILE).write_text(header if isinstance(header, str) else json.dumps(header))
    if events is not None:
        (path / runs.EVENTS_FILE).write_text(events)
    return path


def _header(**changes):
    base = {"topic": "training", "params": {"lr": 0.01}, "started": "2026-01-01T00:00:00+00:00", "pid": 0}
    return {**base, **changes}


def _hostile(root):
    """One folder per way a record can be hostile; returns {name: expected status words}."""
    done = ev.Done(1.0, {"val_acc": 0.5}).to_json() + "\n"
    _folder(root, "pid-1e30", _header(pid=1e30), done)
    _folder(root, "hidden-int", _header(params={"hidden": 7, "lr": 0.01}), done)
    _folder(root, "params-list", [1, 2, 3], done)
    _folder(root, "not-json", "{not json", done)
    _folder(root, "one-long-line", _header(), "x" * (9 << 20))
    expected = {
        "pid-1e30": "unreadable (params.json: pid 1e+30 is not a process id)",
        "hidden-int": "done",
        "params-list": "unreadable (params.json holds a list, not an object)",
        "not-json": "unreadable",
        "one-long-line": "unreadable (events.jsonl holds no event that can be read)",
    }
    if hasattr(os, "mkfifo"):
        os.mkfifo(_folder(root, "fifo-events", _header()) / runs.EVENTS_FILE)
        fifo_params = _folder(root, "fifo-params")
        os.mkfifo(fifo_params / runs.PARAMS_FILE)
        expected["fifo-events"] = "unreadable (events.jsonl is a FIFO (named pipe), not a regular file)"
        expected["fifo-params"] = "unreadable (params.json is a FIFO (named pipe), not a regular file)"
    return expected


def test_every_hostile_folder_is_listed_without_blocking_or_raising(tmp_path):
    expected = _hostile(tmp_path)
    started = time.monotonic()
    listed = {i.path.name: runs.status_text(i, limit=200) for i in runs.list_runs(tmp_path)}
    took = time.monotonic() - started
    assert took < 30, f"listing took {took:.1f} s (a FIFO or a huge file was read)"
    for name, words in expected.items():
        assert listed[name].startswith(words), (name, listed[name])
    for info in runs.list_runs(tmp_path):
        runs.key_params(info)  # a params.hidden that is an int is shown, not raised
        runs.final_figures(info)
        assert runs.read_events(info.path) is not None


def test_pttui_runs_lists_them_with_exit_0_and_no_traceback(tmp_path):
    expected = _hostile(tmp_path)
    out = pttui("runs", "--runs-dir", str(tmp_path), timeout=60)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert out.stdout.count("unreadable") == sum("unreadable" in w for w in expected.values())
    listed = json.loads(pttui("runs", "--json", "--runs-dir", str(tmp_path), timeout=60).stdout)
    assert {i["status"] for i in listed} <= set(runs.STATUSES)


def test_a_recorder_that_gave_up_is_failed_with_its_reason(tmp_path):
    recorder = runs.RunRecorder.create("training", {}, tmp_path)
    recorder.on_event(ev.Text(0.0, "x", "y"))

    class FullDisk:
        def write(self, text):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

        def close(self):
            pass

    recorder._stream.close()
    recorder._stream = FullDisk()
    recorder.on_event(ev.Done(1.0, {}))
    recorder.close()
    (info,) = runs.list_runs(tmp_path)
    assert info.status == runs.FAILED
    assert runs.status_text(info, limit=200) == "failed (recorder: [Errno 28] No space left on device)"


@needs_fifo
@sync
async def test_the_app_lists_hostile_runs_and_keeps_running():
    root = runs.resolve_runs_dir()
    _hostile(root)
    app = PlaygroundApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("h")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        unreadable = [i for i in screen.infos if i.status == runs.UNREADABLE]
        assert len(unreadable) >= 4
        screen.query_one("DataTable").move_cursor(row=screen.infos.index(unreadable[0]))
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.screen is screen  # refused with a notification, still on the runs screen
        assert any("cannot be read" in n.message for n in app._notifications)
    assert app.return_code in (0, None)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.one_of(
        JSON_VALUES,
        st.fixed_dictionaries(
            {"topic": st.sampled_from(["training", "tensors", "nope"]), "started": st.text(max_size=30)},
            optional={"params": JSON_VALUES, "pid": JSON_VALUES},
        ),
    ),
    events=st.binary(max_size=300),
)
def test_any_params_and_events_list_without_raising(tmp_path_factory, header, events):
    root = tmp_path_factory.mktemp("runs")
    path = root / "run"
    path.mkdir()
    (path / runs.PARAMS_FILE).write_text(json.dumps(header))
    (path / runs.EVENTS_FILE).write_bytes(events)
    (info,) = runs.list_runs(root)
    assert info.status in runs.STATUSES
    runs.status_text(info)
    runs.key_params(info)
    runs.final_figures(info)
    runs.read_events(path)
