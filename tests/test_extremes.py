"""Hypothesis over every lab's declared extremes, kept cheap: bound-checked, never run big.

- every numeric parameter of every lab binds at its declared bounds (inside: accepted; outside:
  a ParamError naming the field);
- every model a training-like lab may declare (any --hidden up to 65,536 a layer, any batch)
  is either within the memory budget by the estimate, or refused naming hidden or batch_size,
  and the estimate counts exactly the parameters PyTorch builds;
- the evaluator, over random shapes and ops under a small --max-mb, either refuses before
  allocating or stays within the limit (measured on the result, not taken on trust);
- the declared maximum of dynamic --repeat runs (the one maximum that crashed before).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from conftest import run_lab
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pttui.engine import bounds, models, safe_eval
from pttui.engine import events as ev
from pttui.engine.labs import all_labs, get_lab
from pttui.engine.params import ParamError

NUMERIC = [
    (topic, p)
    for topic in all_labs()
    for p in get_lab(topic).params
    if p.kind in ("int", "float", "ints") and p.low is not None and p.high is not None
]
CHEAP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("topic", "param"), NUMERIC, ids=[f"{t}-{p.name}" for t, p in NUMERIC])
@CHEAP
@given(data=st.data())
def test_declared_bounds_bind(topic, param, data):
    low, high = param.low, param.high
    if param.kind == "float":
        inside = data.draw(st.floats(low, high, allow_nan=False))
        outside = data.draw(st.one_of(st.floats(max_value=low, exclude_max=True), st.floats(min_value=high, exclude_min=True)).filter(math.isfinite))  # fmt: skip
    else:
        inside = data.draw(st.integers(int(low), int(high)))
        outside = data.draw(
            st.one_of(st.integers(max_value=int(low) - 1), st.integers(min_value=int(high) + 1))
        )
    as_raw = (lambda v: str(v)) if param.kind != "ints" else (lambda v: f"{int(low)},{v}")
    assert param.parse(as_raw(inside)) is not None
    with pytest.raises(ParamError) as caught:
        param.parse(as_raw(outside))
    assert caught.value.field == param.name


def _mlp_params(widths: list[int]) -> int:
    return sum(a * b + b for a, b in itertools.pairwise(widths))


TRAINING_LIKE = [t for t in all_labs() if any(p.name == "hidden" for p in get_lab(t).params)]
BUDGET = 2 << 30


@pytest.mark.parametrize("topic", TRAINING_LIKE)
@CHEAP
@given(
    hidden=st.lists(st.integers(1, 65536), min_size=1, max_size=4),
    batch=st.integers(1, 65536),
    optimizer=st.sampled_from(["adam", "adamw", "sgd"]),
)
def test_every_declared_model_fits_or_is_refused_by_name(topic, hidden, batch, optimizer):
    hidden_p = next(p for p in get_lab(topic).params if p.name == "hidden")
    hidden = [min(h, int(hidden_p.high)) for h in hidden]
    values = {"hidden": tuple(hidden), "batch_size": batch, "optimizer": optimizer, "momentum": 0.9}
    widths = [64, *hidden, 10]  # digits: 64 features, 10 classes
    build = lambda: models.build("mlp", 64, 10, tuple(hidden))  # noqa: E731
    assert bounds.parameter_count(build) == _mlp_params(widths)  # the meta build counts what torch makes
    try:
        parts = bounds.check_training_memory(values, build, widths, budget=BUDGET)
    except ParamError as exc:
        assert (exc.field in ("hidden", "batch_size") and "GiB" in str(exc)) or "MiB" in str(exc)
        total = sum(bounds.training_bytes(_mlp_params(widths), widths, batch, optimizer).values())
        assert total > BUDGET
    else:
        assert sum(parts.values()) <= BUDGET


def test_the_issue_model_is_refused_on_this_machine():
    with pytest.raises(ParamError) as caught:
        run_lab_values = {"hidden": (65536, 65536), "batch_size": 64, "optimizer": "adam", "momentum": 0.9}
        bounds.check_training_memory(
            run_lab_values,
            lambda: models.build("mlp", 64, 10, (65536, 65536)),
            [64, 65536, 65536, 10],
            budget=16 << 30,  # 4.3 G parameters x 16 bytes = 64 GiB: refused on any budget below
        )
    assert caught.value.field == "hidden"


SHAPES = st.lists(st.integers(1, 4096), min_size=1, max_size=6)
OPS = st.sampled_from(["tolist()", "nonzero()", "unique()", "sum()", "cumsum(0)", "exp()", "flatten()"])


@CHEAP
@given(shape=SHAPES, op=OPS, expand=st.booleans())
def test_the_evaluator_refuses_or_stays_within_the_limit(shape, op, expand):
    limit = 4 << 20
    base = f"torch.ones({tuple(shape)!r})" if not expand else f"torch.ones(1).expand({tuple(shape)!r})"
    evaluator = safe_eval.Evaluator(limit=limit)
    try:
        result = evaluator.evaluate(f"{base}.{op}")
    except safe_eval.TooLarge:
        return
    except safe_eval.ExpressionError:
        return  # a genuine mistake for that shape (e.g. cumsum of an expanded view): a message
    made = sum(t.untyped_storage().nbytes() for t in _tensors(result))
    if op == "tolist()":
        made = safe_eval.python_list_bytes(tuple(shape))
    assert made <= limit, (shape, op, made)
    assert evaluator.allocated <= limit


def _tensors(value):
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], torch.Tensor):
        return list(value)
    return []


@pytest.mark.slow
def test_dynamic_repeat_at_its_declared_maximum_ends_with_done():
    high = next(p.high for p in get_lab("dynamic").params if p.name == "repeat")
    final, _ = run_lab("dynamic", model="loop", repeat=int(high))
    assert isinstance(final, ev.Done), final


def test_training_at_its_declared_maximum_epochs_and_size_is_refused_by_its_estimate():
    lab = get_lab("training")
    high = {p.name: int(p.high) for p in lab.params if p.name in ("epochs", "size")}
    final, sink = run_lab("training", dataset="spiral", device="cpu", **high)
    assert isinstance(final, ev.Error) and final.field == "epochs", final
    assert "hours" in final.message and not sink.of("step")


@CHEAP
@given(epochs=st.integers(1, 10000), samples=st.integers(1, 1_000_000), n_params=st.integers(1, 10**9))
def test_the_time_estimate_refuses_only_what_cannot_finish_in_an_hour(epochs, samples, n_params):
    lower_bound_s = 6 * n_params * samples * epochs / bounds.CPU_FLOPS
    try:
        bounds.check_training_time({"epochs": epochs}, n_params, samples, "cpu")
    except ParamError as exc:
        assert exc.field == "epochs" and lower_bound_s > bounds.MAX_RUN_S
    else:
        assert lower_bound_s <= bounds.MAX_RUN_S
    bounds.check_training_time({"epochs": epochs}, n_params, samples, "cuda")  # no estimate off the CPU
