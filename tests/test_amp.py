"""The amp lab: its device decisions (CUDA cases too, on a CPU), the scaler skipping an inf step,
and that its exported script trains to the very same losses."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest
from conftest import run_lab

from pttui.engine import events as ev
from pttui.engine.devices import Available
from pttui.engine.labs import get_lab
from pttui.engine.labs.amp import plan
from pttui.engine.params import ParamError, validate

TINY = dict(dataset="spiral", size=300, hidden="16", epochs=3, batch_size=32, threads=1, device="cpu")
NO_BF16_GPU = Available(cuda_count=1, cuda_bf16=False)
BF16_GPU = Available(cuda_count=1, cuda_bf16=True)


def test_cpu_takes_bf16_without_a_scaler():
    p = plan("auto", "auto", "cpu", Available())
    assert (p.label, p.dtype, p.scaler) == ("bf16", "bfloat16", False)


def test_a_gpu_without_bf16_takes_fp16_with_a_scaler():
    p = plan("auto", "auto", "cuda", NO_BF16_GPU)
    assert (p.label, p.dtype, p.scaler) == ("fp16", "float16", True)
    assert "no bf16" in p.why


def test_a_gpu_with_bf16_takes_bf16_and_no_scaler():
    p = plan("auto", "auto", "cuda:0", BF16_GPU)
    assert (p.label, p.scaler) == ("bf16", False)
    assert plan("fp16", "auto", "cuda", BF16_GPU).scaler  # asked for fp16: the scaler comes with it


@pytest.mark.parametrize(
    "amp, device, available, field",
    [
        ("fp16", "cpu", Available(), "amp"),  # fp16 autocast needs CUDA
        ("bf16", "cuda", NO_BF16_GPU, "amp"),  # this GPU has no bf16
        ("auto", "mps", Available(mps=True), "device"),
    ],
)
def test_impossible_choices_name_the_field(amp, device, available, field):
    with pytest.raises(ParamError) as err:
        plan(amp, "auto", device, available)
    assert err.value.field == field


def test_scaler_on_and_off_override_auto():
    assert plan("bf16", "on", "cpu", Available()).scaler
    off = plan("auto", "off", "cuda", NO_BF16_GPU)
    assert not off.scaler and "vanish" in off.why


@pytest.mark.filterwarnings("error::DeprecationWarning", "error::FutureWarning")
def test_trains_both_variants_from_the_same_start():
    final, sink = run_lab("amp", **TINY)
    assert isinstance(final, ev.Done), final
    steps = sink.of("step")
    fp32 = [s.loss for s in steps if s.series == "fp32"]
    bf16 = [s.loss for s in steps if s.series == "bf16"]
    assert len(fp32) == len(bf16) == final.result["fp32_steps"] > 10
    assert abs(fp32[0] - bf16[0]) < 0.02  # same weights, same first batch; bf16 rounds a little
    assert fp32 != bf16
    epochs = sink.of("epoch")
    assert {e.series for e in epochs} == {"fp32", "bf16"}
    assert all(e.epochs == 3 for e in epochs)  # the real total, though fit runs one epoch at a time
    (table,) = sink.of("table")
    assert [row[0] for row in table.rows] == ["fp32", "bf16"]
    assert table.rows[0][8] == "n/a"  # peak memory is a CUDA figure
    r = final.result
    assert r["speedup"] > 0 and r["epochs_timed"] == 2
    assert r["fp32"]["val_acc"] > 0 and r["bf16"]["val_acc"] > 0
    assert "skipped_steps" not in r  # no scaler with bf16 unless asked


@pytest.mark.filterwarnings("error::DeprecationWarning", "error::FutureWarning")
def test_an_inf_gradient_is_skipped_and_halves_the_scale():
    final, sink = run_lab("amp", **TINY, scaler="on", inject_inf=4)
    assert isinstance(final, ev.Done), final
    r = final.result
    assert r["skipped_steps"] == [4]
    assert r["scale_final"] == 65536.0 / 2
    scale_table = next(t for t in sink.of("table") if t.title.startswith("GradScaler"))
    assert scale_table.rows[:2] == [
        [1, 65536.0, "first step"],
        [4, 32768.0, "skipped: inf/nan gradients, scale halved"],
    ]
    texts = [t.body for t in sink.of("text") if t.title == "scaler"]
    assert texts and "skipped 1 optimizer step(s) (4)" in texts[0]
    # the skipped step left the loss finite: the inf never reached the weights
    assert all(s.loss == s.loss and abs(s.loss) < 1e3 for s in sink.of("step"))


def test_without_an_inf_nothing_is_skipped():
    final, _ = run_lab("amp", **TINY, scaler="on")
    assert final.result["skipped_steps"] == [] and final.result["scale_final"] == 65536.0


def test_injecting_needs_a_scaler():
    final, _ = run_lab("amp", **TINY, inject_inf=2)
    assert isinstance(final, ev.Error) and final.field == "inject_inf"


def test_stop_ends_cleanly():
    from pttui.engine.runner import Runner
    from pttui.engine.sinks import Sink

    class StopAfter(Sink):
        def on_event(self, event):
            if event.kind == "step" and event.step == 5:
                runner.stop()

    runner = Runner(get_lab("amp"), {**TINY, "epochs": 50}, [StopAfter()])
    final = runner.run()
    assert isinstance(final, ev.Done) and final.stopped
    assert final.result["fp32_steps"] < 50 * 10


@pytest.mark.parametrize("extra", [{}, {"scaler": "on", "inject_inf": 4}], ids=["bf16", "scaler-inf"])
def test_exported_script_prints_the_engines_losses(tmp_path, extra):
    values = {**TINY, "epochs": 2, **extra}
    _, sink = run_lab("amp", **values)
    engine = {(e.series, e.epoch): (e.metrics["train_loss"], e.metrics["val_loss"]) for e in sink.of("epoch")}
    lab = get_lab("amp")
    script = tmp_path / "amp.py"
    script.write_text(lab.code(validate(lab.params, values)))
    out = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-W", "error::FutureWarning", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    printed = re.findall(r"(\w+) epoch (\d+): train_loss ([\d.]+) val_loss ([\d.]+)", out.stdout)
    assert len(printed) == len(engine) == 4
    for series, epoch, train_loss, val_loss in printed:
        ta, va = engine[(series, int(epoch) - 1)]
        assert abs(ta - float(train_loss)) <= 1e-6 and abs(va - float(val_loss)) <= 1e-6
    assert "torch.amp.GradScaler" in script.read_text() and "samples/s" in out.stdout


def test_speed_words_say_plainly_when_slower():
    # engine.timing is shared by the three speed labs; its words are what a person reads.
    from pttui.engine.timing import speed_words, summarize

    assert speed_words(1.37) == "1.37x faster"
    assert speed_words(0.69) == "slower: 0.69x"
    assert speed_words(1.01) == "about the same (1.01x)"
    t = summarize([9.0, 1.0, 3.0, 2.0], warmup=1)  # the warm-up (9.0) is dropped
    assert t.seconds == (1.0, 3.0, 2.0) and t.median == 2.0
    assert summarize([5.0], warmup=1).median == 5.0  # nothing else timed: it counts


def test_code_views_need_no_torch():
    # The app builds its code view on every edit and never imports torch.
    probe = (
        "import sys\n"
        "from pttui.engine.labs import get_lab\n"
        "from pttui.engine.params import validate\n"
        "for name in ('data', 'amp', 'quantization'):\n"
        "    lab = get_lab(name)\n"
        "    assert 'import torch' in lab.code(validate(lab.params, {}))\n"
        "assert 'torch' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_auto_is_one_decision_that_the_script_carries():
    # A GPU without bf16 takes fp16 with a GradScaler; the CPU and GPUs with bf16 take bf16.
    from pttui.engine.labs.amp import autocast_choice
    from pttui.engine.source import definition

    assert autocast_choice("auto", "auto", "cuda", False) == ("fp16", True)
    assert autocast_choice("auto", "auto", "cuda", True) == ("bf16", False)
    assert autocast_choice("auto", "auto", "cpu", False) == ("bf16", False)
    assert plan("auto", "auto", "cuda", Available(1, False, False)).label == "fp16"
    lab = get_lab("amp")
    script = lab.code(validate(lab.params, {"amp": "auto"}))
    assert definition("labs.amp", "autocast_choice") in script
    assert "autocast_choice('auto', 'auto', device_type, cuda_bf16)" in script
    # The script's own copy decides as the lab does on the machine that differs from this one.
    tree = ast.parse(script)
    (fn,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "autocast_choice"]
    namespace: dict = {}
    exec(compile(ast.Module([fn], []), "script", "exec"), namespace)
    assert namespace["autocast_choice"]("auto", "auto", "cuda", False) == ("fp16", True)
