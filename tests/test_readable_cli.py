"""The command line people expect, and numbers and tables printed for people (headless)."""

from __future__ import annotations

import io
import math

import pytest
from rich.console import Console

from pttui.engine import events as ev
from pttui.engine import numbers
from pttui.engine.devices import Available, choose_amp, choose_device
from pttui.engine.human import HumanSink
from pttui.engine.labs import all_labs, get_lab
from pttui.engine.params import ParamError
from pttui.tui.app import PlaygroundApp
from pttui.tui.cli import app_values
from pttui.tui.screens.topic import TopicScreen
from tests.conftest import pttui
from tests.test_app import sync, wait_for

QUANT = ev.Table(
    1.0,
    "quantization",
    ["variant", "size MB", "latency b1 ms", "latency b64 ms", "speedup b64", "val acc", "max abs logit diff",
     "argmax agreement"],
    [
        ["fp32", 0.4321, 0.0521, 1.733, 1.0, 0.97661, 0.0, 1.0],
        ["dynamic int8", 0.1187, 0.0412, 1.2391, 1.3986, 0.97492, 0.05912, 0.99872],
        ["static int8", 0.1201, 0.0398, 1.1002, 1.5751, 0.97103, 0.08123, 0.99551],
    ],
    note="latency: median of 5 interleaved rounds after a warm-up",
)  # fmt: skip


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (51390.2, "51,390"),
        (0.00014745229998425202, "0.0001475"),
        (2e-4, "0.0002"),
        (12.0, "12"),
        (0.97661, "0.9766"),
        (1234567, "1,234,567"),
        (3.2e-07, "3.2e-07"),
        (-0.5, "-0.5"),
        (0, "0"),
        (math.nan, "nan"),
    ],
)
def test_numbers_read_like_numbers(value, shown):
    assert numbers.number(value) == shown


def test_units_none_and_nested_results_are_never_reprs():
    assert numbers.field("load_s", 0.0014745) == "1.474 ms"  # 4 significant digits, rounded
    assert numbers.field("peak_mb", None) == "n/a"
    assert numbers.field("samples_per_s", 51390.2) == "51,390/s"
    columns, rows = numbers.as_rows("load_s", {"state_dict": 0.0014745, "whole": 0.0201})
    assert columns == ["load_s", "value"] and rows == [["state_dict", "1.474 ms"], ["whole", "20.1 ms"]]
    columns, rows = numbers.as_rows("broadcasts", [{"op": "a + b", "shape": [3, 4]}])
    assert columns == ["op", "shape"] and rows == [["a + b", "[3, 4]"]]


def _printed(events, width: int, terminal: bool) -> str:
    out = io.StringIO()
    sink = HumanSink(Console(file=out, width=width, force_terminal=terminal, color_system=None))
    for event in events:
        sink.on_event(event)
    sink.close()
    return out.getvalue()


@pytest.mark.parametrize("width", [60, 80, 100, 120, 200])
@pytest.mark.parametrize("terminal", [True, False], ids=["tty", "piped"])
def test_the_human_printer_never_cuts_a_table_or_a_figure(width, terminal):
    done = ev.Done(2.0, {"load_s": {"state_dict": 0.0014745}, "peak_mb": None, "lr": 2e-4, "seconds": 3.25})
    prose = ev.Text(0.5, "threads", "1 thread (auto: this machine has 2 CPU(s), and timings with more threads "
                    "than cores are noise, so pttui leaves one core to the rest)", "log")  # fmt: skip
    text = _printed([prose, QUANT, done], width, terminal)
    assert " ".join(prose.body.split()) in " ".join(text.split())
    lines = text.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines), f"a line is wider than {width}"
    assert "…" not in text
    if not terminal:  # piped: no padding at the ends of lines (diffs and greps stay clean)
        assert not [line for line in lines if line.endswith(" ")]
    for row in QUANT.rows:
        assert row[0] in text
        for value in row[1:]:
            assert numbers.number(value) in text
    words = " ".join(text.split())
    for name in QUANT.columns:
        assert all(word in words for word in name.split())
    # A header is on one line, or two at most: never broken over three.
    header_lines = [i for i, line in enumerate(lines) if "variant" in line and "size" in line]
    if header_lines:
        rule = next(i for i in range(header_lines[0], len(lines)) if set(lines[i].strip()) == {"─"})
        assert rule - header_lines[0] <= 2
    assert "1.474 ms" in text and "n/a" in text and "0.0002" in text and "3.25 s" in text
    assert "None" not in text and "{'" not in text and "e-04" not in text


def test_the_human_printer_says_warning_once():
    text = _printed([ev.Text(0.1, "warning", "inject_inf is past the last step", level="warning")], 80, False)
    assert "warning: warning" not in text
    assert "inject_inf is past the last step" in text


def test_pttui_topics_has_no_double_colons():
    result = pttui("topics")
    assert result.returncode == 0
    for line in result.stdout.splitlines():
        assert line.count(":") <= 1, line
    assert len(result.stdout.splitlines()) == len(all_labs())


def test_snake_case_flags_are_accepted(tmp_path):
    script = tmp_path / "t.py"
    result = pttui(
        "run", "training", "--batch_size", "32", "--weight_decay=0.01", f"--export_script={script}"
    )
    assert result.returncode == 0, result.stderr
    assert "32" in script.read_text()


def test_pttui_topic_with_flags_gives_the_app_those_values():
    values = app_values("training", ["--epochs", "5", "--batch_size", "32"])
    assert isinstance(values, dict) and values["epochs"] == 5 and values["batch_size"] == 32
    assert app_values("training", ["--epochs", "zero"]) == 2


def test_pttui_topic_with_headless_flags_says_the_command(capsys):
    assert app_values("training", ["--json", "--epochs", "2"]) == 2
    assert "pttui run training --json --epochs 2" in capsys.readouterr().err


@sync
async def test_the_app_opens_on_the_topic_with_the_flags_values():
    app = PlaygroundApp("training", app_values("training", ["--epochs", "5", "--lr", "0.05"]))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, TopicScreen) and app.screen.built, 10, "the training screen"
        )
        form = app.screen.form
        assert form.field("epochs").value == 5 and form.field("lr").value == 0.05


def test_missing_cuda_says_the_build_is_cpu_only():
    cpu_build = Available(cuda_built=False, torch_version="2.13.0+cpu")
    with pytest.raises(ParamError) as err:
        choose_device("cuda", cpu_build)
    assert "CPU-only" in err.value.allowed and "index-url" in err.value.allowed and "cpu" in err.value.allowed
    with pytest.raises(ParamError) as err:
        choose_amp("fp16", "cpu", cpu_build)
    assert "CPU-only" in err.value.allowed
    with pytest.raises(ParamError) as err:
        choose_device("cuda:0", Available(cuda_built=True))
    assert "no CUDA GPU is visible" in err.value.allowed


def test_this_torch_says_what_it_is_when_cuda_is_asked_for():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: nothing to refuse")
    from pttui.engine.devices import resolve

    with pytest.raises(ParamError) as err:
        resolve("cuda")
    expected = "CPU-only" if torch.version.cuda is None else "no CUDA GPU is visible"
    assert expected in err.value.allowed


def test_a_model_file_syntax_error_is_named_once_and_first(tmp_path):
    (tmp_path / "broken.py").write_text("import torch\nclass Net(:\n")
    result = pttui("run", "modules", "--model-spec", "broken.py:Net", cwd=tmp_path)
    assert result.returncode == 2
    assert "model_spec" in result.stderr and "input_shape" not in result.stderr
    assert result.stderr.count("line 2") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_the_run_names_a_syntax_error_line_once(tmp_path):
    from pttui.engine import usermodel

    (tmp_path / "broken.py").write_text("import torch\nclass Net(:\n")
    with pytest.raises(ParamError) as err:
        usermodel.load(f"{tmp_path / 'broken.py'}:Net")
    assert str(err.value).count("line 2") == 1, str(err.value)


def test_pttui_runs_writes_figures_for_people(tmp_path):
    import os

    from pttui.engine.params import defaults, validate
    from pttui.engine.runs import RunRecorder

    lab = get_lab("data")
    values = validate(lab.params, defaults(lab.params))
    recorder = RunRecorder.create("data", values, os.environ["PTTUI_RUNS_DIR"])
    recorder.on_event(ev.Start(0.0, "data", values, "cpu", "2.x"))
    recorder.on_event(ev.Done(1.0, {"samples_per_s": 51390.2, "startup_s": 0.0002, "seconds": 1.5}))
    recorder.close()
    result = pttui("runs")
    assert result.returncode == 0, result.stderr
    assert "51,390/s" in result.stdout and "e+04" not in result.stdout


def test_early_checks_use_the_leaves_names_and_ask_for_names_only_when_told(tmp_path, monkeypatch):
    from pttui.engine import early

    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text("import torch\nclass Net(torch.nn.Module):\n    pass\n")
    assert early.check({"expr": "(x * w).sum()", "leaves": "x = [1.0]; w = [2.0]"}) == []
    assert [p.field for p in early.check({"expr": "(x * y).sum()", "leaves": "x = [1.0]"})] == ["expr"]
    assert [p.field for p in early.check({"model_spec": "net.py:Missing"})] == ["model_spec"]
    assert early.check({"model_spec": "net.py:Missing"}, names=False) == []


@sync
async def test_bad_values_from_the_command_line_are_marked_when_the_topic_opens():
    values = app_values("autograd", ["--expr", "(x * 2).sum("])
    assert isinstance(values, dict)  # a string is a string: only the syntax check can say more
    app = PlaygroundApp("autograd", values)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, TopicScreen) and app.screen.built, 10, "the autograd screen"
        )
        field = app.screen.form.field("expr")
        await wait_for(pilot, lambda: field.error, 5, "the expr field marked")
        assert "never closed" in field.error


def test_bracketed_values_are_data_not_markup():
    # "[linear1.weight, linear1.bias]" looks like a Rich style tag; printed as markup it vanished.
    from rich.console import Console

    from pttui.engine.layout import result_tables

    console = Console(width=60, record=True, file=io.StringIO())
    for table in result_tables({"grad_params": ["linear1.weight", "linear1.bias"], "no_grad_params": []}):
        console.print(table)
    out = console.export_text()
    assert "[linear1.weight, linear1.bias]" in out and "[]" in out, out
    narrow = Console(width=24, record=True, file=io.StringIO())  # the stacked layout too
    for table in result_tables({"grad_params": ["linear1.weight", "linear1.bias"], "a_long_name_here": 1}):
        narrow.print(table)
    assert "linear1.weight" in narrow.export_text()
