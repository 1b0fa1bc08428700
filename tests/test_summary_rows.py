"""Summaries agree with `parameters()` row by row (issue 11, classes 2 and 3).

Every parameter appears in exactly one row, parameters used outside a submodule's own forward
get a row that says so, and torchsummary's table is called right only when its total,
trainable and non-trainable counts all agree. The right values are computed here from
`model.parameters()` and the model's own output; torchinfo is a second reference.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from conftest import run_lab
from torch import nn

from pttui.engine import events as ev
from pttui.engine import summary


def _layers(sink) -> list[dict]:
    (table,) = [t for t in sink.of("table") if t.title.startswith("layers")]
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def _write(tmp_path, body: str):
    path = tmp_path / "user_model.py"
    path.write_text(textwrap.dedent(body))
    return path


MHA_FILE = """
    from torch import nn

    def mha():
        return nn.MultiheadAttention(16, 2)

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 2)
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            out, _ = self.attn(x, x, x)
            return self.head(out)
"""


def test_multihead_attention_rows_sum_to_the_total_and_activations_count(tmp_path):
    path = _write(tmp_path, MHA_FILE)
    final, sink = run_lab("modules", model_spec=f"{path}:mha", input_shape="5,2,16; 5,2,16; 5,2,16")
    assert isinstance(final, ev.Done), final
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(16, 2)
    total = sum(p.numel() for p in reference.parameters())
    out_proj = sum(p.numel() for p in reference.out_proj.parameters())
    assert (total, out_proj) == (1_088, 272)  # the figures, from plain PyTorch
    rows = _layers(sink)
    assert sum(r["params"] for r in rows) == final.result["total_params"] == total
    (row,) = [r for r in rows if r["layer"] == "out_proj"]
    assert row["params"] == out_proj and "MultiheadAttention's forward" in row["note"]
    # Activations: what MultiheadAttention returned (its children never ran on their own).
    q = torch.rand(5, 2, 16)
    with torch.no_grad():
        out, weights = reference.eval()(q, q, q)
    want = (out.numel() * out.element_size() + weights.numel() * weights.element_size()) / 2**20
    assert final.result["activation_mb"] == pytest.approx(want) and want > 0


def test_a_wrapped_attention_counts_every_parameter_once(tmp_path):
    path = _write(tmp_path, MHA_FILE)
    final, sink = run_lab("modules", model_spec=f"{path}:Wrapped", input_shape="5,2,16")
    assert isinstance(final, ev.Done), final
    import torchinfo

    model = nn.Module()
    model.attn, model.head = nn.MultiheadAttention(16, 2), nn.Linear(16, 3)
    total = sum(p.numel() for p in model.parameters())
    rows = _layers(sink)
    assert sum(r["params"] for r in rows) == total == final.result["total_params"]
    (row,) = [r for r in rows if r["layer"] == "attn.out_proj"]
    assert row["params"] == 272 and "attn's forward" in row["note"]
    info = torchinfo.summary(_import(path, "Wrapped"), input_size=(5, 2, 16), verbose=0)
    assert info.total_params == total  # torchinfo agrees with parameters() and with pttui


def _import(path, name):
    import importlib.util

    spec = importlib.util.spec_from_file_location("user_model_ref", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


def test_tied_and_reused_modules_are_counted_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(8, 8, bias=False)
            self.block = nn.Linear(8, 8)
            self.head = nn.Linear(8, 8, bias=False)
            self.head.weight = self.embed.weight  # tied

        def forward(self, x):
            return self.head(self.block(self.block(self.embed(x))))  # block runs twice

    model = Tied()
    layers, _, _ = summary.trace(model, [torch.rand(2, 8)])
    total = sum(p.numel() for p in model.parameters())
    assert sum(layer.params for layer in layers) == total == 64 + 72
    again = [layer for layer in layers if layer.name == "block"]
    assert [layer.params for layer in again] == [72, 0] and "called again" in again[1].note
    (head,) = [layer for layer in layers if layer.name == "head"]
    assert head.params == 0 and "embed" in head.note


def test_torchsummary_is_not_ok_when_only_the_total_agrees(tmp_path):
    path = _write(
        tmp_path,
        """
        from torch import nn

        class Frozen(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(10, 10)
                self.b = nn.Linear(10, 8)
                self.a.weight.requires_grad_(False)
                self.b.weight.requires_grad_(False)

            def forward(self, x):
                return self.b(self.a(x))
        """,
    )
    final, sink = run_lab("modules", model_spec=f"{path}:Frozen", input_shape="1,10")
    assert isinstance(final, ev.Done), final
    model = _import(path, "Frozen")
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert final.result["total_params"] == total and final.result["trainable_params"] == trainable
    verdict = final.result["torchsummary"]
    assert verdict != "ok"
    assert f"trainable params 0 (model.parameters(): {trainable})" in verdict
    assert f"non-trainable params {total:,} (model.parameters(): {total - trainable:,})" in verdict
    (table,) = [t for t in sink.of("text") if t.title == "torchsummary" and t.pane == "summary"]
    assert "torchsummary is wrong here" in table.body  # the table itself says what it got wrong
    rows = _layers(sink)
    assert sum(r["trainable"] for r in rows) == trainable


def test_torchsummary_ok_when_all_three_agree():
    final, _ = run_lab("modules", model="mlp")
    assert final.result["torchsummary"] == "ok"


def test_tiny_sizes_read_in_bytes_not_zero_mb():
    """An 8-byte buffer reads `8 B`, never `0` MB (issue 14: figures go through engine.numbers)."""
    from pttui.engine import numbers

    model = nn.Linear(3, 2)
    model.register_buffer("scale", torch.ones(2))  # 2 float32: 8 bytes
    s = summary.summarize(model, [(2, 3)])
    rows = dict((name, value) for name, value in s.totals_rows())
    buffer_bytes = sum(b.numel() * b.element_size() for b in model.buffers())
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    assert buffer_bytes == 8
    assert rows["buffers size"] == numbers.quantity(buffer_bytes, "B") == "8 B"
    assert rows["params size"] == numbers.quantity(param_bytes, "B") == f"{param_bytes} B"
    assert rows["input size"] == numbers.quantity(2 * 3 * 4, "B") == "24 B"
