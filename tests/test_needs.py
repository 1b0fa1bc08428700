"""Fields that do nothing beside another field's value (pttui.engine.common.NEEDS, issues 15 and 16).

One declaration drives every side: the engine refuses such a field typed with a value of its own
(exit 2, one line naming both flags and what it is for), the form greys it out, says why and does
not send it, and defaults never trip the refusal.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import ROOT, pttui

from pttui.engine import common
from pttui.engine.labs import all_labs, get_lab
from pttui.engine.params import ParamError, defaults, validate

SPEC = f"{ROOT / 'examples' / 'models.py'}:TabularNet"
CSV = str(ROOT / "examples" / "tabular.csv")
SET = {"model_spec": SPEC, "data": CSV, "histograms": 1, "sweep": True, "load": CSV}  # a value that counts
TYPED = {  # a value a person could type, other than the default (str fields have their own syntax)
    "features": "x1,x2,x1sq",
    "model_kwargs": '{"a": 1}',
    "output_key": "out",
    "target": "y",
    "input_shape": "8,4",
    "tensorboard": "tb",
}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def typed(lab, name):
    """A value for `name` other than its default and any value that asks for nothing (`idle`)."""
    p = lab.param(name)
    idle = {v for fact in common.NEEDS if fact.field == name for v in fact.idle}
    if name in TYPED:
        return TYPED[name]
    if p.kind == "choice":
        return next(c for c in p.choices if c != p.default)
    if p.kind == "bool":
        return None if (not p.default) in idle else not p.default
    if p.kind == "ints":
        return str(int(p.low))
    return p.low if p.default != p.low else p.high


def facts(lab, field=None):
    names = [p.name for p in lab.params]
    return [f for f in common.NEEDS if f.applies(names, lab.name) and field in (None, f.field)]


def meeting(lab, fact) -> dict:
    """The fact's first condition met: a value of its field that gives `fact.field` something to do."""
    name, when = fact.on[0]
    if when is None:
        return {name: SET[name]}
    choices = lab.param(name).choices
    return {name: next(v for v in when if not choices or v in choices)}


def failing(lab, fact) -> dict:
    """Every condition of the fact failed: values that leave `fact.field` nothing to do."""
    out = {}
    for name, when in fact.on:
        p = lab.param(name)
        out[name] = (
            {"bool": False, "int": 0, "float": 0.0}.get(p.kind, "")
            if when is None
            else next(c for c in p.choices if c not in when)
        )
    return out


def context(lab, field, skip=None) -> dict:
    """Values that give `field` something to do in `lab`: every NEEDS fact about it met (but `skip`)."""
    out: dict = {}
    for fact in facts(lab, field):
        if fact is not skip:
            out.update(context(lab, fact.on[0][0]))
            out.update(meeting(lab, fact))
    return out


CASES = [
    (lab.name, i)
    for lab in all_labs().values()
    for i, fact in enumerate(common.NEEDS)
    if fact.applies([p.name for p in lab.params], lab.name) and typed(lab, fact.field) is not None
]


@pytest.mark.parametrize(
    ("lab", "index"),
    CASES,
    ids=[f"{lab}-{common.NEEDS[i].field}-{common.NEEDS[i].on[0][0]}" for lab, i in CASES],
)
def test_a_typed_field_that_does_nothing_is_refused_naming_both_flags(lab, index):
    lab, fact = get_lab(lab), common.NEEDS[index]
    value = typed(lab, fact.field)
    base = context(lab, fact.field, skip=fact)
    for name, _ in fact.on:
        base.update(context(lab, name))
    off = failing(lab, fact)
    with pytest.raises(ParamError) as caught:
        validate(lab.params, {**base, **off, fact.field: value})
    exc, message = caught.value, str(caught.value)
    assert exc.field == fact.field and "\n" not in message
    beside = [f"without {flag(n)}" if w is None else f"with {flag(n)} {off[n]}" for n, w in fact.on]
    assert f"no {flag(fact.field)} {' and '.join(beside)} ({flag(fact.field)} is for " in message, message
    for name, when in fact.on:  # what it is for: each field, and each value the lab offers
        choices = lab.param(name).choices
        assert flag(name) in message and all(v in message for v in when or () if not choices or v in choices)
    # Where the field has something to do, the same value passes.
    values = validate(lab.params, {**base, **off, **meeting(lab, fact), fact.field: value})
    assert values[fact.field] == lab.param(fact.field).parse(value)


def test_the_facts_reach_the_fields_the_issues_name():
    found = {(lab, common.NEEDS[i].field) for lab, i in CASES}
    for field in ("size", "noise", "features", "momentum", "reg_rate", "dropout", "hidden", "tensorboard"):
        assert ("training", field) in found, field
    assert {
        ("quantization", "size"),
        ("amp", "input_shape"),
        ("dynamic", "repeat"),
        ("checkpoint", "trust"),
    } <= found


@pytest.mark.parametrize("lab", sorted(all_labs()))
def test_defaults_never_trip_the_refusal(lab):
    # Only the field a fact hangs on is typed (digits, Adam, no regularization...): every other field
    # stays at its default, even the boundary, which defaults on and does nothing on the digits.
    lab = get_lab(lab)
    full = validate(lab.params, defaults(lab.params))
    assert validate(lab.params, full) == full
    for fact in facts(lab):
        for name, _ in fact.on:
            p = lab.param(name)
            for value in p.choices or (p.parse(p.default),):
                given = {**context(lab, name), name: value}
                once = validate(lab.params, given)
                assert validate(lab.params, once) == once  # the runner validates the full dict again


def test_no_boundary_on_the_digits_asks_for_nothing_and_passes():
    params = get_lab("training").params
    assert validate(params, {"dataset": "digits", "boundary": False})["boundary"] is False
    assert validate(params, {"dataset": "digits", "boundary": True})["boundary"] is True  # its default
    assert "boundary" in common.unused({**defaults(params), "dataset": "digits"}, "training")
    # A --data file may be 2-D: its boundary is drawn, so the field counts (pttui runs compare: not n/a).
    assert "boundary" not in common.unused({**defaults(params), "data": CSV}, "training")


def test_a_fact_for_some_labs_only_holds_there():
    # --size makes random inputs in quantization (a --model-spec without --data), and a 2-D set in training.
    with pytest.raises(ParamError, match="no --size without --model-spec"):
        validate(get_lab("quantization").params, {"size": 500})
    assert validate(get_lab("quantization").params, {"size": 500, "model_spec": SPEC})["size"] == 500
    assert (
        validate(get_lab("training").params, {"size": 500, "dataset": "moons", "model_spec": SPEC})["size"]
        == 500
    )
    # modules shapes the built-in models' inputs too; dynamic's built-ins make their own.
    assert validate(get_lab("modules").params, {"input_shape": "1,784"})["input_shape"] == "1,784"
    with pytest.raises(ParamError, match="no --input-shape without --model-spec"):
        validate(get_lab("dynamic").params, {"input_shape": "2,10"})


def test_the_command_line_refuses_with_one_line_and_exit_2():
    out = pttui("run", "training", "--optimizer", "adam", "--momentum", "0.5")
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "no --momentum with --optimizer adam" in lines[0], out.stderr
    assert "--optimizer sgd" in lines[0] and "Traceback" not in out.stderr and not out.stdout


def test_the_form_greys_out_what_does_nothing_and_sends_only_what_counts(monkeypatch):
    from pttui.tui import policy
    from pttui.tui.app import PlaygroundApp
    from tests.test_app import built

    for key in (policy.ROOT_ENV, policy.CODE_ENV, policy.FILES_ENV):
        monkeypatch.delenv(key, raising=False)
    lab = get_lab("training")

    def note(form, name):
        return str(form.field(name).query_one(".error").render())

    async def go():
        app = PlaygroundApp("training", spares=False)
        async with app.run_test(size=(100, 40)) as pilot:
            form = (await built(pilot)).form  # every field mounted (the form composes lazily)
            names = [p.name for p in lab.params]
            lost = common.not_needed(names, form.values(), "training")  # Adam, digits, no penalty
            assert {"momentum", "reg_rate", "size", "noise", "features", "boundary", "tensorboard"} <= set(
                lost
            )
            choices = {p.name: p.choices for p in lab.params}
            for name, fact in lost.items():
                assert form.field(name).has_class("-overridden"), name
                # one line beside the field (a whole sentence took five at 80x24), the why on focus
                assert f"↳ {fact.brief(form.values())}" == note(form, name)
                assert form.field(name).why_unused == fact.words(choices)
            assert note(form, "momentum") == "↳ not used: optimizer adam"
            assert note(form, "size") == "↳ not used: dataset digits"
            form.field("momentum").editor.focus()
            await pilot.pause()
            help_text = str(form.query_one("#help").render())
            assert "Not used: --momentum is for --optimizer sgd" in help_text, help_text
            form.set_values({"optimizer": "sgd", "momentum": 0.5, "dataset": "moons"})
            await pilot.pause()
            for name in ("momentum", "size", "noise", "features", "boundary"):
                assert not form.field(name).has_class("-overridden"), name
            assert form.to_send(form.values()) == {"optimizer": "sgd", "momentum": 0.5, "dataset": "moons"}
            form.set_values({"optimizer": "adam"})  # back to Adam: the typed momentum is greyed, not sent
            await pilot.pause()
            assert form.field("momentum").has_class("-overridden")
            sent = form.to_send(form.values())
            assert sent == {"dataset": "moons"}
            validate(lab.params, sent)  # what the engine does with it: no refusal

    asyncio.run(go())


@pytest.mark.slow
def test_a_run_from_the_form_with_defaults_still_works(monkeypatch):
    # The defaults include fields that do nothing (--momentum with Adam, the boundary on the digits):
    # they are greyed out, not sent, and the run is not refused for them.
    from pttui.tui import policy
    from pttui.tui.app import PlaygroundApp
    from tests.test_app import built

    for key in (policy.ROOT_ENV, policy.CODE_ENV, policy.FILES_ENV):
        monkeypatch.delenv(key, raising=False)

    async def go():
        import time

        app = PlaygroundApp("training", spares=False)
        async with app.run_test(size=(100, 40)) as pilot:
            screen = await built(pilot)
            screen.form.set_values({"epochs": 1, "threads": 1})
            await pilot.pause()
            assert screen.form.field("momentum").has_class("-overridden")
            await pilot.press("r")
            end = time.monotonic() + 180
            while screen.state.state not in ("done", "failed"):
                assert time.monotonic() < end, f"waited 180 s for the run; state {screen.state.state}"
                await pilot.pause(0.2)
            assert screen.state.state == "done", screen.state.state

    asyncio.run(go())
