"""A person's own model and data in the labs that train: the same figures plain PyTorch gives.

The model (tests/userfiles.py) has a custom nn.Parameter, a buffer and a non-tensor output
element. Each lab runs it on a CSV and on generated data; the parameter count is computed from
plain torch modules, and the exported script's printed losses agree with the engine's to 1e-6.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_lab
from userfiles import expected_params, write_csv, write_model

from pttui.engine import events as ev
from pttui.engine.labs import get_lab
from pttui.engine.params import ParamError, validate

TINY = {"epochs": 2, "batch_size": 16, "device": "cpu", "seed": 3, "lr": 0.01}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("userlab")
    return {"model": write_model(folder), "csv": write_csv(folder, n=60)}


def _script_losses(tmp_path, lab: str, values: dict) -> list[tuple[float, float]]:
    script = tmp_path / f"{lab}.py"
    script.write_text(get_lab(lab).code(validate(get_lab(lab).params, values)))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return [(float(a), float(b)) for a, b in re.findall(r"train_loss ([\d.]+) val_loss ([\d.]+)", out.stdout)]


def _agree(engine, printed):
    assert len(printed) == len(engine) and engine, (engine, printed)
    for (ta, va), (tb, vb) in zip(engine, printed, strict=True):
        assert abs(ta - tb) <= 1e-6 and abs(va - vb) <= 1e-6, (engine, printed)


@pytest.mark.slow  # runs the exported script in a fresh Python
@pytest.mark.parametrize(
    "data",
    [
        {"data": "csv"},
        {"dataset": "moons", "size": 80, "model_kwargs": '{"in_features": 2, "n_classes": 2}'},
    ],
    ids=["csv", "generated"],
)
def test_training_a_user_model_matches_plain_pytorch(tmp_path, files, data):
    values = {**TINY, "model_spec": f"{files['model']}:Net", **data}
    if values.get("data") == "csv":
        values["data"] = str(files["csv"])
    final, sink = run_lab("training", **values)
    assert isinstance(final, ev.Done), final
    in_features, classes = (4, 3) if "data" in values else (2, 2)
    assert final.result["params"] == expected_params(in_features, classes)
    assert final.result["task"] == "classification"
    engine = [(e.metrics["train_loss"], e.metrics["val_loss"]) for e in sink.of("epoch")]
    _agree(engine, _script_losses(tmp_path, "training", values))
    said = " ".join(t.body for t in sink.of("text"))
    assert "--model-spec wins over --model" in said


@pytest.mark.slow  # runs the exported script in a fresh Python
def test_regression_reports_no_accuracy_and_the_script_agrees(tmp_path, files):
    path = tmp_path / "reg.csv"
    rows = ["a,b,price"] + [f"{i % 7},{(i * 3) % 5},{0.5 * i:.2f}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    values = {**TINY, "model_spec": f"{files['model']}:Net", "model_kwargs": '{"in_features": 2, "n_classes": 1}',
              "data": str(path), "target": "price"}  # fmt: skip
    final, sink = run_lab("training", **values)
    assert isinstance(final, ev.Done), final
    assert final.result["task"] == "regression" and "val_acc" not in final.result
    engine = [(e.metrics["train_loss"], e.metrics["val_loss"]) for e in sink.of("epoch")]
    _agree(engine, _script_losses(tmp_path, "training", values))


@pytest.mark.slow  # runs the exported script in a fresh Python
def test_dict_output_and_output_key(tmp_path, files):
    values = {**TINY, "epochs": 1, "model_spec": f"{files['model']}:DictNet", "data": str(files["csv"])}
    final, _ = run_lab("training", **values)
    assert isinstance(final, ev.Error) and final.field == "output_key", final
    assert "'aux' holds a int" in final.message and "aux, logits" in final.message
    final, sink = run_lab("training", **values, output_key="logits")
    assert isinstance(final, ev.Done), final
    _agree([(e.metrics["train_loss"], e.metrics["val_loss"]) for e in sink.of("epoch")],
           _script_losses(tmp_path, "training", {**values, "output_key": "logits"}))  # fmt: skip
    final, _ = run_lab("training", **values, output_key="nope")
    assert isinstance(final, ev.Error) and final.field == "output_key" and "aux, logits" in final.message


def test_output_that_does_not_fit_the_targets_says_both_shapes(files):
    final, _ = run_lab(
        "training",
        **TINY,
        model_spec=f"{files['model']}:Net",
        model_kwargs='{"n_classes": 2}',
        data=str(files["csv"]),
    )
    assert isinstance(final, ev.Error) and final.field == "model_spec", final
    assert "[2, 4]" in final.message and "[2, 2]" in final.message and "[batch, 3]" in final.message


def test_a_model_that_fails_in_backward_is_the_models_error(tmp_path, files):
    path = tmp_path / "bad_backward.py"
    path.write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "class Boom(torch.autograd.Function):\n"
        "    @staticmethod\n    def forward(ctx, x):\n        return x.clone()\n\n"
        "    @staticmethod\n    def backward(ctx, g):\n        raise ValueError('no gradient here')\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 3)\n\n"
        "    def forward(self, x):\n        return Boom.apply(self.fc(x))\n"
    )
    final, _ = run_lab("training", **TINY, model_spec=f"{path}:Net", data=str(files["csv"]))
    assert isinstance(final, ev.Error) and final.field is None, final
    assert "ValueError: no gradient here" in final.message and "bad_backward.py line 12" in final.message


@pytest.mark.slow  # runs the exported script in a fresh Python
@pytest.mark.parametrize("data", ["csv", "generated"])
def test_checkpoint_lab_saves_and_reloads_a_user_model_exactly(tmp_path, files, data):
    values = {**TINY, "epochs": 1, "model_spec": f"{files['model']}:Net", "folder": str(tmp_path / "ck")}
    if data == "csv":
        values["data"] = str(files["csv"])
    else:
        values.update(dataset="moons", size=80, model_kwargs='{"in_features": 2, "n_classes": 2}')
    final, sink = run_lab("checkpoint", **values)
    assert isinstance(final, ev.Done), final
    (table,) = [t for t in sink.of("table") if t.title.startswith("save and load")]
    assert {row[0]: row[4] for row in table.rows}["whole model"] == 0.0  # the pickle found the class
    assert all(row[4] == 0.0 for row in table.rows)
    engine = [(e.metrics["train_loss"], e.metrics["val_loss"]) for e in sink.of("epoch")]
    _agree(engine, _script_losses(tmp_path, "checkpoint", {**values, "folder": str(tmp_path / "script")}))


def _amp_losses(sink) -> list[tuple[float, float]]:
    return [(e.metrics["train_loss"], e.metrics["val_loss"]) for e in sink.of("epoch")]


@pytest.mark.slow  # runs the exported script in a fresh Python
@pytest.mark.parametrize("data", ["csv", "synthetic"])
def test_amp_on_a_user_model_matches_its_exported_script(tmp_path, files, data):
    values = {"epochs": 2, "device": "cpu", "seed": 1, "model_spec": f"{files['model']}:Net", "threads": 1}
    if data == "csv":
        values.update(data=str(files["csv"]), batch_size=16)
    else:
        values.update(input_shape="16,4", size=64)
    final, sink = run_lab("amp", **values)
    assert isinstance(final, ev.Done), final
    said = " ".join(t.body for t in sink.of("text"))
    if data == "synthetic":
        assert "random data" in said and "[16, 4]" not in said and "64 inputs of shape [4]" in said
    # The script runs the engine's loop the same way: the variants take turns, epoch by epoch.
    _agree(_amp_losses(sink), _script_losses(tmp_path, "amp", values))


def test_synthetic_inputs_need_a_shape_and_an_agreeing_batch(files):
    final, _ = run_lab("amp", epochs=1, model_spec=f"{files['model']}:Net")
    assert isinstance(final, ev.Error) and final.field == "input_shape" and "random inputs" in final.message
    final, _ = run_lab("amp", epochs=1, model_spec=f"{files['model']}:Net", input_shape="16,4", batch_size=8)
    assert isinstance(final, ev.Error) and final.field == "batch_size" and "16" in final.message


def _int8_size_mb(model_file, tmp_path, **kwargs) -> float:
    """Dynamic int8 of a fresh Net, saved as plain PyTorch saves it: the size to expect."""
    import importlib.util
    import os

    import torch
    from torch import nn

    spec = importlib.util.spec_from_file_location("independent_net", model_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    q = torch.ao.quantization.quantize_dynamic(
        module.Net(**kwargs).eval(), {nn.Linear, nn.LSTM}, dtype=torch.qint8
    )
    folder = tmp_path / "independent"
    folder.mkdir(exist_ok=True)
    torch.save(q.state_dict(), folder / "model.pt")
    return os.path.getsize(folder / "model.pt") / 2**20


@pytest.mark.slow  # runs the exported script in a fresh Python
@pytest.mark.parametrize("data", ["csv", "synthetic"])
def test_quantization_of_a_user_model(tmp_path, files, data):
    values = {"epochs": 1, "seed": 2, "model_spec": f"{files['model']}:Net", "rounds": 1, "torchao": False,
              "batch_size": 16, "threads": 1}  # fmt: skip
    if data == "csv":
        values["data"] = str(files["csv"])
    else:
        values.update(input_shape="16,4", size=64)
    final, sink = run_lab("quantization", **values)
    assert isinstance(final, ev.Done), final
    variants = final.result["variants"]
    assert variants["dynamic int8"]["size_mb"] == pytest.approx(
        _int8_size_mb(files["model"], tmp_path), abs=1e-9
    )
    assert variants["static int8"]["ran"] is False and "QuantStub" in variants["static int8"]["why"]
    (table,) = [t for t in sink.of("table") if t.title.startswith("fp32 and int8")]
    assert any(row[0] == "static int8" and "could not run" in str(row[-1]) for row in table.rows)
    engine = [(e.metrics["train_loss"], e.metrics["val_loss"]) for e in sink.of("epoch")]
    _agree(engine, _script_losses(tmp_path, "quantization", values))


@pytest.mark.slow
@pytest.mark.parametrize("data", ["csv", "synthetic"])
def test_parallel_ranks_train_a_user_model_as_its_exported_script_does(tmp_path, files, data):
    values = {"epochs": 1, "seed": 4, "model_spec": f"{files['model']}:Net", "world_size": 2, "baseline": False,
              "device": "cpu", "timeout": 120.0}  # fmt: skip
    if data == "csv":
        values.update(data=str(files["csv"]), batch_size=16)
    else:
        values.update(input_shape="16,4", size=64)
    final, sink = run_lab("parallel", **values)
    assert isinstance(final, ev.Done), final
    assert final.result["params_identical"] is True
    said = [t.body for t in sink.of("text")]
    assert sum("--model-spec wins over --model" in t for t in said) == 1  # rank 0 says it, once
    assert any("random data" in t for t in said) == (data == "synthetic")
    engine = {
        (e.rank, e.epoch + 1): (e.metrics["train_loss"], e.metrics["val_loss"]) for e in sink.of("epoch")
    }
    script = tmp_path / "parallel.py"
    script.write_text(get_lab("parallel").code(validate(get_lab("parallel").params, values)))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    printed = {
        (int(r), int(e)): (float(a), float(b))
        for r, e, a, b in re.findall(
            r"rank (\d+) epoch (\d+): train_loss ([\d.]+) val_loss ([\d.]+)", out.stdout
        )
    }
    assert printed.keys() == engine.keys() == {(0, 1), (1, 1)}
    for k, (ta, va) in engine.items():
        assert abs(ta - printed[k][0]) <= 1e-6 and abs(va - printed[k][1]) <= 1e-6, (engine, printed)


@pytest.mark.slow  # runs the exported script in a fresh Python
@pytest.mark.parametrize("data", ["csv", "synthetic"])
def test_visualize_draws_and_trains_a_user_model_as_its_script_does(tmp_path, files, data):
    values = {"steps": 6, "seed": 5, "model_spec": f"{files['model']}:Net", "device": "cpu",
              "logdir": str(tmp_path / "tb"), "batch_size": 16}  # fmt: skip
    if data == "csv":
        values["data"] = str(files["csv"])
    else:
        values.update(input_shape="16,4", size=64)
    final, sink = run_lab("visualize", **values)
    assert isinstance(final, ev.Done), final
    assert final.result["total_params"] == expected_params() and final.result["steps"] == 6
    (tree,) = [t for t in sink.of("tree") if t.title.startswith("autograd graph")]
    assert "Net(x)" in tree.title
    script = tmp_path / "visualize.py"
    script.write_text(get_lab("visualize").code(validate(get_lab("visualize").params, values)))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    first, last = map(float, re.search(r"first_loss ([\d.]+) last_loss ([\d.]+)", out.stdout).groups())
    assert abs(first - final.result["first_loss"]) <= 1e-6 and abs(last - final.result["last_loss"]) <= 1e-6


@pytest.mark.slow  # runs the exported script in a fresh Python
def test_data_lab_reads_a_users_csv_without_a_model(tmp_path, files):
    values = {"data": str(files["csv"]), "sweep": False, "epochs": 1, "batch_size": 16, "val_fraction": 0.25}
    final, sink = run_lab("data", **values)
    assert isinstance(final, ev.Done), final
    assert final.result["samples"] == 45 and final.result["batches"] == 3  # 60 rows, a quarter held out
    assert any("--data wins over --dataset" in t.body for t in sink.of("text"))
    script = tmp_path / "data.py"
    script.write_text(get_lab("data").code(validate(get_lab("data").params, values)))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "first batch x [16, 4] y [16]" in out.stdout and "last batch 13 samples" in out.stdout
    final, _ = run_lab("data", data=str(tmp_path / "missing.csv"), sweep=False, epochs=1)
    assert isinstance(final, ev.Error) and final.field == "data"


def test_input_shape_only_where_it_shapes_random_inputs(files):
    from pttui.engine.params import ParamError

    with pytest.raises(ParamError) as caught:  # common.NEEDS and WINS: refused before the run
        run_lab("amp", epochs=1, input_shape="3,4")
    exc = caught.value
    assert exc.field == "input_shape" and "no --input-shape without --model-spec" in str(exc)
    with pytest.raises(ParamError) as caught:
        run_lab("quantization", epochs=1, model_spec=f"{files['model']}:Net", data=str(files["csv"]),
                input_shape="3,4")  # fmt: skip
    assert caught.value.field == "input_shape" and "no --input-shape with --data" in str(caught.value)


GATED = """
import torch
from torch import nn


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 2)
        self.b = nn.Linear(4, 2)
        self.spare = nn.Linear(4, 2)  # never called
        self.scale = nn.Parameter(torch.ones(2), requires_grad=False)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1
        branch = self.a if x.sum() > x.numel() / 2 else self.b  # decided by the input, per call
        return {"out": branch(x) * self.scale, "calls": int(self.calls)}
"""


def _plain(file, name, seed, shape, calls=2, key=None):
    """What plain PyTorch gives: per call, {parameter: grad norm} of those with a grad."""
    import importlib.util

    import torch

    torch.manual_seed(seed)
    spec = importlib.util.spec_from_file_location(f"plain_{name}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, name)()
    out = []
    for _ in range(calls):
        output = model(torch.rand(*shape))
        pred = output[key] if key else output[0]
        pred.sum().backward()
        out.append({n: float(p.grad.norm()) for n, p in model.named_parameters() if p.grad is not None})
        model.zero_grad(set_to_none=True)
    return model, out


@pytest.mark.slow  # runs the exported script in a fresh Python
def test_dynamic_reports_which_of_a_user_models_parameters_got_gradients(tmp_path, files):
    values = {"model_spec": f"{files['model']}:Net", "input_shape": "3,4", "seed": 7}
    final, sink = run_lab("dynamic", **values)
    assert isinstance(final, ev.Done), final
    model, (first, _) = _plain(files["model"], "Net", 7, (3, 4))
    assert final.result["params"] == expected_params() == sum(p.numel() for p in model.parameters())
    assert final.result["grad_params"] == list(first) and final.result["no_grad_params"] == []
    for name, norm in first.items():
        assert abs(final.result["grad_norms"][name] - norm) <= 1e-6, (name, final.result["grad_norms"], first)
    assert final.result["same_graph"] is True  # Net's forward has no branch
    (tree,) = sink.of("tree")
    assert "Net(x).sum()" in tree.title
    # The exported script makes the same inputs and prints the same gradients.
    script = tmp_path / "dynamic.py"
    script.write_text(get_lab("dynamic").code(validate(get_lab("dynamic").params, values)))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    printed = dict(re.findall(r"call 1 (\S+) grad norm ([\d.]+)", out.stdout))
    assert printed.keys() == first.keys()
    for name, norm in printed.items():
        assert abs(float(norm) - first[name]) <= 1e-6
    assert f"call 1 grad_fn nodes {final.result['fn_nodes']}" in out.stdout


def test_dynamic_on_a_user_model_that_branches_on_its_input(tmp_path):
    file = tmp_path / "gated.py"
    file.write_text(GATED)
    # A seed whose two random inputs take different branches, found with plain PyTorch.
    seed, plain = next(
        (s, p)
        for s in range(50)
        for p in [_plain(file, "Gated", s, (1, 4), key="out")[1]]
        if p[0].keys() != p[1].keys()
    )
    final, sink = run_lab(
        "dynamic", model_spec=f"{file}:Gated", input_shape="1,4", output_key="out", seed=seed
    )
    assert isinstance(final, ev.Done), final
    assert final.result["grad_params"] == list(plain[0])
    assert final.result["other_call"]["grad_params"] == list(plain[1])
    assert final.result["frozen_params"] == ["scale"]
    assert {"spare.weight", "spare.bias"} <= set(final.result["no_grad_params"])
    assert final.result["same_graph"] is False
    (table,) = [t for t in sink.of("table") if t.title.startswith("parameters after backward")]
    states = {row[0]: row[2] for row in table.rows}
    assert states["scale"].startswith("frozen") and states["spare.weight"].startswith("no grad")


def test_dynamic_with_a_user_model_needs_an_input_shape_and_refuses_the_built_in_switches(files):
    final, _ = run_lab("dynamic", model_spec=f"{files['model']}:Net")
    assert isinstance(final, ev.Error) and final.field == "input_shape", final
    with pytest.raises(ParamError, match="no --input-shape without --model-spec"):
        run_lab("dynamic", input_shape="2,4")
    with pytest.raises(ParamError, match="no --use-second-layer with --model-spec"):
        run_lab("dynamic", model_spec=f"{files['model']}:Net", input_shape="2,4", use_second_layer=False)


@pytest.mark.slow  # runs the exported script in a fresh Python
def test_modules_counts_a_user_models_parameters_as_plain_pytorch_does(tmp_path, files):
    import torch

    values = {"model_spec": f"{files['model']}:Net", "input_shape": "2,4", "device": "cpu"}
    final, sink = run_lab("modules", **values)
    assert isinstance(final, ev.Done), final
    model, _ = _plain(files["model"], "Net", 0, (2, 4), calls=0)
    assert final.result["total_params"] == expected_params() == sum(p.numel() for p in model.parameters())
    assert sum(b.numel() for b in model.buffers()) == 4 and isinstance(model(torch.rand(2, 4))[1], dict)
    (layers,) = [t for t in sink.of("table") if t.title.startswith("layers")]
    assert sum(row[3] for row in layers.rows) == expected_params()  # the rows sum to the total
    script = tmp_path / "modules.py"
    script.write_text(get_lab("modules").code(validate(get_lab("modules").params, values)))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"total params {expected_params():,}" in out.stdout


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("import sys\nsys.exit(1)\n", "sys.exit(1)"),
        ("x = 1\nraise ValueError('no config file')\n", "ValueError: no config file"),
    ],
    ids=["sys.exit", "raises"],
)
@pytest.mark.parametrize("lab", ["training", "amp", "quantization", "visualize", "dynamic"])
def test_a_model_file_that_fails_at_import_names_the_file_and_line(tmp_path, files, source, words, lab):
    path = tmp_path / "at_import.py"
    path.write_text(source)
    shaped = {"input_shape": "16,4"} if lab in ("amp", "dynamic") else {"data": str(files["csv"])}
    if lab in ("training", "amp", "quantization"):
        shaped["epochs"] = 1
    final, _ = run_lab(lab, model_spec=f"{path}:Net", **shaped)
    assert isinstance(final, ev.Error) and final.field == "model_spec", final
    assert words in final.message and "at_import.py line 2" in final.message, final.message


@pytest.mark.parametrize("lab", ["training", "dynamic"])
def test_an_output_key_for_an_output_that_is_not_a_dict_is_refused(files, lab):
    """Net returns a tuple: --output-key picks nothing there, and was ignored in silence."""
    values = {"model_spec": f"{files['model']}:Net", "output_key": "logits"}
    if lab == "training":
        values.update(TINY, epochs=1, data=str(files["csv"]))
    else:
        values.update(input_shape="2,4")
    final, sink = run_lab(lab, **values)
    assert isinstance(final, ev.Error) and final.field == "output_key", final
    assert "tuple" in final.message and "dict" in final.message, final.message
    assert not sink.of("step")


@pytest.mark.parametrize("lab", ["amp", "training"])
def test_a_model_that_returns_a_scalar_says_both_shapes(tmp_path, files, lab):
    """A forward that sums its output to a 0-d tensor crashed with IndexError (an internal error,
    exit 1); it is the model's output that does not fit: exit 2 naming --model-spec and shapes."""
    path = tmp_path / "scalar_net.py"
    path.write_text(
        "from torch import nn\n\nclass Scalar(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.a = nn.Linear(4, 3)\n\n"
        "    def forward(self, x):\n        return self.a(x).sum()\n"
    )
    values = {"model_spec": f"{path}:Scalar", "epochs": 1, "device": "cpu"}
    values.update({"input_shape": "8,4"} if lab == "amp" else {"data": str(files["csv"])})
    final, _ = run_lab(lab, **values)
    assert isinstance(final, ev.Error) and final.field == "model_spec", final
    assert "returned []" in final.message, final.message


def test_a_model_that_returns_integers_says_it_needs_float_scores(tmp_path, files):
    """An output of int64 (an argmax or .long() in forward) failed inside cross_entropy with
    torch's NotImplementedError (exit 1); it is a --model-spec error naming the dtype (exit 2)."""
    path = tmp_path / "int_net.py"
    path.write_text(
        "from torch import nn\n\nclass IntOut(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.a = nn.Linear(4, 3)\n\n"
        "    def forward(self, x):\n        return self.a(x).long()\n"
    )
    final, _ = run_lab("training", model_spec=f"{path}:IntOut", data=str(files["csv"]), epochs=1)
    assert isinstance(final, ev.Error) and final.field == "model_spec", final
    assert "int64" in final.message and "float" in final.message, final.message


@pytest.mark.slow  # runs the exported script in a fresh Python
def test_whole_number_features_train_the_built_in_model_as_its_script_does(tmp_path):
    """x saved as integers (pixels, counts) crashed every built-in model ('mat1 and mat2 must have
    the same dtype', exit 1); they train as floats, and the exported script agrees to 1e-6."""
    rng = np.random.RandomState(0)
    x = rng.randint(0, 10, size=(80, 4))
    path = tmp_path / "ints.npz"
    np.savez(path, x=x, y=(x[:, 0] > 4).astype(np.int64))
    values = {**TINY, "data": str(path), "hidden": "8"}
    final, sink = run_lab("training", **values)
    assert isinstance(final, ev.Done), final
    engine = [(e.metrics["train_loss"], e.metrics["val_loss"]) for e in sink.of("epoch")]
    _agree(engine, _script_losses(tmp_path, "training", values))


def test_random_classification_targets_need_two_classes(tmp_path):
    """A model with one output and --task classification trained on random targets of one class:
    loss 0, accuracy 1. It is refused naming --task."""
    path = tmp_path / "one_net.py"
    path.write_text(
        "from torch import nn\n\nclass One(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.a = nn.Linear(4, 1)\n\n"
        "    def forward(self, x):\n        return self.a(x)\n"
    )
    final, _ = run_lab("amp", model_spec=f"{path}:One", input_shape="8,4", epochs=1, task="classification")
    assert isinstance(final, ev.Error) and final.field == "task", final
    assert "[2, 1]" in final.message, final.message
