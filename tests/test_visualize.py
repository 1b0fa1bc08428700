"""The visualization lab: graph, summary, a short run, and TensorBoard when it is installed."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
from conftest import pttui, run_lab

from pttui.engine import events as ev

HAVE_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def test_graph_summary_and_short_run(tmp_path):
    final, sink = run_lab("visualize", model="simplenet", steps=5, dot=str(tmp_path / "g.dot"))
    assert isinstance(final, ev.Done), final
    r = final.result
    assert r["steps"] == 5 and len(sink.of("step")) == 5 and r["total_params"] == 64 * 10 + 10
    (tree,) = sink.of("tree")
    assert tree.root["label"] == "AddmmBackward0"
    assert (tmp_path / "g.dot").read_text().count("[label=") == tree.root["nodes"]
    assert any(t.title.startswith("totals") for t in sink.of("table"))


@pytest.mark.skipif(not HAVE_TENSORBOARD, reason="the optional tensorboard extra is not installed")
def test_tensorboard_export_has_scalars_and_graph(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = tmp_path / "tb"
    final, sink = run_lab("visualize", model="mlp", steps=7, logdir=str(logdir))
    assert final.result["tensorboard"] == str(logdir)
    assert final.result["tensorboard_command"] == f"tensorboard --logdir {logdir}"
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    losses = [e.value for e in acc.Scalars("loss/train")]
    assert len(losses) == 7 and losses[0] == pytest.approx(final.result["first_loss"], rel=1e-6)
    assert acc.Graph() is not None  # add_graph wrote the traced model
    assert any("tensorboard --logdir" in t.body for t in sink.of("text"))


@pytest.mark.skipif(not HAVE_TENSORBOARD, reason="the optional tensorboard extra is not installed")
def test_default_logdir_is_under_the_runs_folder(tmp_path):
    final, _ = run_lab("visualize", model="dynamic", steps=2)
    assert final.result["tensorboard"].startswith(str(tmp_path / "runs" / "tensorboard" / "dynamic-"))


def test_without_tensorboard_one_line_says_how_to_add_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    final, sink = run_lab("visualize", model="simplenet", steps=3)
    assert isinstance(final, ev.Done) and final.result["tensorboard"] is None
    lines = [t.body for t in sink.of("text") if t.title == "tensorboard"]
    assert lines == [
        "TensorBoard export skipped: the tensorboard package is not installed "
        "(pip install 'pttui[tensorboard]')"
    ]
    assert final.result["steps"] == 3  # the rest of the lab still ran


def test_lstm_trains_after_torchsummary_fails():
    # torchsummary leaves its hooks on a model when it fails; they must not break training.
    final, sink = run_lab("visualize", model="lstm", steps=3)
    assert isinstance(final, ev.Done), final
    assert "cannot summarise" in final.result["torchsummary"] and final.result["steps"] == 3
    if HAVE_TENSORBOARD:
        assert not [t for t in sink.of("text") if "add_graph failed" in t.body]


@pytest.mark.slow
def test_cli_json(tmp_path):
    proc = pttui(
        "run", "visualize", "--json", "--no-record", "--steps", "3", "--logdir", str(tmp_path / "tb")
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["event"] == "done" and events[-1]["result"]["steps"] == 3
    assert {"tree", "table", "step"} <= {e["event"] for e in events}
