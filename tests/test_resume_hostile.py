"""Crafted training checkpoints: `--resume` refuses each with the checkpoint's field named, exit 2,
before it trains a step (never a KeyError, a crash mid-training, or the wrong number of epochs)."""

from __future__ import annotations

import pytest
import torch
from conftest import pttui, run_lab

from pttui.engine import events as ev

TINY = dict(dataset="spiral", size=300, hidden="16", batch_size=32, threads=1, device="cpu")


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "ck.pt"
    final, _ = run_lab("training", epochs=1, save=str(path), **TINY)
    assert isinstance(final, ev.Done), final
    return torch.load(path, weights_only=True)


def _drop(key):
    return lambda ck: ck.pop(key)


def _set(key, value):
    return lambda ck: ck.__setitem__(key, value)


def _rng(name, value):
    return lambda ck: ck["rng"].__setitem__(name, value)


def _first_adam_state(ck):
    state = ck["optimizer"]["state"]
    first = next(iter(state))
    state[first]["exp_avg"] = torch.zeros(3, 3)


CASES = [
    ("no epoch", _drop("epoch"), "'epoch' is missing"),
    ("no rng", _drop("rng"), "'rng' is missing"),
    ("epoch -5", _set("epoch", -5), "'epoch' is -5"),
    ("epoch a str", _set("epoch", "1"), "'epoch' is a str"),
    ("epoch a bool", _set("epoch", True), "'epoch' is a bool"),
    ("step below epochs", _set("step", 0), "'step' is 0"),
    ("model a list", _set("model", []), "'model' is a list"),
    ("3-byte rng", _rng("torch", torch.zeros(3, dtype=torch.uint8)), "'rng.torch'"),
    ("float rng", _rng("batches", torch.zeros(5056)), "'rng.batches'"),
    ("values a list", _set("values", []), "'values' is a list"),
    ("wrong optimizer shape", _first_adam_state, "optimizer.state."),
    ("optimizer groups", lambda ck: ck["optimizer"].__setitem__("param_groups", "x"), "param_groups"),
    ("scaler a str", _set("scaler", "x"), "'scaler' is a str"),
    ("version 99", _set("version", 99), "'version' is 99"),
]


@pytest.mark.parametrize(("name", "change", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_crafted_checkpoint_is_refused_with_its_field_named(tmp_path, good, name, change, words):
    ck = {**good, "values": dict(good["values"]), "rng": dict(good["rng"])}
    ck["optimizer"] = {"state": {k: dict(v) for k, v in good["optimizer"]["state"].items()},
                       "param_groups": good["optimizer"]["param_groups"]}  # fmt: skip
    change(ck)
    path = tmp_path / "crafted.pt"
    torch.save(ck, path)
    final, sink = run_lab("training", epochs=3, resume=str(path), **TINY)
    assert isinstance(final, ev.Error) and final.field == "resume", final
    assert words in final.message and str(path) in final.message, final.message
    assert not final.detail  # a message, not a traceback
    assert not sink.of("step")  # refused before training


def test_the_command_line_exits_2_with_one_line(tmp_path, good):
    path = tmp_path / "crafted.pt"
    torch.save({**good, "epoch": -5}, path)
    out = pttui(
        "run",
        "training",
        "--epochs",
        "3",
        "--resume",
        str(path),
        "--dataset",
        "spiral",
        "--size",
        "300",
        "--hidden",
        "16",
        "--batch-size",
        "32",
    )
    assert out.returncode == 2, out.stderr
    said = " ".join(out.stderr.split())  # the terminal printer wraps long lines
    assert "Traceback" not in said and "'epoch' is -5" in said, said
