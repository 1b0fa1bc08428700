"""A user's model is the user's: its errors name its file and line and the input it was given.

Every case is a real file in a temporary folder, loaded through `--model-spec` (issue 11,
class 1): an Embedding model gets int64 indices, a file that exits or raises at import is a
`model_spec` error (exit 2), a model that fails in forward or backward is the model's error
(exit 1) and never a bad `--input-shape`, and lazy modules are sized before counting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import run_lab
from torch import nn

from pttui.engine import events as ev
from pttui.engine import usermodel
from pttui.engine.params import ParamError

MODELS = """
import torch
from torch import nn


class Emb(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.embed(x).mean(1))


class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x) @ torch.ones(5, 5)


class Quits(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        raise SystemExit(3)


class Interrupts(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        raise KeyboardInterrupt


class Lazy(nn.Module):
    def __init__(self, width=3):
        super().__init__()
        self.fc = nn.LazyLinear(width)

    def forward(self, x):
        return self.fc(x)


class Double(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3).double()

    def forward(self, x):
        return self.fc(x)
"""


@pytest.fixture(scope="module")
def models_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "user_models.py"
    path.write_text(MODELS)
    return path


def _file(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_embedding_model_gets_indices_below_num_embeddings(models_file):
    final, _ = run_lab("modules", model_spec=f"{models_file}:Emb", input_shape="2,7")
    assert isinstance(final, ev.Done), final
    reference = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 3))
    assert final.result["total_params"] == sum(p.numel() for p in reference.parameters()) == 427
    assert final.result["output"] == "[2, 3]"


def test_input_dtype_auto_follows_the_model():
    emb = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 3))
    assert usermodel.input_dtype(emb, "auto")[:2] == ("int64", 50)
    assert usermodel.input_dtype(emb, "auto", 7)[:2] == ("int64", 7)
    assert usermodel.input_dtype(nn.Linear(2, 2).double(), "auto")[0] == "float64"
    assert usermodel.input_dtype(nn.Linear(2, 2).to(torch.bfloat16), "auto")[0] == "bfloat16"
    assert usermodel.input_dtype(nn.ReLU(), "auto")[0] == "float32"
    # An Embedding that is not the first leaf does not make the inputs integers.
    assert usermodel.input_dtype(nn.Sequential(nn.Linear(2, 2), nn.Embedding(5, 2)), "auto")[0] == "float32"
    assert usermodel.input_dtype(nn.Linear(2, 2), "int64") == ("int64", 2, "--input-dtype int64")
    x = usermodel.make_inputs([(3, 4)], "int64", 5)[0]
    assert x.dtype == torch.int64 and int(x.min()) >= 0 and int(x.max()) < 5


def test_float64_model_gets_float64_inputs(models_file):
    final, _ = run_lab("modules", model_spec=f"{models_file}:Double", input_shape="2,4")
    assert isinstance(final, ev.Done), final
    assert final.result["total_params"] == 15


def test_explicit_float_dtype_on_an_embedding_is_the_models_error_with_the_input(models_file):
    final, _ = run_lab("modules", model_spec=f"{models_file}:Emb", input_shape="2,7", input_dtype="float32")
    assert isinstance(final, ev.Error) and final.field is None, final
    assert "user_models.py line 13" in final.message  # the `forward` line in the user's file
    assert "[2, 7] float32" in final.message and "--input-dtype float32" in final.message


def test_error_in_forward_names_the_line_and_the_input_never_input_shape(models_file):
    final, _ = run_lab("modules", model_spec=f"{models_file}:Broken", input_shape="2,4")
    assert isinstance(final, ev.Error) and final.field is None, final
    assert "UserModelError" in final.message and "RuntimeError" in final.message
    assert "user_models.py line 22" in final.message and "torch.ones(5, 5)" in final.message
    assert "[2, 4] float32" in final.message and "--input-shape 2,4" in final.message


@pytest.mark.parametrize("name,words", [("Quits", "SystemExit"), ("Interrupts", "KeyboardInterrupt")])
def test_exit_and_interrupt_in_forward_are_the_models_errors(models_file, name, words):
    final, _ = run_lab("modules", model_spec=f"{models_file}:{name}", input_shape="2,4")
    assert isinstance(final, ev.Error) and final.field is None, final
    assert words in final.message and "user_models.py line" in final.message


def test_lazy_modules_are_materialised_before_counting(models_file):
    final, sink = run_lab("modules", model_spec=f"{models_file}:Lazy", input_shape="2,6")
    assert isinstance(final, ev.Done), final
    assert final.result["total_params"] == sum(p.numel() for p in nn.Linear(6, 3).parameters())
    assert any(t.title == "lazy modules" for t in sink.of("text"))


def test_model_kwargs_reach_the_constructor(models_file):
    final, _ = run_lab(
        "modules", model_spec=f"{models_file}:Lazy", model_kwargs='{"width": 5}', input_shape="2,6"
    )
    assert final.result["total_params"] == 6 * 5 + 5
    final, _ = run_lab(
        "modules", model_spec=f"{models_file}:Lazy", model_kwargs='{"nope": 1}', input_shape="2,6"
    )
    assert isinstance(final, ev.Error) and final.field == "model_kwargs" and "nope" in final.message
    with pytest.raises(ParamError, match=r"model_kwargs.*JSON object"):  # refused before the run
        run_lab("modules", model_spec=f"{models_file}:Lazy", model_kwargs="[1]", input_shape="2,6")


def test_argparse_at_import_is_a_model_spec_error_with_the_line(tmp_path):
    path = _file(
        tmp_path,
        "cli_model.py",
        """\
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", required=True)
        args = parser.parse_args()
        """,
    )
    final, _ = run_lab("modules", model_spec=f"{path}:Net", input_shape="1,4")
    assert isinstance(final, ev.Error) and final.field == "model_spec", final
    assert "sys.exit(2)" in final.message and "cli_model.py line 5" in final.message
    assert "__main__" in final.message and "--lr" in final.message


def test_keyboard_interrupt_at_import_ends_the_engine_with_exit_2(tmp_path):
    path = _file(tmp_path, "kbi.py", "x = 1\nraise KeyboardInterrupt\nNet = None\n")  # Net is there
    proc = subprocess.run(
        [sys.executable, "-m", "pttui.engine", "run", "modules", "--model-spec", f"{path}:Net",
         "--input-shape", "1,4", "--no-record", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "KeyboardInterrupt" in proc.stderr and "kbi.py line 2" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_forward_interrupt_in_a_run_exits_1_and_the_engine_still_hears_sigint(tmp_path, models_file):
    # The model's KeyboardInterrupt ends the run (exit 1); a later real SIGINT is not needed.
    proc = subprocess.run(
        [sys.executable, "-m", "pttui.engine", "run", "modules", "--model-spec", f"{models_file}:Interrupts",
         "--input-shape", "2,4", "--no-record", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "KeyboardInterrupt" in proc.stderr and proc.returncode != -signal.SIGINT


def test_module_name_is_stable_across_processes(models_file):
    code = f"from pttui.engine.usermodel import module_name; print(module_name({str(models_file)!r}))"
    names = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": s},
        ).stdout.strip()
        for s in ("1", "2")
    }
    assert names == {usermodel.module_name(models_file)}


def test_prediction_picks_the_tensor():
    t = torch.ones(2)
    assert usermodel.prediction(t) is t
    assert usermodel.prediction(("x", t, torch.zeros(1))) is t
    assert usermodel.prediction({"logits": t, "aux": 1}) is t
    assert usermodel.prediction({"aux": torch.zeros(1), "logits": t}, "logits") is t
    assert usermodel.prediction({"aux": 1}, "logits") is None
    assert usermodel.prediction("text") is None


# newuser2 findings 15 and 16: what an empty --input-shape means, a NAME the file lacks, and a
# model's own error told with its own frames, headed as without --json.
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "models.py"


def test_empty_input_shape_says_the_model_declares_none_early_and_in_the_run():
    from pttui.engine import early
    from pttui.engine.common import INPUT_SHAPE

    assert "model's own" not in INPUT_SHAPE.help and "--model-spec" in INPUT_SHAPE.help
    spec = f"{EXAMPLES}:SmallCNN"
    problems = early.check({"model_spec": spec, "input_shape": ""})
    assert [p.field for p in problems] == ["input_shape"], problems
    final, _ = run_lab("modules", model_spec=spec, input_shape="")  # the run's own check, same words
    assert isinstance(final, ev.Error) and final.field == "input_shape", final
    for message in (str(problems[0]), final.message):
        assert "'' is not allowed" not in message, message
        assert "SmallCNN declares no input size" in message and "give --input-shape" in message, message
    assert not early.check({"model_spec": spec, "input_shape": "1,1,8,8"})
    assert not early.needs_input_shape({"model_spec": spec, "input_shape": "", "data": "x.csv"})  # its rows


def test_a_missing_name_is_said_and_only_classes_and_functions_are_offered():
    from pttui.engine import early

    spec = f"{EXAMPLES}:Nope"
    (early_problem,) = early.check({"model_spec": spec})
    with pytest.raises(ParamError) as run_problem:
        usermodel.load(spec)
    for message in (str(early_problem), str(run_problem.value)):
        assert "no 'Nope'" in message and "SmallCNN, TabularNet" in message, message
        assert "torch" not in message.split("models.py", 1)[1] and "nn," not in message, message


def test_a_models_error_carries_only_its_own_frames(models_file):
    final, _ = run_lab("modules", model_spec=f"{models_file}:Broken", input_shape="2,4")
    assert isinstance(final, ev.Error) and final.message.startswith("UserModelError: your model"), final
    assert "user_models.py" in final.detail and "line 22" in final.detail, final.detail
    for internal in ("usermodel.py", "contextlib", "runner.py", "torch/nn"):
        assert internal not in final.detail, final.detail


@pytest.mark.slow
def test_a_models_error_reads_error_with_and_without_json(models_file):
    heads = []
    for extra in ([], ["--json"]):
        proc = subprocess.run(
            [sys.executable, "-m", "pttui.engine", "run", "modules", "--model-spec", f"{models_file}:Broken",
             "--input-shape", "2,4", "--no-record", *extra],
            capture_output=True, text=True, timeout=180, env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        (line,) = [x for x in proc.stderr.splitlines() if "UserModelError" in x]
        heads.append(line.split("UserModelError")[0])
    assert heads == ["error: ", "error: "], heads
