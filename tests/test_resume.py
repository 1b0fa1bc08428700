"""Resumable training: 1 epoch, save, resume for the 2nd == 2 epochs straight, step for step."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
from conftest import pttui, run_lab

from pttui.engine import events as ev
from pttui.engine.labs import get_lab
from pttui.engine.params import ParamError, validate
from pttui.engine.runner import Runner
from pttui.engine.sinks import Sink

TINY = dict(dataset="spiral", size=300, hidden="16", batch_size=32, threads=1, device="cpu")


def _steps(sink):
    return [(s.step, s.epoch, s.loss) for s in sink.of("step")]


def _epochs(sink):
    return [
        (e.epoch, e.metrics["train_loss"], e.metrics["val_loss"], e.metrics["val_acc"])
        for e in sink.of("epoch")
    ]


@pytest.mark.parametrize(
    "extra",
    [{}, {"optimizer": "sgd", "lr": 0.05}, {"dataset": "digits", "model": "cnn"}],
    ids=["adam", "sgd-momentum", "cnn-digits"],
)
def test_save_then_resume_equals_training_straight(tmp_path, extra):
    values = {**TINY, **extra}
    if values["dataset"] == "digits":  # neither --size nor --hidden does anything there (common.NEEDS)
        del values["size"], values["hidden"]
    ck = str(tmp_path / "ck.pt")
    straight = run_lab("training", epochs=2, **values)[1]
    first_final, first = run_lab("training", epochs=1, save=ck, **values)
    final, second = run_lab("training", epochs=2, resume=ck, **values)
    assert isinstance(first_final, ev.Done) and isinstance(final, ev.Done), final
    # The same losses to the last bit, and step and epoch numbers that carry on.
    assert _steps(first) + _steps(second) == _steps(straight)
    assert _epochs(first) + _epochs(second) == _epochs(straight)
    assert second.of("step")[0].step == first_final.result["steps"] + 1
    assert final.result["steps"] == len(straight.of("step"))
    assert any(t.title == "resumed" for t in second.of("text"))


def test_the_checkpoint_loads_with_weights_only(tmp_path):
    ck = tmp_path / "ck.pt"
    run_lab("training", epochs=1, save=str(ck), **TINY)
    saved = torch.load(ck, map_location="cpu", weights_only=True)  # no allowlist, no trust needed
    assert {"model", "optimizer", "scaler", "epoch", "step", "rng"} <= saved.keys()
    assert saved["epoch"] == 1 and saved["step"] == 8  # 240 samples / 32
    assert saved["rng"]["torch"].dtype == torch.uint8 and saved["rng"]["batches"].dtype == torch.uint8
    assert saved["optimizer"]["state"], "Adam's moments are saved"


def test_a_checkpoint_is_saved_at_every_epoch_end(tmp_path):
    """Stopped after the 2nd of 5 epochs: the file holds epoch 2, not nothing and not epoch 5."""
    ck = tmp_path / "ck.pt"

    class StopAtEpoch2(Sink):
        def on_event(self, event):
            if event.kind == "epoch" and event.epoch == 1:
                runner.stop()

    runner = Runner(get_lab("training"), {**TINY, "epochs": 5, "save": str(ck)}, [StopAtEpoch2()])
    final = runner.run()
    assert isinstance(final, ev.Done) and final.stopped
    saved = torch.load(ck, weights_only=True)
    assert (saved["epoch"], saved["step"]) == (2, 16)


def test_resume_with_other_values_names_them(tmp_path):
    ck = str(tmp_path / "ck.pt")
    run_lab("training", epochs=1, save=ck, **TINY)
    final, sink = run_lab("training", epochs=2, resume=ck, **{**TINY, "hidden": "32"})
    assert isinstance(final, ev.Error) and final.field == "resume"
    assert "hidden=16 (now 32)" in final.message and ck in final.message
    assert not sink.of("step")


def test_resume_past_the_last_epoch_is_an_epochs_error(tmp_path):
    ck = str(tmp_path / "ck.pt")
    run_lab("training", epochs=2, save=ck, **TINY)
    final, _ = run_lab("training", epochs=2, resume=ck, **TINY)
    assert isinstance(final, ev.Error) and final.field == "epochs" and "2 epochs" in final.message


def test_resume_needs_a_training_checkpoint(tmp_path):
    weights = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(2)}, weights)
    final, _ = run_lab("training", epochs=2, resume=str(weights), **TINY)
    assert isinstance(final, ev.Error) and final.field == "resume" and "--save" in final.message
    with pytest.raises(ParamError) as caught:  # refused with the parameters, before the run
        run_lab("training", epochs=2, resume=str(tmp_path / "missing.pt"), **TINY)
    assert caught.value.field == "resume" and "no such file" in str(caught.value)


def test_an_unwritable_save_path_fails_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ParamError) as caught:  # refused with the parameters: no step trained
        run_lab("training", epochs=1, save=str(blocker / "ck.pt"), **TINY)
    assert caught.value.field == "save"


@pytest.mark.slow
def test_resume_from_the_command_line(tmp_path):
    ck = str(tmp_path / "ck.pt")
    quick = dict(dataset="moons", size=200, threads=1)
    first, _ = run_lab("training", epochs=1, save=ck, **quick)
    per_epoch = first.result["steps"]  # 160 samples / 64 a batch: 3
    second = pttui("run", "training", "--epochs", "2", "--resume", ck, "--json", "--dataset", "moons",
                   "--size", "200", "--threads", "1")  # fmt: skip
    assert second.returncode == 0, second.stderr
    events = [json.loads(line) for line in second.stdout.splitlines()]
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps == list(range(per_epoch + 1, 2 * per_epoch + 1))
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1]


@pytest.mark.slow
def test_the_exported_script_saves_and_resumes_like_the_engine(tmp_path):
    """The code view's --save/--resume lines make files the engine resumes from, and back."""
    lab = get_lab("training")
    straight = run_lab("training", epochs=2, **TINY)[1]
    want = [(t, v) for _, t, v, _ in _epochs(straight)]

    script_ck = str(tmp_path / "from_script.pt")
    script = tmp_path / "save.py"
    script.write_text(lab.code(validate(lab.params, {**TINY, "epochs": 1, "save": script_ck})))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    _, resumed = run_lab("training", epochs=2, resume=script_ck, **TINY)
    assert [(t, v) for _, t, v, _ in _epochs(resumed)] == want[1:]  # exactly: the same arithmetic

    engine_ck = str(tmp_path / "from_engine.pt")
    run_lab("training", epochs=1, save=engine_ck, **TINY)
    script = tmp_path / "resume.py"
    script.write_text(lab.code(validate(lab.params, {**TINY, "epochs": 2, "resume": engine_ck})))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    printed = re.findall(r"epoch (\d+): train_loss ([\d.]+) val_loss ([\d.]+)", out.stdout)
    assert [int(n) for n, _, _ in printed] == [2]
    (_, train_loss, val_loss), (want_train, want_val) = printed[0], want[1]
    assert abs(float(train_loss) - want_train) <= 1e-6 and abs(float(val_loss) - want_val) <= 1e-6
