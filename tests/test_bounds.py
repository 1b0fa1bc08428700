"""Bounds checked before allocating: each case is refused with the field named and nothing big
allocated (the limits are small, so a case that slipped through would show in the process's
memory, which the test measures), and a native crasher is refused before it is called."""

from __future__ import annotations

import resource

import pytest
import torch
from conftest import run_lab

from pttui.engine import events as ev
from pttui.engine import safe_eval


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _refused(lab, field, **params):
    before = _peak_mib()
    final, _ = run_lab(lab, **params)
    assert isinstance(final, ev.Error) and final.field == field, final
    assert not final.detail, final.detail  # a message, no traceback
    grew = _peak_mib() - before
    assert grew < 300, f"peak memory grew {grew:.0f} MiB while refusing"  # what slipped would be GiB
    return final.message


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("torch.zeros([1000000]+[1]*40).tolist()", "Python objects"),  # 3.4 GB before
        ("torch.zeros(1,1).expand(1000000,1000000).sum()", "expanded or broadcast view"),
        ("torch.where(torch.ones([2]*22))", "could need up to"),  # 738 MB of indices at worst
        ("torch.nonzero(torch.ones(2000,2000))", "could need up to"),
        ("torch.ones(4000000).unique()", "could need up to"),
        ("torch.ones(4000000).masked_select(torch.ones(4000000).bool())", "could need up to"),
        ("[0.0]*1000000", "Python sequence"),
        ("int('1'*15000, 2)", "4096 bits"),
    ],
)
def test_the_evaluator_refuses_before_allocating(expr, words):
    message = _refused("tensors", "expr", expr=expr, max_mb=4 if "[0.0]" in expr else 64)
    assert words in message, message


def test_python_list_bytes_counts_every_level():
    # (1000000, 1, 1): a million single-item lists at two levels, plus the numbers
    assert safe_eval.python_list_bytes((1_000_000, 1, 1)) >= 2 * 1_000_000 * safe_eval.PY_LIST_BYTES
    assert safe_eval.python_list_bytes((3,)) < 1000


@pytest.mark.parametrize(
    "expr",
    [
        "torch.linalg.eigvals(torch.full((3,3), float('nan')))",
        "torch.linalg.svd(torch.full((3,3), float('inf')))",
        "torch.inverse(torch.eye(3) * float('nan'))",
        "torch.full((3,3), float('nan')).det()",
        "torch.linalg.eigh(torch.full((4,4), float('nan')))",
    ],
)
def test_non_finite_input_to_lapack_is_refused_not_crashed(expr):
    assert "NaN or infinite" in _refused("tensors", "expr", expr=expr)


def test_finite_lapack_input_still_runs():
    final, _ = run_lab("tensors", expr="torch.linalg.eigvalsh(torch.eye(3) * 2)")
    assert isinstance(final, ev.Done), final
    assert final.result["shape"] == [3]


def test_an_expanded_leaf_is_charged_at_its_dense_size():
    message = _refused(
        "autograd", "leaves", leaves="x = torch.zeros(1).expand(750000000)", expr="x.sum()", max_mb=1
    )
    assert "5.6 GiB" in message, message


def test_small_expanded_and_broadcast_work_still_runs():
    final, _ = run_lab(
        "tensors", expr="torch.zeros(1).expand(1000).sum() + torch.ones(3)[:, None] * torch.ones(4)"
    )
    assert isinstance(final, ev.Done), final
    assert final.result["shape"] == [3, 4]


def test_tolist_within_the_limit_runs():
    t = torch.arange(6.0).reshape(2, 3)
    assert safe_eval.Evaluator(names={"t": t}).evaluate("t.tolist()") == t.tolist()
