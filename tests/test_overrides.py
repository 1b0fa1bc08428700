"""Which field wins: `--model-spec` over the built-in models' fields, `--data` over the built-in sets'.

One declaration (pttui.engine.common.WINS) drives both sides: the engine refuses an overridden
field typed beside its winner (exit 2, one line naming both flags), and the form greys it out,
says why, and sends a run only what the person changed and what still counts.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
from conftest import ROOT
from test_needs import context

from pttui.engine import common
from pttui.engine.labs import all_labs, get_lab
from pttui.engine.params import ParamError, validate

SPEC = f"{ROOT / 'examples' / 'models.py'}:TabularNet"
CSV = str(ROOT / "examples" / "tabular.csv")
WINNER_VALUES = {"model_spec": SPEC, "data": CSV, "input_shape": "8,4", "load": CSV}


def _pairs():
    """(lab, winner, loser) for every rule that applies to a lab: both fields are among its params."""
    for name, lab in all_labs().items():
        names = {p.name for p in lab.params}
        for rule in common.WINS:
            if rule.field in names:
                for loser in rule.over:
                    if loser in names:
                        yield name, rule.field, loser


PAIRS = list(_pairs())


def _typed(lab, loser):
    """A value a person could type for `loser`, other than its default."""
    p = lab.param(loser)
    if loser in WINNER_VALUES:  # a winner itself loses to --load
        return WINNER_VALUES[loser]
    if loser == "model_kwargs":
        return '{"hidden": 32}'
    if p.kind == "device":
        return "cpu"
    if p.kind == "choice":
        return next(c for c in p.choices if c != p.default and c != "custom")
    if p.kind == "bool":
        return not p.default
    if p.kind == "ints":
        return "16"
    if p.kind in ("int", "float"):
        return p.low if p.default != p.low else p.high
    return "x1,x2,x1x2"  # --features, the one str field a rule names


def test_the_rules_reach_the_fields_the_issue_names():
    found = {(w, loser) for _, w, loser in PAIRS}
    for loser in ("model", "hidden", "activation", "dropout"):
        assert ("model_spec", loser) in found
    for loser in ("dataset", "size", "noise", "features"):
        assert ("data", loser) in found
    assert {lab for lab, w, _ in PAIRS if w == "model_spec"} >= {
        "training", "amp", "quantization", "checkpoint", "parallel", "visualize", "modules", "dynamic",
    }  # fmt: skip


@pytest.mark.parametrize(("lab", "winner", "loser"), PAIRS, ids=[f"{a}-{b}-{c}" for a, b, c in PAIRS])
def test_a_typed_overridden_field_is_refused_naming_both_flags(lab, winner, loser):
    params = get_lab(lab).params
    value = _typed(get_lab(lab), loser)
    won = {**context(get_lab(lab), winner), winner: WINNER_VALUES[winner]}  # --input-shape: a --model-spec
    with pytest.raises(ParamError) as caught:
        validate(params, {**won, loser: value})
    exc = caught.value
    assert exc.field == loser
    flag = "--" + loser.replace("_", "-")
    wins = ["--" + r.field.replace("_", "-") for r in common.WINS if r.field in won and loser in r.over]
    assert any(f"no {flag} with {w}" in str(exc) for w in wins) and "\n" not in str(exc)
    # Not typed, or typed without its winner (where it has something to do: common.NEEDS), it is fine.
    validate(params, won)
    validate(params, {**context(get_lab(lab), loser), loser: value})


def test_modules_custom_model_agrees_with_model_spec():
    values = validate(get_lab("modules").params, {"model": "custom", "model_spec": SPEC})
    assert values["model"] == "custom"
    with pytest.raises(ParamError, match="no --model with --model-spec"):
        validate(get_lab("modules").params, {"model": "mlp", "model_spec": SPEC})


def test_the_command_line_refuses_with_one_line_and_exit_2():
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "pttui.engine", "run", "training", "--model-spec", SPEC, "--hidden", "32"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "--hidden" in lines[0] and "--model-spec" in lines[0], out.stderr
    assert "Traceback" not in out.stderr and not out.stdout


def test_the_form_greys_out_what_loses_and_sends_only_what_counts(monkeypatch):
    from pttui.tui import policy
    from pttui.tui.app import PlaygroundApp
    from tests.test_app import built

    for key in (policy.ROOT_ENV, policy.CODE_ENV, policy.FILES_ENV):
        monkeypatch.delenv(key, raising=False)
    lab = get_lab("training")

    async def go():
        app = PlaygroundApp("training", spares=False)
        async with app.run_test(size=(100, 40)) as pilot:
            form = (await built(pilot)).form
            form.field("hidden").editor.value = "32"  # changed before the model file was given
            form.field("epochs").editor.value = "3"
            await pilot.pause()
            assert not form.field("hidden").has_class("-overridden")
            assert form.to_send(form.values()) == {"hidden": (32,), "epochs": 3}
            form.field("model_spec").editor.value = SPEC
            form.field("data").editor.value = CSV
            await pilot.pause()
            lost = common.overridden([p.name for p in lab.params], form.values())
            assert set(lost) == {
                "model",
                "hidden",
                "activation",
                "dropout",
                "dataset",
                "size",
                "noise",
                "features",
            }
            for name, rule in lost.items():
                field = form.field(name)
                assert field.has_class("-overridden"), name
                assert str(field.query_one(".error").render()) == f"↳ {rule.brief()}"  # one line
                assert field.why_unused == rule.words(name)  # the sentence, in the help box on focus
            assert not form.field("epochs").has_class("-overridden")
            sent = form.to_send(form.values())
            assert sent == {"epochs": 3, "model_spec": SPEC, "data": CSV}
            values = validate(lab.params, sent)  # what the engine does with it: no refusal
            assert values["hidden"] == lab.param("hidden").default
            form.field("model_spec").editor.value = ""
            await pilot.pause()
            assert not form.field("hidden").has_class("-overridden")
            assert form.field("dataset").has_class("-overridden")  # --data still wins

    asyncio.run(go())


@pytest.mark.parametrize("lab", sorted({lab for lab, _, _ in PAIRS}))
def test_values_validated_once_pass_again(lab):
    # The command line validates, then the runner validates that full dict again.
    params = get_lab(lab).params
    names = {p.name for p in params}
    given = {w: v for w, v in WINNER_VALUES.items() if w in names and w not in ("load", "input_shape")}
    if "data" not in names and "input_shape" in names:  # random inputs for the model file
        given["input_shape"] = WINNER_VALUES["input_shape"]
    once = validate(params, given)
    assert validate(params, once) == once


@pytest.mark.slow
def test_the_app_runs_a_users_model_and_marks_a_bad_data_file(tmp_path, monkeypatch):
    from pttui.tui import policy
    from pttui.tui.app import PlaygroundApp
    from tests.test_app import built

    for key in (policy.ROOT_ENV, policy.CODE_ENV, policy.FILES_ENV):
        monkeypatch.delenv(key, raising=False)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,label\n1,2,0\n3,1\n")

    async def wait_for(pilot, predicate, what, timeout=120.0):
        import time

        end = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < end, f"waited {timeout:g} s for {what}"
            await pilot.pause(0.1)

    async def go():
        app = PlaygroundApp("training", spares=False)
        async with app.run_test(size=(100, 40)) as pilot:
            screen = await built(pilot)
            # The form's hidden widths, changed before the model file was given, are greyed out and
            # not sent: the run is not refused for them.
            screen.form.set_values(
                {"hidden": (32,), "epochs": 1, "threads": 1, "model_spec": SPEC, "data": str(ragged)}
            )
            await pilot.pause()
            assert screen.form.field("hidden").has_class("-overridden")
            await pilot.press("r")
            await wait_for(
                pilot, lambda: screen.child is None and screen.state.state == "failed", "the refusal"
            )
            field = screen.form.field("data")
            assert field.has_class("-invalid") and "line 3" in str(field.query_one(".error").render())
            assert app.focused is field.editor  # sent to the field to fix it
            screen.form.set_values({"data": CSV})
            await pilot.press("enter")  # Enter in a field runs
            await wait_for(pilot, lambda: screen.state.state != "failed", "the second run to start")
            await wait_for(
                pilot, lambda: screen.child is None and screen.state.state in ("done", "failed"), "the run"
            )
            assert screen.state.state == "done", (screen.state, list(screen.results.log_view.history)[-5:])
            assert not screen.form.field("data").has_class("-invalid")

    asyncio.run(go())
