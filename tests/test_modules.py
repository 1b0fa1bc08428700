"""The nn.Module lab: totals always equal the parameter count; torchsummary's gaps are named.

User models are real files in a temporary folder, loaded through `--model-spec`.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest
from conftest import pttui, run_lab

from pttui.engine import events as ev
from pttui.engine import models
from pttui.engine.labs import get_lab
from pttui.engine.params import ParamError, validate

BUILT = {
    "simplenet": lambda: models.SimpleNet(784, 10),
    "mlp": lambda: models.MLP(784, (128, 64), 10),
    "cnn": lambda: models.CNN(10, side=28),
    "dynamic": models.DynamicModel,
    "lstm": lambda: models.LSTMClassifier(28, 64, 10),
}


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(BUILT))
def test_total_params_equal_the_parameter_count(name, capsys):
    final, sink = run_lab("modules", model=name)
    assert isinstance(final, ev.Done), final
    assert final.result["total_params"] == count(BUILT[name]())
    assert final.result["trainable_params"] == final.result["total_params"]
    totals = dict(
        (r[0], r[1]) for r in next(t for t in sink.of("table") if t.title.startswith("totals")).rows
    )
    assert totals["total params"] == final.result["total_params"]
    assert capsys.readouterr().out == ""  # torchsummary's print was captured, not written


def test_simplenet_is_7850_and_torchsummary_agrees():
    final, sink = run_lab("modules")
    assert final.result["total_params"] == 7_850 and final.result["torchsummary"] == "ok"
    (table,) = [t for t in sink.of("text") if t.title == "torchsummary"]
    assert table.pane == "summary" and "Total params: 7,850" in table.body and "Linear-1" in table.body
    layers = next(t for t in sink.of("table") if t.title.startswith("layers"))
    assert layers.rows[0][:3] == ["fc", "Linear", str([1, 10])]  # written as every shape is


def test_lstm_torchsummary_cannot_cope_but_totals_are_right():
    final, sink = run_lab("modules", model="lstm")
    assert final.result["total_params"] == count(BUILT["lstm"]())
    problem = final.result["torchsummary"]
    assert "LSTM" in problem and "model.parameters()" in problem and "\n" not in problem
    assert any(t.level == "warning" and t.body == problem for t in sink.of("text"))
    layers = next(t for t in sink.of("table") if t.title.startswith("layers"))
    lstm = next(r for r in layers.rows if r[1] == "LSTM")
    assert lstm[2] == "([1, 28, 64], ([1, 1, 64], [1, 1, 64]))"  # the tuple of shapes, traced by hooks


def _write(tmp_path, body: str, name: str = "user_model.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


LSTM_FILE = """
    import torch
    from torch import nn

    print("this line must not reach stdout")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 16, batch_first=True)
            self.scale = nn.Parameter(torch.ones(16))  # neither weight nor bias
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1] * self.scale)

    def make():
        return Net()
"""


def _import(path: str, name: str):
    spec = importlib.util.spec_from_file_location("reference_user_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


@pytest.mark.parametrize("attr", ["Net", "make"])
def test_user_file_with_lstm_and_custom_parameter(tmp_path, attr, capsys):
    path = _write(tmp_path, LSTM_FILE)
    final, sink = run_lab("modules", model_spec=f"{path}:{attr}", input_shape="2,5,8")
    assert isinstance(final, ev.Done), final
    expected = count(_import(path, "Net"))
    capsys.readouterr()  # the reference import above printed; the lab must not
    assert final.result["total_params"] == expected == 1_731
    assert final.result["model"] == "custom" and final.result["output"] == "[2, 3]"
    assert "torchsummary cannot summarise" in final.result["torchsummary"]
    printed = [t for t in sink.of("text") if t.title == "printed by your model file"]
    assert printed and "must not reach stdout" in printed[0].body
    assert capsys.readouterr().out == ""


def test_torchsummary_miscount_is_named(tmp_path):
    path = _write(
        tmp_path,
        """
        import torch
        from torch import nn

        class Scaled(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(784, 10)
                self.temperature = nn.Parameter(torch.ones(10))  # on the model itself

            def forward(self, x):
                return self.fc(x) / self.temperature
        """,
    )
    final, _ = run_lab("modules", model_spec=f"{path}:Scaled", input_shape="1,784")
    assert final.result["total_params"] == 7_860
    assert "total params 7,850 (model.parameters(): 7,860)" in final.result["torchsummary"]


def test_dict_outputs_and_several_inputs(tmp_path):
    path = _write(
        tmp_path,
        """
        from torch import nn

        class Heads(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(10, 4)
                self.b = nn.Linear(5, 4)

            def forward(self, x, y):
                return {"sum": self.a(x) + self.b(y), "a": self.a(x)}

        class Wrapper(nn.Module):
            def __init__(self):
                super().__init__()
                self.heads = Heads()

            def forward(self, x, y):
                return self.heads(x, y)["sum"]
        """,
    )
    final, sink = run_lab("modules", model_spec=f"{path}:Wrapper", input_shape="3,10; 3,5")
    assert isinstance(final, ev.Done), final
    assert final.result["total_params"] == 10 * 4 + 4 + 5 * 4 + 4
    assert final.result["input_shape"] == [[3, 10], [3, 5]]
    assert "returns {" in final.result["torchsummary"]
    layers = next(t for t in sink.of("table") if t.title.startswith("layers"))
    assert ["heads", "Heads", "{sum: [3, 4], a: [3, 4]}", 0, 0, ""] in layers.rows
    assert sum(row[3] for row in layers.rows) == final.result["total_params"]  # heads.a ran twice


@pytest.mark.parametrize(
    "params, words",
    [
        ({"model_spec": "missing.py:Net", "input_shape": "1,4"}, "not there"),
        ({"model_spec": "no_colon.py", "input_shape": "1,4"}, "FILE.py:NAME"),
        ({"model_spec": "{file}:Nope", "input_shape": "1,4"}, "Good"),
        ({"model_spec": "{file}:NeedsArgs", "input_shape": "1,4"}, "no arguments"),
        ({"model_spec": "{file}:not_a_model", "input_shape": "1,4"}, "nn.Module"),
        ({"model_spec": "{bad}:Net", "input_shape": "1,4"}, "line 3"),
        ({"model_spec": "{file}:Good"}, "input sizes"),
        ({"model": "custom"}, "FILE.py:NAME"),
    ],
)
def test_user_model_mistakes_are_parameter_errors(tmp_path, params, words):
    good = _write(
        tmp_path,
        """
        from torch import nn

        class Good(nn.Linear):
            def __init__(self):
                super().__init__(4, 2)

        class NeedsArgs(nn.Module):
            def __init__(self, width):
                super().__init__()

        def not_a_model():
            return 42
        """,
    )
    bad = _write(tmp_path, "from torch import nn\n\nclass Net(nn.Module:\n    pass\n", "bad.py")
    params = {k: v.format(file=good, bad=bad) for k, v in params.items()}
    try:
        final, _ = run_lab("modules", **params)
    except ParamError as exc:  # refused as the value is validated (the form does so as you type)
        final = ev.Error(0.0, str(exc), exc.field)
    assert isinstance(final, ev.Error), final
    assert final.field in ("model_spec", "input_shape") and words in final.message, final.message
    assert not final.detail  # a message, not a traceback


def test_wrong_input_shape_says_so():
    final, _ = run_lab("modules", model="simplenet", input_shape="1,100")
    assert isinstance(final, ev.Error) and final.field == "input_shape"
    assert "784" in final.message or "shapes cannot be multiplied" in final.message


def test_module_tree():
    final, sink = run_lab("modules", model="mlp")
    (tree,) = sink.of("tree")
    assert tree.root["label"] == "MLP" and tree.root["detail"] == f"{final.result['total_params']:,} params"
    assert tree.root["children"][0]["label"] == "net (Sequential)"


@pytest.mark.slow
def test_script_and_cli(tmp_path):
    values = validate(get_lab("modules").params, {"model": "cnn"})
    script = tmp_path / "m.py"
    script.write_text(get_lab("modules").code(values))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    total = count(BUILT["cnn"]())
    assert f"total params {total:,}" in out.stdout and f"Total params: {total:,}" in out.stdout
    proc = pttui("run", "modules", "--json", "--no-record")
    assert proc.returncode == 0, proc.stderr
    done = json.loads(proc.stdout.splitlines()[-1])
    assert done["event"] == "done" and done["result"]["total_params"] == 7_850
    assert "Total params" not in proc.stderr  # captured into an event, not printed


@pytest.mark.slow
def test_lstm_script_reports_torchsummary_failure(tmp_path):
    values = validate(get_lab("modules").params, {"model": "lstm"})
    code = get_lab("modules").code(values)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"total params {count(BUILT['lstm']()):,}" in out.stdout
    assert "torchsummary cannot summarise this model" in out.stdout


def test_torchsummary_gets_the_models_device(monkeypatch):
    # torchsummary defaults to device="cuda"; on a CPU box it silently falls back, so record
    # what the lab passes (the real function still runs).
    import torchsummary

    real, seen = torchsummary.summary, []

    def recording(*args, **kwargs):
        seen.append(kwargs.get("device"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torchsummary, "summary", recording)
    final, _ = run_lab("modules", device="cpu")
    assert seen == ["cpu"] and final.result["torchsummary"] == "ok"


def test_devices_torchsummary_cannot_use_are_named():
    from pttui.engine import summary

    text, problem = summary.torchsummary_report(models.SimpleNet(), [(1, 784)], "mps", 7_850, [])
    assert text == "" and "only on cpu or cuda, not mps" in problem


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda():
    final, _ = run_lab("modules", model="cnn", device="cuda")
    assert final.result["device"] == "cuda" and final.result["torchsummary"] == "ok"
    assert final.result["total_params"] == count(BUILT["cnn"]())
