"""The autograd lab and the graph walk behind it, against real PyTorch.

The walk must give exactly the node set torchviz's make_dot draws. `torchviz_ids` below
restates torchviz's rules as a plain recursive walk over `grad_fn.next_functions`; where
torchviz itself is installed it is compared too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from io import StringIO

import pytest
import torch
from conftest import pttui, run_lab

from pttui.engine import events as ev
from pttui.engine import graph
from pttui.engine.labs import get_lab
from pttui.engine.params import validate


def torchviz_ids(var, show_saved=False) -> tuple[dict[int, str], list]:
    """{id(): "saved" or "other"} of the nodes torchviz's make_dot draws, by its rules."""
    seen: set[int] = set()
    drawn: dict[int, str] = {}
    keep: list = []  # saved tensors are fresh Python objects: keep them alive, ids stay unique

    def draw(obj, saved=False):
        drawn[id(obj)] = "saved" if saved and drawn.get(id(obj), "saved") == "saved" else "other"
        keep.append(obj)

    def add_nodes(fn):
        if id(fn) in seen:
            return
        seen.add(id(fn))
        if show_saved:
            for attr in dir(fn):
                if attr.startswith("_saved_"):
                    val = getattr(fn, attr)
                    if torch.is_tensor(val):
                        draw(val, saved=True)
                    if isinstance(val, tuple):
                        for t in val:
                            if torch.is_tensor(t):
                                draw(t, saved=True)
        if hasattr(fn, "variable"):  # AccumulateGrad: the leaf
            draw(fn.variable)
        draw(fn)
        for u, _ in fn.next_functions:
            if u is not None:
                add_nodes(u)
        if hasattr(fn, "saved_tensors"):  # custom autograd.Function
            for t in fn.saved_tensors:
                draw(t, saved=True)

    def add_base_tensor(t):
        if id(t) in drawn:
            return
        draw(t)
        if t.grad_fn is not None:
            add_nodes(t.grad_fn)
        if t._is_view():
            add_base_tensor(t._base)

    for t in var if isinstance(var, tuple) else (var,):
        add_base_tensor(t)
    return drawn, keep


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


def _cases():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = torch.randn(2, 3, requires_grad=True)
    return {
        "classic": ((x * 2).sum(), {"x": x}),
        "reuse": ((x * x + x.exp()).mean(), {"x": x}),
        "matmul": ((w @ x).tanh() * x.sum(), {"x": x, "w": w}),
        "view output": ((x * 3)[1:], {"x": x}),
        "custom function": (Square.apply(x).sum(), {"x": x}),
        "tuple output": ((x.sin(), (w * 2).sum()), {"x": x, "w": w}),
        "leaf output": (x, {"x": x}),
    }


@pytest.mark.parametrize("show_saved", [False, True])
@pytest.mark.parametrize("case", list(_cases()))
def test_node_set_is_torchvizs(case, show_saved):
    out, names = _cases()[case]
    g = graph.walk(out, names, show_saved=show_saved)
    expected, _keep = torchviz_ids(out, show_saved)
    # A saved output (exp's result, ...) is a fresh Python object at each access, so those are
    # compared by number; every other node (grad_fns, leaves, outputs, bases) by identity.
    assert len(g.nodes) == len(expected)
    assert {k for k, n in g.nodes.items() if n.kind != "saved"} == {
        k for k, v in expected.items() if v != "saved"
    }
    if show_saved and case == "matmul":  # tanh saved its result: a tensor of its own
        assert any(n.kind == "saved" for n in g.nodes.values())
    if case == "custom function":  # ctx.save_for_backward(x) is drawn always, as x itself
        assert any(style == "none" for _, _, style in g.edges)
    # Every edge joins two drawn nodes; each node is drawn once.
    ids = {n.id for n in g.nodes.values()}
    assert len(ids) == len(g.nodes) and all(a in ids and b in ids for a, b, _ in g.edges)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torchviz imports distutils
def test_node_set_matches_real_torchviz():
    dot = pytest.importorskip("torchviz.dot", exc_type=ImportError)
    for case, (out, names) in _cases().items():
        for show_saved in (False, True):
            g = graph.walk(out, names, show_saved=show_saved)
            made = dot.make_dot(out, params=names, show_saved=show_saved)
            ids = {int(m) for m in re.findall(r"^\t(\d+) \[label", "\n".join(made.body), re.M)}
            # A saved tensor may be a fresh Python object at each access: where torchviz's and
            # ours differ by identity they are compared by number; all else by identity.
            ours_saved = {k for k, n in g.nodes.items() if n.kind == "saved"}
            assert len(ids) == len(g.nodes), (case, show_saved)
            assert set(g.nodes) - ours_saved <= ids, (case, show_saved)
            assert len(ours_saved - ids) == len(ids - set(g.nodes)), (case, show_saved)


def test_labels_are_pytorch_grad_fn_classes():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = (x**2 + x.exp()).mean()
    g = graph.walk(out, {"x": x})
    expected, stack, seen = set(), [out.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        expected.add(type(fn).__name__)
        stack.extend(u for u, _ in fn.next_functions)
    assert {n.label for n in g.nodes.values() if n.kind == "fn"} == expected
    assert expected == {"MeanBackward0", "AddBackward0", "PowBackward0", "ExpBackward0", "AccumulateGrad"}


def test_default_run_gives_the_classic_gradients():
    final, sink = run_lab("autograd")
    assert isinstance(final, ev.Done), final
    assert final.result["grads"] == {"x": [2.0, 2.0, 2.0]}
    assert final.result["root"] == "SumBackward0" and final.result["output"] == 12.0
    (tree,) = sink.of("tree")
    root = tree.root
    assert root["label"] == "SumBackward0"
    mul = root["children"][0]
    assert mul["label"] == "MulBackward0" and mul["detail"] == "→ [3]"
    acc = mul["children"][0]
    assert acc["label"] == "AccumulateGrad"
    assert acc["children"][0]["label"] == "x" and "[3]" in acc["children"][0]["detail"]
    json.dumps(root)  # the tree is plain JSON


def test_a_node_reached_twice_is_drawn_once_then_referred_to():
    final, sink = run_lab("autograd", expr="(x * x).sum()")
    assert final.result["grads"] == {"x": [2.0, 4.0, 6.0]}
    mul = sink.of("tree")[0].root["children"][0]
    first, second = mul["children"]
    assert first["label"] == second["label"] == "AccumulateGrad"
    assert "ref" not in first and second["ref"] == first["id"] and second["children"] == []


def test_show_saved_adds_the_saved_tensors():
    _final, sink = run_lab("autograd", expr="x.exp().sum()", show_saved=True)
    exp = sink.of("tree")[0].root["children"][0]
    assert exp["label"] == "ExpBackward0"
    assert [c["label"] for c in exp["children"]] == ["AccumulateGrad", "saved result"]


def test_non_scalar_output_is_backpropagated_with_ones():
    final, sink = run_lab("autograd", expr="x * 2")
    assert final.result["grads"] == {"x": [2.0, 2.0, 2.0]}
    assert any("ones_like" in t.body for t in sink.of("text"))


def test_several_leaves_and_torch_values():
    final, _ = run_lab("autograd", expr="(w @ x).sum()", leaves="x = [1, 2, 3]\nw = torch.ones(2, 3)")
    assert final.result["grads"]["x"] == [2.0, 2.0, 2.0]
    assert final.result["grads"]["w"] == [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]


@pytest.mark.parametrize(
    "params, field, words",
    [
        ({"requires_grad": False}, "requires_grad", "no leaf requires grad"),
        ({"expr": "x.argmax()"}, "expr", "not differentiable"),
        ({"expr": "x.detach().sum()"}, "expr", "does not depend"),
        ({"expr": "torch.ones(3).sum()", "leaves": ""}, "leaves", "no leaf"),
        ({"leaves": "x = torch.arange(3)"}, "leaves", "floating point"),
        ({"leaves": "x = [1.0]; import os"}, "leaves", "name = value"),
        ({"leaves": "torch = [1.0]"}, "leaves", "cannot name a leaf"),
        ({"expr": "y.sum()"}, "expr", "'y' is not allowed"),
        ({"expr": "torch.max(x, 0)"}, "expr", "one tensor"),
    ],
)
def test_clear_messages(params, field, words):
    final, _ = run_lab("autograd", **params)
    assert isinstance(final, ev.Error) and final.field == field, final
    assert words in final.message and not final.detail


def test_a_dot_path_that_cannot_be_written_is_refused_before_the_run():
    from pttui.engine.params import ParamError

    with pytest.raises(ParamError) as caught:
        run_lab("autograd", dot="/nonexistent/dir/g.dot")
    assert caught.value.field == "dot" and "a folder that exists" in str(caught.value)


def test_dangerous_leaves_are_refused(tmp_path):
    final, _ = run_lab("autograd", leaves="x = __import__('os').system('touch pwned.txt')")
    assert isinstance(final, ev.Error) and final.field == "leaves"
    final, _ = run_lab("autograd", expr="open('pwned.txt', 'w')")
    assert isinstance(final, ev.Error) and final.field == "expr"
    assert not (tmp_path / "pwned.txt").exists()


def test_dot_file_has_every_node(tmp_path):
    path = tmp_path / "g.dot"
    final, _ = run_lab("autograd", expr="(x * x + x.exp()).mean()", show_saved=True, dot=str(path))
    text = path.read_text()
    assert text.startswith("digraph {") and text.rstrip().endswith("}")
    nodes = re.findall(r"^\t(n\d+) \[label=", text, re.M)
    assert len(nodes) == len(set(nodes)) == final.result["nodes"]
    assert "MeanBackward0" in text and "fillcolor=lightblue" in text and "fillcolor=orange" in text
    for src, dst in re.findall(r"^\t(n\d+) -> (n\d+)", text, re.M):
        assert src in nodes and dst in nodes


def test_ten_thousand_nodes_without_recursion():
    x = torch.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.5  # MulBackward0, AddBackward0, alternating: no chain to collapse
    g = graph.walk(y, {"x": x}, show_saved=True)
    assert g.fn_count == 10_001  # 10,000 ops and the AccumulateGrad
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)  # a recursive walk (torchviz's) would fail far below 10,000 deep
    try:
        g = graph.walk(y, {"x": x})
        tree = graph.to_tree(g)
        dot = graph.to_dot(g)
    finally:
        sys.setrecursionlimit(limit)
    assert len(re.findall(r"\[label=", dot)) == len(g.nodes) == 10_003
    assert "DOT export has every node" in tree["note"] and tree["nodes"] == 10_003
    line = ev.Tree(0.0, "big", tree).to_json()  # the event serialises
    assert len(line) < 200_000
    from rich.console import Console

    from pttui.engine.human import HumanSink

    HumanSink(Console(file=StringIO(), width=100)).on_event(ev.from_json(line))


def test_chains_of_one_class_collapse():
    x = torch.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.001
    tree = graph.to_tree(graph.walk(y, {"x": x}))
    assert tree["label"] == "MulBackward0" and tree["collapsed"] == 3000
    assert tree["children"][0]["label"] == "AccumulateGrad" and "note" not in tree


def test_script_prints_the_same_gradients(tmp_path):
    raw = {"expr": "(x ** 2 * w).sum()", "leaves": "x = [1.0, 2.0]; w = torch.randn(2)"}
    values = validate(get_lab("autograd").params, raw)
    final, _ = run_lab("autograd", **raw)
    script = tmp_path / "a.py"
    script.write_text(get_lab("autograd").code(values))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "SumBackward0" in out.stdout and "PowBackward0" in out.stdout
    for name in ("x", "w"):
        line = re.search(rf"^{name}\.grad = tensor\(\[(.*)\]\)", out.stdout, re.M).group(1)
        printed = [float(v) for v in line.split(",")]
        assert printed == pytest.approx(final.result["grads"][name], abs=1e-4)


def test_script_of_the_default_matches_the_classic():
    values = validate(get_lab("autograd").params, {})
    code = get_lab("autograd").code(values)
    assert "x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)" in code
    assert "out = (x * 2).sum()" in code
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "x.grad = tensor([2., 2., 2.])" in out.stdout


@pytest.mark.slow
def test_cli_json_with_dot(tmp_path):
    proc = pttui("run", "autograd", "--json", "--no-record", "--dot", str(tmp_path / "g.dot"))
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert next(e["event"] for e in events) == "start" and events[-1]["event"] == "done"
    assert events[-1]["result"]["grads"] == {"x": [2.0, 2.0, 2.0]}
    assert any(e["event"] == "tree" for e in events)
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
