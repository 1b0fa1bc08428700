"""The house rules that keep the engine in one piece: labs hold only their topic, and each fact
(the model catalogue, the device grammar, the training loop) is declared once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pttui.engine import catalogue, events
from pttui.engine.params import DEVICE_EXAMPLES, Param, ParamError, is_device

LABS = Path(__file__).resolve().parent.parent / "engine" / "labs"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted(p for p in LABS.glob("*.py") if p.name != "__init__.py"), ids=str)
def test_no_lab_imports_another_lab(path):
    others = {m for m in _imports(path) if m.startswith("pttui.engine.labs.")}
    assert not others, f"{path.name} imports {others}: move what they share into an engine module"


@pytest.mark.parametrize("name", ["simplenet", "mlp", "cnn", "lstm", "dynamic", "loop"])
def test_the_catalogue_builds_what_its_call_says(name):
    import torch

    from pttui.engine import models

    torch.manual_seed(0)
    built = models.build(name, 64, 10, (32,), "relu", (1, 8, 8))
    call = catalogue.constructor_call(name, 64, 10, (32,), "relu", 8)
    torch.manual_seed(0)
    again = eval(call, vars(models))  # the exported script's line, in the models' namespace
    assert type(built) is type(again) and call.startswith(type(built).__name__ + "(")
    assert [p.shape for p in built.parameters()] == [p.shape for p in again.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(built.parameters(), again.parameters(), strict=True))


def test_dropout_only_where_there_is_a_hidden_layer():
    assert (
        catalogue.constructor_call("mlp", 4, 2, (8,), "relu", 8, 0.25)
        == "MLP(4, (8,), 2, 'relu', dropout=0.25)"
    )
    assert catalogue.constructor_call("mlp", 4, 2, (8,)) == "MLP(4, (8,), 2, 'relu')"
    with pytest.raises(ValueError, match="simplenet takes no dropout"):
        catalogue.constructor("simplenet", 4, 2, dropout=0.5)


def test_one_device_grammar_for_every_field():
    device = Param("device", "device", "auto", "where")
    for text in ("auto", *DEVICE_EXAMPLES):
        assert device.parse(text) == text
    for text in ("gpu", "cuda:", "cuda:123", "keep"):
        with pytest.raises(ParamError, match="auto, cpu, cuda, cuda:N or mps"):
            device.parse(text)
    assert is_device("keep", "keep") and not is_device("auto", "keep")


def test_fixed_value_fields_are_checked_when_the_event_is_built():
    assert events.Text(0.0, "t", "b", pane="summary", level="warning").pane == "summary"
    with pytest.raises(ValueError, match=r"Text\.pane: 'sumary' is not one of 'summary', 'log', 'code'"):
        events.Text(0.0, "t", "b", pane="sumary")
    with pytest.raises(ValueError, match=r"Text\.level"):
        events.Text(0.0, "t", "b", level="warn")
    with pytest.raises(ValueError, match=r"State\.state"):
        events.State(0.0, "sleeping")
    line = events.Text(0.0, "t", "b", pane="code").to_json()
    assert events.from_json(line) == events.Text(0.0, "t", "b", pane="code")


def test_an_error_carries_what_is_allowed():
    from conftest import run_lab

    final, _ = run_lab("training", dataset="spiral", size=100, epochs=1, device="cuda:7")
    assert isinstance(final, events.Error) and final.field == "device", final
    assert final.allowed and final.message.endswith(final.allowed)
    assert events.from_json(final.to_json()).allowed == final.allowed


def test_accuracy_is_a_fraction_by_declaration():
    epoch = events.Epoch(0.0, 0, 1, {"val_acc": 0.5, "accuracy_like": 0.5})
    assert epoch.units["val_acc"] == "fraction" and "accuracy_like" not in epoch.units
