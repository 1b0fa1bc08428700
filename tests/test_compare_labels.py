"""The compare legend: labels name the parameters that tell runs' curves apart."""

from __future__ import annotations

import os

from pttui.engine import events as ev
from pttui.engine.labs import get_lab
from pttui.engine.params import defaults, validate
from pttui.engine.runs import RunRecorder, read_run
from pttui.tui.compare import labels


def _run(**changed):
    """A run recorded by the engine's own recorder, with `changed` over the training defaults."""
    lab = get_lab("training")
    values = validate(lab.params, {**defaults(lab.params), **changed})
    recorder = RunRecorder.create("training", values, os.environ["PTTUI_RUNS_DIR"])
    assert recorder is not None
    recorder.on_event(ev.Start(0.0, "training", values, "cpu", "2.x"))
    recorder.on_event(ev.Done(1.0, {}))
    recorder.close()
    info = read_run(recorder.path)
    assert info is not None
    return info


def test_pace_is_no_label_when_other_parameters_differ_and_empty_reads_none():
    a = _run(epochs=50, pace=30.0, resume="")
    b = _run(epochs=80, pace=10.0)
    got = labels([a, b])
    assert got == ["epochs=50", "epochs=80"], got
    # pace alone tells them apart: then it is the label
    assert labels([_run(pace=30.0), _run(pace=10.0)]) == ["pace=30", "pace=10"]


def test_an_empty_value_reads_none(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"")  # resume takes a file that exists (conftest: cwd is tmp_path)
    got = labels([_run(resume=""), _run(resume="x.pt")])
    assert got[0] == "resume=none", got
