"""The training lab against real PyTorch: it learns, it is deterministic, its script agrees."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import run_lab

from pttui.engine import events as ev
from pttui.engine.labs import get_lab
from pttui.engine.params import ParamError, validate

TINY = dict(dataset="spiral", size=300, hidden="16", epochs=3, batch_size=32, threads=1)


def test_defaults_learn_the_digits():
    final, sink = run_lab("training", threads=1)
    assert isinstance(final, ev.Done), final
    result = final.result
    assert result["val_acc"] >= 0.8
    for key in ("train_loss", "val_loss", "val_acc", "samples_per_s", "steps", "train_seconds", "device"):
        assert key in result
    steps = sink.of("step")
    assert [s.step for s in steps] == list(range(1, result["steps"] + 1))
    assert len(sink.of("epoch")) == 20
    assert sink.events[0].kind == "start" and sink.events[-1].kind == "done"


def test_same_seed_same_losses():
    first = [s.loss for s in run_lab("training", **TINY)[1].of("step")]
    second = [s.loss for s in run_lab("training", **TINY)[1].of("step")]
    assert first == second and len(first) > 10
    other = [s.loss for s in run_lab("training", **{**TINY, "seed": 1})[1].of("step")]
    assert other != first


def test_stop_ends_at_the_next_step():
    from pttui.engine.runner import Runner
    from pttui.engine.sinks import Sink

    class StopAfter(Sink):
        def __init__(self):
            self.steps = 0

        def on_event(self, event):
            if event.kind == "step":
                self.steps += 1
                if self.steps == 5:
                    runner.stop()

    sink = StopAfter()
    runner = Runner(get_lab("training"), {**TINY, "epochs": 50}, [sink])
    final = runner.run()
    assert isinstance(final, ev.Done) and final.stopped
    assert final.result["steps"] < 50 * 10


def test_missing_device_is_a_parameter_error():
    final, _ = run_lab("training", device="cuda:3", **{k: v for k, v in TINY.items()})
    assert isinstance(final, ev.Error) and final.field == "device"
    assert "cpu" in final.message


def test_fp16_on_cpu_is_a_parameter_error():
    final, _ = run_lab("training", amp="fp16", device="cpu", **TINY)
    assert isinstance(final, ev.Error) and final.field == "amp"


def test_cnn_needs_images():
    # Refused with the parameters (common.VALUE_NEEDS), before torch builds anything.
    with pytest.raises(ParamError) as refused:
        run_lab("training", model="cnn", **{k: v for k, v in TINY.items() if k != "hidden"})
    assert refused.value.field == "model" and "cnn needs one-channel square images" in str(refused.value)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"dataset": "digits", "size": None, "model": "cnn", "hidden": None, "optimizer": "sgd", "lr": 0.05},
        {"dataset": "moons", "model": "simplenet", "hidden": None, "optimizer": "adamw", "amp": "bf16"},
        {
            "features": "x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2",
            "regularization": "l1",
            "reg_rate": 0.0005,
            "dropout": 0.2,
        },
        {
            "dataset": "digits",
            "size": None,
            "model": "cnn",
            "hidden": None,
            "regularization": "l2",
            "reg_rate": 0.01,
            "dropout": 0.3,
        },
    ],
    ids=["mlp-spiral", "cnn-digits-sgd", "simplenet-moons-bf16", "features-l1-dropout", "cnn-l2-dropout"],
)
def test_exported_script_prints_the_engines_losses(tmp_path, extra):
    # None: a field of TINY this model or data set does not take (common.NEEDS refuses it typed)
    values = {k: v for k, v in {**TINY, "device": "cpu", **extra}.items() if v is not None}
    _, sink = run_lab("training", **values)
    engine_epochs = [(e.metrics["train_loss"], e.metrics["val_loss"]) for e in sink.of("epoch")]
    script = tmp_path / "train.py"
    script.write_text(get_lab("training").code(validate(get_lab("training").params, values)))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    printed = [
        (float(a), float(b)) for a, b in re.findall(r"train_loss ([\d.]+) val_loss ([\d.]+)", out.stdout)
    ]
    assert len(printed) == len(engine_epochs) == values["epochs"]
    for (ta, va), (tb, vb) in zip(engine_epochs, printed, strict=True):
        assert abs(ta - tb) <= 1e-6 and abs(va - vb) <= 1e-6


def test_threads_leave_a_core_to_the_app_only_when_asked():
    from pttui.engine.devices import thread_count

    assert thread_count(0, 8, leave_a_core=False) == 8
    assert thread_count(0, 8, leave_a_core=True) == 7
    assert thread_count(0, 1, leave_a_core=True) == 1
    assert thread_count(3, 8, leave_a_core=True) == 3  # an explicit choice always wins


@pytest.mark.parametrize("lab", ["training", "checkpoint"])
def test_the_results_speed_is_the_whole_runs_not_the_last_epochs(lab):
    # The per-epoch figures travel in the epoch events; the result speaks for the whole run.
    from pttui.engine import data

    spec = data.DataSpec("spiral", size=300, seed=0)
    n_train = len(data.load(spec).x_train)
    final, sink = run_lab(lab, dataset="spiral", size=300, hidden="16", epochs=3, batch_size=32, threads=1)
    assert isinstance(final, ev.Done), final
    result = final.result
    epochs = sink.of("epoch")
    assert len(epochs) == 3
    assert result["samples_per_s"] * result["train_seconds"] == pytest.approx(3 * n_train, rel=1e-6)
    assert result["train_seconds"] == pytest.approx(sum(e.metrics["seconds"] for e in epochs), rel=1e-9)
    assert "seconds" not in result  # one epoch's time is the epoch events', never the run's figure
    for e in epochs:  # each epoch's own speed: its samples over its own time
        assert e.metrics["samples_per_s"] * e.metrics["seconds"] == pytest.approx(n_train, rel=1e-6)


def test_a_paced_runs_times_say_what_they_count():
    # train_seconds: the steps' own time (what samples_per_s divides by); wall_seconds: the run
    # end to end on the events' clock, which the status line and the Log count too.
    pace = 10.0
    final, sink = run_lab(
        "training", dataset="spiral", size=300, hidden="8", epochs=1, batch_size=32, threads=1, pace=pace
    )
    assert isinstance(final, ev.Done), final
    r = final.result
    steps = r["steps"]
    assert steps >= 5, r
    paced = (steps - 1) / pace  # the sleeps between paced steps, at the least
    assert r["wall_seconds"] >= paced, (r["wall_seconds"], paced)
    assert r["train_seconds"] < r["wall_seconds"] - paced / 2, r  # the pace's sleeps are not training
    epoch = sink.of("epoch")[-1]
    assert epoch.t <= r["wall_seconds"] <= final.t  # the Done event's t is what the Log says
    assert "seconds" not in r


def test_the_headless_bar_shows_the_speed_the_result_gives():
    from io import StringIO

    from rich.console import Console

    from pttui.engine import numbers
    from pttui.engine.human import HumanSink

    final, sink = run_lab(
        "training", dataset="spiral", size=300, hidden="8", epochs=4, batch_size=32, threads=1
    )
    human = HumanSink(Console(file=StringIO(), width=120, color_system=None))
    for event in sink.events[:-1]:  # up to the last epoch: the bar then holds the run's speed
        human.on_event(event)
    shown = human.progress.tasks[0].fields["rate"]
    human.on_event(sink.events[-1])
    assert shown == numbers.number(round(final.result["samples_per_s"])), (shown, final.result)
