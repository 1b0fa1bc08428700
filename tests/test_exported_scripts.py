"""Every lab's exported script, run with `python`, prints what the lab itself reported.

Two value sets per lab. The training-like scripts carry the engine's own `fit` (copied by
source, see pttui.engine.codegen), so their per-epoch losses must equal the lab's to 1e-6;
the other labs' scripts print the figures the lab shows (shapes, gradients, parameter counts,
batches). Each case runs the lab in-process and its script as a real process.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from conftest import run_lab

from pttui.engine import events as ev
from pttui.engine.labs import all_labs, get_lab
from pttui.engine.params import validate

pytestmark = pytest.mark.slow

TRAIN = {"dataset": "spiral", "size": 300, "hidden": "16", "epochs": 2, "batch_size": 32, "device": "cpu"}
EPOCH = re.compile(
    r"^(?:rank (\d+) )?(?:(\w+) )?epoch (\d+): train_loss ([\d.]+) val_loss ([\d.]+)(?: val_acc ([\d.]+))?$",
    re.M,
)


def _script(tmp_path, lab: str, values: dict) -> str:
    """Write the lab's script for `values`, run it, return what it printed."""
    script = tmp_path / f"{lab}_script.py"
    script.write_text(get_lab(lab).code(validate(get_lab(lab).params, values)))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _epochs_agree(sink, printed: str) -> None:
    """The lab's epoch events and the script's epoch lines: same keys, same losses."""
    lab = {
        (e.rank, e.series, e.epoch + 1): (e.metrics["train_loss"], e.metrics["val_loss"])
        for e in sink.of("epoch")
    }
    script = {
        (int(r) if r else None, s or "train", int(n)): (float(t), float(v))
        for r, s, n, t, v, _ in EPOCH.findall(printed)
    }
    assert lab and script.keys() == lab.keys(), (sorted(lab), sorted(script), printed[-2000:])
    for key, (t, v) in lab.items():
        assert abs(script[key][0] - t) <= 1e-6 and abs(script[key][1] - v) <= 1e-6, (key, lab, script)


def _floats(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", text)]


def _training(tmp_path, lab, values):
    final, sink = run_lab(lab, **values)
    assert isinstance(final, ev.Done), final
    saved = {}
    if values.get("save"):  # the engine's checkpoint, then the script's: the same tensors
        saved = torch.load(tmp_path / values["save"], weights_only=True)
    _epochs_agree(sink, _script(tmp_path, lab, values))
    if saved:
        again = torch.load(tmp_path / values["save"], weights_only=True)
        assert (again["epoch"], again["step"]) == (saved["epoch"], saved["step"])
        assert all(torch.allclose(saved["model"][k], again["model"][k], atol=1e-6) for k in saved["model"])


def _tensors(tmp_path, _lab, values):
    final, _ = run_lab("tensors", **values)
    out = _script(tmp_path, "tensors", values)
    r = final.result
    assert f"shape {list(torch.Size(r['shape']))}" in out, out  # as pttui writes shapes
    assert f"strides {list(r['strides'])} contiguous {r['contiguous']}" in out, out
    if "conversion" in r:
        assert f"after .to(): dtype {r['dtype']}" in out, out


def _autograd(tmp_path, _lab, values):
    final, _ = run_lab("autograd", **values)
    out = _script(tmp_path, "autograd", values)
    for name, grad in final.result["grads"].items():
        line = next(line for line in out.splitlines() if line.startswith(f"{name}.grad ="))
        expected = torch.tensor(grad).flatten().tolist()  # the script prints 4 decimals
        assert _floats(line.split("(", 1)[1]) == pytest.approx(expected, abs=1e-4), line


def _dynamic(tmp_path, _lab, values):
    final, _ = run_lab("dynamic", **values)
    out = _script(tmp_path, "dynamic", values)
    assert f"grad_fn nodes: {final.result['fn_nodes']}" in out, out
    got = [line.split()[0] for line in out.splitlines() if " grad norm " in line]
    assert got == final.result["grad_params"], out
    assert [line.split()[0] for line in out.splitlines() if line.endswith(" no grad")] == final.result[
        "no_grad_params"
    ]


def _modules(tmp_path, _lab, values):
    final, _ = run_lab("modules", **values)
    out = _script(tmp_path, "modules", values)
    r = final.result
    assert f"total params {r['total_params']:,}, trainable {r['trainable_params']:,}" in out, out


def _data(tmp_path, _lab, values):
    final, sink = run_lab("data", **values)
    out = _script(tmp_path, "data", values)
    r = final.result
    assert f"{r['samples']} samples, {r['batches']} batches per epoch" in out, out
    said = next(t.body for t in sink.of("text") if t.title == "batches")
    for epoch in (1, 2):
        labels = re.search(rf"first labels, epoch {epoch}: (\[.*?\])", said).group(1)
        assert f"epoch {epoch}: first batch" in out and f"labels {labels}" in out, (said, out)


def _checkpoint(tmp_path, _lab, values):
    if not values.get("load"):
        final, sink = run_lab("checkpoint", **values)
        assert final.result["identical"], final.result
        out = _script(tmp_path, "checkpoint", values)
        _epochs_agree(sink, out)
        diffs = re.findall(r"^(.+?): \d+ bytes, .* max abs diff (\S+)$", out, re.M)
        assert diffs and all(float(d) == 0.0 for _, d in diffs), out
        return
    path = tmp_path / "weights.pt"
    torch.manual_seed(0)
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)).state_dict(), path)
    values = {**values, "load": str(path)}
    final, _ = run_lab("checkpoint", **values)
    out = _script(tmp_path, "checkpoint", values)
    r = final.result
    assert f"{r['parameters']:,} parameters, {r['buffers']:,} buffer values" in out, (r, out)


def _quantization(tmp_path, _lab, values):
    final, sink = run_lab("quantization", **values)
    out = _script(tmp_path, "quantization", values)
    _epochs_agree(sink, out)
    fp32 = final.result["variants"]["fp32"]
    assert re.search(rf"fp32: .* val acc {fp32['val_acc']:.4f}", out), (fp32, out)


def _visualize(tmp_path, _lab, values):
    values = {**values, "logdir": str(tmp_path / "tb")}
    final, sink = run_lab("visualize", **values)
    out = _script(tmp_path, "visualize", values)
    _epochs_agree(sink, out)
    r = final.result
    first, last = map(float, re.search(r"first_loss ([\d.]+) last_loss ([\d.]+)", out).groups())
    assert f"step {r['steps']}:" in out
    assert abs(first - r["first_loss"]) <= 1e-6 and abs(last - r["last_loss"]) <= 1e-6, (r, out)
    if r["tensorboard"] is not None:  # both wrote to --logdir
        assert f"wrote {tmp_path / 'tb'}" in out


CASES = {
    "tensors": (
        _tensors,
        [
            {"expr": "torch.arange(6.).reshape(2, 3).t()"},
            {"expr": "torch.ones(2, 3) + torch.arange(3)", "dtype": "float64"},
        ],
    ),
    "autograd": (
        _autograd,
        [{}, {"leaves": "w = [1.0, -2.0]; b = [0.5, 0.5]", "expr": "(w * w + b).tanh().sum()"}],
    ),
    "dynamic": (_dynamic, [{"use_second_layer": False}, {"model": "loop", "repeat": 4}]),
    "modules": (_modules, [{"model": "lstm"}, {"model": "mlp", "hidden": "32,16"}]),
    "data": (
        _data,
        [
            {"dataset": "moons", "size": 200, "epochs": 1, "sweep": False},
            {"dataset": "xor", "size": 150, "batch_size": 40, "epochs": 1, "sweep": False, "drop_last": True},
        ],
    ),
    "training": (
        _training,
        [
            TRAIN,
            {
                **{k: v for k, v in TRAIN.items() if k not in ("size", "hidden")},  # digits, cnn: neither
                "dataset": "digits",
                "model": "cnn",
                "optimizer": "sgd",
                "lr": 0.05,
                "epochs": 1,
                "save": "every_epoch.pt",
            },
        ],
    ),
    "checkpoint": (_checkpoint, [{**TRAIN, "folder": "files"}, {"load": "weights.pt"}]),
    "parallel": (
        _training,
        [
            {**TRAIN, "world_size": 1, "threads": 1, "baseline": False},
            {**TRAIN, "world_size": 2, "threads": 1, "baseline": False, "epochs": 1},
        ],
    ),
    "amp": (_training, [{**TRAIN, "batch_size": 64}, {**TRAIN, "scaler": "on", "inject_inf": 3}]),
    "quantization": (
        _quantization,
        [
            {"hidden": "32", "side": 8, "epochs": 1, "rounds": 1, "torchao": False},
            {"hidden": "16,16", "side": 12, "epochs": 2, "rounds": 1, "torchao": False, "seed": 3},
        ],
    ),
    "visualize": (_visualize, [{"model": "mlp", "steps": 30}, {"model": "dynamic", "steps": 20, "seed": 2}]),
}


def test_every_lab_has_cases():
    assert set(CASES) == set(all_labs()), "each lab's exported script needs its cases here"
    assert all(len(sets) >= 2 for _, sets in CASES.values())


@pytest.mark.parametrize(
    "lab,index", [(lab, i) for lab, (_, sets) in CASES.items() for i in range(len(sets))]
)
def test_the_exported_script_prints_what_the_lab_reported(tmp_path, lab, index):
    check, sets = CASES[lab]
    check(tmp_path, lab, sets[index])
