"""Parameters: one declaration gives validation with errors that name the field."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pttui.engine.labs import all_labs
from pttui.engine.params import Param, ParamError, validate

ALL_PARAMS = [(lab.name, p) for lab in all_labs().values() for p in lab.params]
RAW = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=4),
)


@pytest.mark.parametrize(("lab", "param"), ALL_PARAMS, ids=[f"{lab}.{p.name}" for lab, p in ALL_PARAMS])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=RAW)
def test_every_parameter_validates_or_names_itself(lab, param, raw):
    try:
        value = param.parse(raw)
    except ParamError as exc:
        assert exc.field == param.name
        assert param.name in str(exc)
    else:
        assert param.parse(param.to_text(value)) == value  # what the form shows parses back


@pytest.mark.parametrize(("lab", "param"), ALL_PARAMS, ids=[f"{lab}.{p.name}" for lab, p in ALL_PARAMS])
def test_defaults_are_valid(lab, param):
    param.parse(param.default)


def test_errors_say_what_is_allowed():
    p = Param("batch_size", "int", 64, "samples", low=1, high=100)
    with pytest.raises(
        ParamError, match=r"batch_size: '0' is not allowed; expected a whole number from 1 to 100"
    ):
        p.parse("0")
    with pytest.raises(ParamError, match="one of a, b"):
        Param("x", "choice", "a", "", ("a", "b")).parse("c")


def test_kinds_convert_text():
    assert Param("f", "bool", False, "").parse("yes") is True
    assert Param("h", "ints", (1,), "", low=1).parse("64, 32") == (64, 32)
    assert Param("d", "device", "auto", "").parse("CUDA:1") == "cuda:1"
    with pytest.raises(ParamError):
        Param("d", "device", "auto", "").parse("gpu")


def test_unknown_parameter_is_an_error():
    lab = all_labs()["training"]
    with pytest.raises(ParamError) as info:
        validate(lab.params, {"bogus": 1})
    assert info.value.field == "bogus"


def test_flags_follow_names():
    lab = all_labs()["training"]
    assert lab.param("batch_size").flag == "--batch-size"
