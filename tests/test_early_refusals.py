"""Bad values are refused at once, once, naming the flag: before torch loads, before anything is
printed on stdout, exit 2 (pttui.engine.early and the parameter checks)."""

from __future__ import annotations

import pytest

from pttui.engine import early
from pttui.engine.labs import get_lab
from pttui.engine.params import validate
from tests.conftest import pttui


def _refused(*args: str, cwd=None) -> str:
    """Run `pttui run ...`; it must be refused (exit 2, nothing on stdout, no traceback): its one line."""
    out = pttui("run", *args, "--no-record", cwd=cwd)
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert out.stdout == "", out.stdout
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    "leaves",
    ["x = [1.0, 2.0]; x = [3.0]", "x = [1.0, 2.0]; y = ", "x = [1.0]\nx = 2", "x = [1.0]; print(x)"],
)
def test_a_bad_leaves_field_is_said_once_and_not_blamed_on_the_expression(leaves):
    values = validate(get_lab("autograd").params, {"leaves": leaves, "expr": "(x * 2).sum()"})
    problems = early.check(values)
    assert [p.field for p in problems] == ["leaves"], [str(p) for p in problems]


def test_a_duplicate_leaf_is_one_line_on_the_command_line():
    line = _refused("autograd", "--leaves", "x = [1.0, 2.0]; x = [3.0]")
    assert "leaves" in line and "'x'" in line and "twice" in line


def test_a_real_expression_mistake_beside_bad_leaves_is_still_said():
    values = validate(get_lab("autograd").params, {"leaves": "x = [1.0]; x = [2.0]", "expr": "q * 2"})
    assert sorted(p.field for p in early.check(values)) == ["expr", "leaves"]


@pytest.mark.parametrize(
    ("args", "flag", "words"),
    [
        (["training", "--data", "missing.csv"], "data", "not there"),
        (["training", "--data", "nolabel.csv"], "data", "no column named label, target or y"),
        (["training", "--data", "nolabel.csv", "--target", "q"], "target", "a column of nolabel.csv: a, b"),
        (["training", "--data", "notes.txt"], "data", ".csv"),
        (["training", "--resume", "missing.pt"], "resume", "no such file"),
        (["training", "--resume", "."], "resume", "not the folder"),
        (["checkpoint", "--load", "missing.pt"], "load", "no such file"),
        (["training", "--save", "nowhere/ck.pt"], "save", "does not"),
        (["checkpoint", "--folder", "nowhere/deeper"], "folder", "does not"),
        (["training", "--tensorboard", "nowhere/logs"], "tensorboard", "does not"),
        (["autograd", "--dot", "nowhere/g.dot"], "dot", "does not"),
        (["visualize", "--logdir", "nowhere/logs"], "logdir", "does not"),
        (["tensors", "--runs-dir", "nowhere/runs"], "runs_dir", "does not"),
    ],
)
def test_bad_files_are_refused_before_torch_and_before_the_header(tmp_path, args, flag, words):
    (tmp_path / "nolabel.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "notes.txt").write_text("hello\n")
    line = _refused(*args, cwd=tmp_path)
    assert line.startswith(f"pttui run {args[0]}: {flag}:") and words in line, line
    assert "target: ''" not in line  # never blames a --target the user did not give
    assert not (tmp_path / "nowhere").exists()  # a missing folder is refused, never made
    assert not (tmp_path / "runs").exists()


def test_the_checks_import_no_torch(tmp_path):
    (tmp_path / "nolabel.csv").write_text("a,b\n1,2\n")
    code = (
        "import sys\n"
        "from pttui.engine import early\n"
        "from pttui.engine.labs import get_lab\n"
        "from pttui.engine.params import ParamError, validate\n"
        "lab = get_lab('training')\n"
        "for raw in ({'data': 'nolabel.csv'}, {'resume': 'missing.pt'}, {'save': 'no/dir/ck.pt'},"
        " {'device': 'cuda:0', 'data': ''}):\n"
        "    try:\n"
        "        print(*[p.field for p in early.check(validate(lab.params, raw))])\n"
        "    except ParamError as exc:\n"
        "        print(exc.field)\n"
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'imported'\n"
    )
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    expected = ["data", "resume", "save"]
    assert out.stdout.split() == expected + (["device"] if _cpu_only() else [])


def _cpu_only() -> bool:
    import torch

    return torch.version.cuda is None and torch.version.hip is None


def test_a_cuda_device_on_a_cpu_only_build_is_refused_before_torch_with_the_way_out():
    import torch

    from pttui.engine import devices

    build = devices.torch_build()
    assert build == (torch.__version__, not _cpu_only())  # read from the file, without importing torch
    if not _cpu_only():
        pytest.skip("this torch build has CUDA: the run judges whether a GPU is there")
    for args in (["training", "--device", "cuda"], ["training", "--device", "cuda:1", "--json"]):
        line = _refused(*args)
        assert line.startswith("pttui run training: device: 'cuda"), line
        assert f"({torch.__version__}) is CPU-only" in line and "pip install torch --index-url" in line
    values = validate(get_lab("training").params, {"device": "cuda"})
    assert [p.field for p in early.check(values)] == ["device"]  # the app's check says it too
    assert early.check(validate(get_lab("training").params, {"device": "cpu"})) == []


def test_a_field_the_run_refuses_reads_as_the_early_refusals_do():
    if not _cpu_only():
        pytest.skip("fp16 autocast runs where CUDA is")
    out = pttui("run", "amp", "--amp", "fp16", "--epochs", "1", "--no-record")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("pttui run amp: amp: 'fp16' is not allowed"), (
        out.stderr
    )


def test_a_run_that_saves_says_where(tmp_path):
    out = pttui(
        "run", "training", "--dataset", "moons", "--size", "200", "--epochs", "1", "--threads", "1",
        "--save", "ck.pt", "--no-record", "--no-boundary", cwd=tmp_path, env={"COLUMNS": "200"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    saved = tmp_path / "ck.pt"
    assert saved.is_file()
    assert str(saved.resolve()) in out.stdout, out.stdout


@pytest.mark.parametrize("topic", ["modules", "training", "quantization", "visualize", "dynamic", "parallel"])
def test_a_missing_model_name_is_said_before_the_input_shape(topic, tmp_path):
    from tests.conftest import ROOT

    spec = f"{ROOT / 'examples' / 'models.py'}:Nope"
    line = _refused(topic, "--model-spec", spec, cwd=tmp_path)
    assert f"pttui run {topic}: model_spec:" in line and "TabularNet" in line and "input_shape" not in line


@pytest.mark.parametrize("topic", ["training", "checkpoint", "parallel", "amp"])
def test_cnn_on_two_d_data_is_refused_up_front_with_the_same_prefix(topic):
    line = _refused(topic, "--model", "cnn", "--dataset", "spiral")
    assert line == (
        f"pttui run {topic}: model: 'cnn' is not allowed; expected mlp or simplenet with --dataset spiral "
        "(cnn needs one-channel square images: --dataset digits)"
    ), line
    # The digits take it, and --model-spec (which wins over --model) is not judged by it.
    validate(get_lab(topic).params, {"model": "cnn", "dataset": "digits"})


def test_the_other_topics_name_for_the_tensorboard_folder_is_taken():
    from pttui.engine.headless import parse

    assert parse(get_lab("visualize"), ["--tensorboard", "/tmp/tb"])[0] == {"logdir": "/tmp/tb"}
    assert parse(get_lab("training"), ["--logdir=/tmp/tb"])[0] == {"tensorboard": "/tmp/tb"}
