"""One way to write each kind of value for people: shapes, and numbers at any depth of a result.

A tensor's shape read `(3,)` in one table and `[3]` in the next; a 2-D gradient printed at full
float precision beside rounded 1-D ones. These run real labs and the human printer, and compare
with what plain PyTorch computes here.
"""

from __future__ import annotations

import io
import re

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from pttui.engine import events as ev
from pttui.engine import numbers
from pttui.engine.human import HumanSink
from pttui.engine.layout import result_tables
from tests.conftest import run_lab


def _printed(events: list[ev.Event], width: int = 100) -> str:
    out = io.StringIO()
    sink = HumanSink(Console(file=out, width=width, color_system=None))
    for event in events:
        sink.on_event(event)
    sink.close()
    return out.getvalue()


def _tuple_text(size) -> str:
    """Python's tuple form of a size, the one pttui no longer writes: (3,), (3, 2)."""
    return str(tuple(size))


def test_a_shape_and_its_strides_read_the_same_in_every_table_tree_and_result():
    expr = "torch.ones(2, 3).t()"
    t = torch.ones(2, 3).t()
    shape, strides = str(list(t.shape)), str(list(t.stride()))  # torch.Size([3, 2]) -> [3, 2]
    final, sink = run_lab("tensors", expr=expr)
    assert isinstance(final, ev.Done), final
    anatomy = {row[0]: row[1] for row in sink.of("table")[0].rows}
    assert (anatomy["shape"], anatomy["strides"]) == (shape, strides)
    text = _printed(sink.events)
    result = text[text.index("result") :]
    assert re.search(rf"shape\s+{re.escape(shape)}", result) and re.search(
        rf"strides\s+{re.escape(strides)}", result
    )
    assert _tuple_text(t.shape) not in text and _tuple_text(t.stride()) not in text


def test_graph_trees_and_gradient_tables_write_shapes_as_the_results_do():
    final, sink = run_lab(
        "autograd", expr="(w @ x).sum()", leaves="w = [[1.0, 2.0], [3.0, 4.0]]; x = [1.0, 1.0]"
    )
    assert isinstance(final, ev.Done), final
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    gradients = next(t for t in sink.of("table") if t.title == "gradients")
    assert {row[0]: row[1] for row in gradients.rows} == {"w": str(list(w.shape)), "x": str([2])}
    details = []
    stack = [sink.of("tree")[0].root]
    while stack:
        node = stack.pop()
        details.append(node.get("detail") or "")
        stack.extend(node.get("children") or [])
    assert any(str(list(w.shape)) in d for d in details), details
    assert not any(_tuple_text(w.shape) in d for d in details), details


def test_a_2d_gradient_is_rounded_as_the_1d_ones_are():
    leaves = "w = [[1.0, -2.0], [0.5, 0.3]]; x = [0.7, -1.1]; b = [0.1, 0.2]"
    final, _ = run_lab("autograd", expr="(torch.tanh(w @ x + b) ** 2).sum()", leaves=leaves)
    assert isinstance(final, ev.Done), final
    w = torch.tensor([[1.0, -2.0], [0.5, 0.3]], requires_grad=True)
    x = torch.tensor([0.7, -1.1], requires_grad=True)
    b = torch.tensor([0.1, 0.2], requires_grad=True)
    (torch.tanh(w @ x + b) ** 2).sum().backward()
    text = _printed([final])
    grads = {"w": w.grad.tolist(), "x": x.grad.tolist(), "b": b.grad.tolist()}
    for name, grad in grads.items():
        flat = [v for row in grad for v in row] if name == "w" else grad
        line = next(line for line in text.splitlines() if line.startswith(name + " "))
        for value in flat:
            assert numbers.number(value) in line, (name, value, line)
            assert repr(value) not in line  # never the full float
    assert "[[" in text  # the 2-D one keeps its rows


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
nested_values = st.recursive(
    finite | st.integers(-(10**6), 10**6),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=4) | st.dictionaries(st.sampled_from("abc"), inner, min_size=1)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(nested_values)
def test_every_number_at_any_depth_has_at_most_four_significant_digits(value):
    for key in ("grads", "value", "load_s"):
        text = "\n".join(t.plain_text() for t in result_tables({key: value, "flat": 1}))
        for token in re.findall(
            r"-?\d[\d,]*\.\d+(?:e[-+]\d+)?", text
        ):  # fractions only: ints keep every digit
            mantissa = token.split("e")[0].lstrip("-").replace(",", "").replace(".", "").lstrip("0")
            assert len(mantissa) <= numbers.SIGNIFICANT, (token, value, text)
        assert "{'" not in text and "None" not in text


def test_shapes_read_one_way_whatever_holds_them():
    size = torch.zeros(1, 1000, 3).shape
    assert (
        numbers.shape(size) == numbers.shape((1, 1000, 3)) == numbers.shape([1, 1000, 3]) == str(list(size))
    )
    assert numbers.shape(torch.zeros(()).shape) == "[]" and numbers.shape(torch.zeros(3).stride()) == "[1]"
    assert numbers.field("input_shape", [[1, 784]]) == "[1, 784]"  # a list of one shape is not a table
    assert not numbers.nested([[1, 784]], "input_shape")
    assert numbers.field("shapes", [[3, 1], [4]]) == "[3, 1]; [4]"


def test_every_shape_column_of_every_graph_lab_is_written_as_a_list():
    final, sink = run_lab("dynamic")
    assert isinstance(final, ev.Done), final
    shapes = [row[1] for t in sink.of("table") for row in t.rows if "shape" in t.columns[1:2]]
    assert shapes and all(re.fullmatch(r"\[\d+(, \d+)*\]", s) for s in shapes), shapes


def test_a_tiny_mb_figure_reads_in_bytes_not_in_scientific_notation():
    model = torch.nn.Linear(784, 10)
    nbytes = sum(p.numel() * p.element_size() for p in model.parameters())  # 31,400
    assert numbers.field("param_mb", nbytes / 2**20) == numbers.field("param_bytes", nbytes) == "30.66 KB"
    assert numbers.field("activation_mb", 40 / 2**20) == "40 B"
    assert numbers.field("peak_mb", 1.5) == "1.5 MB" and numbers.field("peak_mb", None) == "n/a"


def test_a_figures_spread_reads_in_the_figures_unit():
    from pttui.engine.timing import spread

    s = spread([0.31, 0.27, 0.54, 0.28, 0.35]).to_dict()  # ms, as quantization's latency_b1_ms
    text = numbers.field("latency_b1_ms_spread", s)
    assert f"median={numbers.field('latency_b1_ms', s['median'])}" in text  # 310 µs, like the figure
    assert f"rounds={s['rounds']};" in text and "rounds=5 " not in text  # a count takes no unit


def test_a_spread_writes_its_numbers_as_the_figure_does():
    from pttui.engine.timing import spread

    rates = [80597.3, 79454.1, 81740.8, 80026.2, 81002.5]  # samples/s, as amp's variants measure
    s = spread(rates).to_dict(1)
    text = numbers.field("samples_per_s_spread", s)
    for name in ("median", "min", "max", "q1", "q3"):
        if name in s:
            assert f"{name}={numbers.field('samples_per_s', s[name])}" in text, text  # 80,597/s
    assert "," in numbers.field("samples_per_s", s["median"]) and f"rounds={s['rounds']}" in text
    assert f"noisy={numbers.number(s['noisy'])}" in text
