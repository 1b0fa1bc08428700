"""The dynamic-graphs lab: one module, a different graph per call, gradients only where it ran."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import pttui, run_lab

from pttui.engine import events as ev
from pttui.engine.labs import get_lab
from pttui.engine.params import validate

ALL = ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"]


def _labels(node, out=None):
    out = set() if out is None else out
    stack = [node]
    while stack:
        n = stack.pop()
        out.add(n["label"])
        stack.extend(n.get("children", []))
    return out


def test_second_layer_used():
    final, sink = run_lab("dynamic")
    assert isinstance(final, ev.Done), final
    assert final.result["grad_params"] == ALL and final.result["no_grad_params"] == []
    labels = _labels(sink.of("tree")[0].root)
    assert {"linear2.weight", "linear2.bias", "AddmmBackward0", "ReluBackward0"} <= labels


def test_second_layer_skipped_gets_no_gradient():
    final, sink = run_lab("dynamic", use_second_layer=False)
    assert final.result["no_grad_params"] == ["linear2.weight", "linear2.bias"]
    assert final.result["grad_params"] == ["linear1.weight", "linear1.bias"]
    assert "linear2.weight" not in _labels(sink.of("tree")[0].root)
    params = next(t for t in sink.of("table") if t.title.startswith("parameters"))
    assert [r[2] for r in params.rows if r[0].startswith("linear2")] == [
        "no grad (None): not used in this call"
    ] * 2


def test_graphs_are_built_per_call():
    used, _ = run_lab("dynamic", use_second_layer=True)
    skipped, sink = run_lab("dynamic", use_second_layer=False)
    assert used.result["nodes"] > skipped.result["nodes"]
    # The lab also calls the same module with the other choice: the other run's graph.
    assert skipped.result["other_call"]["nodes"] == used.result["nodes"]
    assert used.result["other_call"]["nodes"] == skipped.result["nodes"]
    table = next(t for t in sink.of("table") if t.title.startswith("graphs are built per call"))
    assert len(table.rows) == 2 and table.rows[0][1] != table.rows[1][1]


def test_loop_graph_grows_with_repeat():
    three, _ = run_lab("dynamic", model="loop", repeat=3)
    four, _ = run_lab("dynamic", model="loop", repeat=4)
    # Each pass adds AddmmBackward0, TBackward0 and TanhBackward0; the weights are shared.
    assert four.result["fn_nodes"] - three.result["fn_nodes"] == 3
    assert three.result["node_counts"]["TanhBackward0"] == 3
    assert three.result["node_counts"]["AccumulateGrad"] == 2


def test_repeat_zero_records_no_graph():
    final, sink = run_lab("dynamic", model="loop", repeat=0)
    assert isinstance(final, ev.Done) and final.result["nodes"] == 0
    assert any(t.level == "warning" for t in sink.of("text"))


def test_ten_thousand_node_graph_through_the_lab(tmp_path):
    dot = tmp_path / "big.dot"
    final, sink = run_lab("dynamic", model="loop", repeat=3400, dot=str(dot))
    assert isinstance(final, ev.Done), final
    assert final.result["nodes"] > 10_000
    (tree,) = sink.of("tree")
    assert "DOT export has every node" in tree.root["note"]
    assert len(tree.to_json()) < 200_000
    assert len(re.findall(r"^\tn\d+ \[label=", dot.read_text(), re.M)) == final.result["nodes"]


def test_script_agrees(tmp_path):
    raw = {"use_second_layer": False}
    values = validate(get_lab("dynamic").params, raw)
    final, _ = run_lab("dynamic", **raw)
    script = tmp_path / "d.py"
    script.write_text(get_lab("dynamic").code(values))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"grad_fn nodes: {final.result['fn_nodes']}" in out.stdout
    assert "linear2.weight no grad" in out.stdout and "linear2.bias no grad" in out.stdout
    assert re.search(r"^linear1.weight grad norm \d", out.stdout, re.M)


@pytest.mark.slow
def test_cli_json():
    proc = pttui("run", "dynamic", "--json", "--no-record", "--no-use-second-layer")
    assert proc.returncode == 0, proc.stderr
    done = json.loads(proc.stdout.splitlines()[-1])
    assert done["event"] == "done" and done["result"]["no_grad_params"] == ["linear2.weight", "linear2.bias"]
