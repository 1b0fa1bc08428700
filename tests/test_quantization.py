"""The quantization lab: a row per variant with every figure, a clean terminal, a clear error
for an engine this build lacks, and a script that runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
from conftest import pttui, run_lab

from pttui.engine import events as ev
from pttui.engine.labs import get_lab
from pttui.engine.labs.quantization import COLUMNS, choose_engine
from pttui.engine.params import ParamError, validate

TINY = dict(hidden="256", side=8, epochs=2, rounds=2, calibration_batches=2, threads=1)
FIGURES = {
    "size_mb", "latency_b1_ms", "latency_b64_ms", "speedup_b1", "speedup_b64",
    "speedup_b1_spread", "speedup_b64_spread", "latency_b1_ms_spread", "latency_b64_ms_spread",
    "val_acc", "max_abs_logit_diff", "argmax_agreement",
}  # fmt: skip


def _has_torchao() -> bool:
    import importlib.util

    return importlib.util.find_spec("torchao") is not None  # importing it takes seconds


def test_every_variant_has_a_row_and_its_figures(capfd):
    final, sink = run_lab("quantization", **TINY, torchao=False)
    assert isinstance(final, ev.Done), final
    assert capfd.readouterr() == ("", "")  # nothing reached the terminal
    notes = [t for t in sink.of("text") if t.title == "captured warnings"]
    assert len(notes) == 1 and "torch.ao.quantization is deprecated" in notes[0].body
    (table,) = sink.of("table")
    assert table.columns == COLUMNS
    assert [row[0] for row in table.rows] == ["fp32", "dynamic int8", "static int8"]
    variants = final.result["variants"]
    assert list(variants) == ["fp32", "dynamic int8", "static int8"]
    for name, figures in variants.items():
        assert set(figures) == FIGURES, name
        assert figures["latency_b1_ms"] > 0 and figures["latency_b64_ms"] > 0
        assert 0.8 <= figures["argmax_agreement"] <= 1.0
    fp32 = variants["fp32"]
    assert fp32["max_abs_logit_diff"] == 0.0 and fp32["argmax_agreement"] == 1.0
    assert table.rows[0][4:6] == ["baseline", "baseline"]
    for name in ("dynamic int8", "static int8"):
        assert variants[name]["size_mb"] < fp32["size_mb"] / 2  # int8 weights: about a quarter
        assert 0 < variants[name]["max_abs_logit_diff"] < 1.0
        assert abs(variants[name]["val_acc"] - fp32["val_acc"]) < 0.05
    assert final.result["size_ratio"] == pytest.approx(fp32["size_mb"] / variants["dynamic int8"]["size_mb"])
    assert final.result["engine"] in ("x86", "fbgemm", "qnnpack", "onednn")


@pytest.mark.skipif(not _has_torchao(), reason="torchao is not installed")
def test_torchao_adds_a_row():
    final, sink = run_lab("quantization", **TINY, torchao=True)
    assert isinstance(final, ev.Done), final
    assert "torchao int8 weight-only" in final.result["variants"]
    assert final.result["torchao"]
    assert sink.of("table")[0].rows[-1][0] == "torchao int8 weight-only"


def test_without_torchao_one_line_says_so(monkeypatch):
    from pttui.engine import quantize

    monkeypatch.setattr(quantize, "torchao_version", lambda: None)  # as on a machine without it
    final, sink = run_lab("quantization", **TINY, torchao=True)
    assert list(final.result["variants"]) == ["fp32", "dynamic int8", "static int8"]
    assert any("torchao is not installed" in t.body for t in sink.of("text"))


def test_an_engine_this_build_lacks_is_a_parameter_error():
    with pytest.raises(ParamError) as err:
        choose_engine("qnnpack", ["x86", "fbgemm"], "x86")
    assert err.value.field == "qengine" and "x86, fbgemm" in str(err.value)
    assert choose_engine("auto", ["x86"], "x86") == "x86"
    with pytest.raises(ParamError) as err:  # torch lists "none" too: --qengine does not take it
        choose_engine("onednn", ["none", "x86"], "x86")
    assert "none" not in err.value.allowed and err.value.allowed.endswith("auto, x86")


def test_captured_catches_c_level_and_python_output(capfd):
    from pttui.engine.quiet import captured

    with captured() as got:
        os.write(2, b"noise from a C extension\n")
        print("a print to stderr", file=sys.stderr)
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert got.messages == ["DeprecationWarning: old API", "a print to stderr", "noise from a C extension"]
    assert "3 message(s)" in got.note()


@pytest.mark.slow
def test_json_run_leaves_stderr_clean():
    # A fresh process, so that the deprecation warnings and torchao's import messages really fire.
    args = ["--hidden", "64", "--side", "8", "--epochs", "1", "--rounds", "1", "--threads", "1"]
    out = pttui("run", "quantization", *args, "--json", "--no-record")
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    events = [json.loads(line) for line in out.stdout.splitlines()]  # every line is JSON
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    notes = [e for e in events if e["event"] == "text" and e["title"] == "captured warnings"]
    assert len(notes) == 1 and "deprecated" in notes[0]["body"]


def test_exported_script_runs(tmp_path):
    lab = get_lab("quantization")
    script = tmp_path / "quant.py"
    script.write_text(lab.code(validate(lab.params, {**TINY, "hidden": "64", "epochs": 1})))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if "KB, batch 1" in line]
    assert [line.split(":")[0].strip() for line in lines] == ["fp32", "dynamic int8", "static int8"]


@pytest.mark.slow
def test_a_tiny_models_sizes_read_in_kb_not_zero_mb():
    """A ~4 KB model's summary and table say its size in KB (issue 14), as numbers.field writes it."""
    from pathlib import Path

    from pttui.engine import numbers

    examples = Path(__file__).resolve().parent.parent / "examples"
    final, sink = run_lab(
        "quantization", model_spec=f"{examples / 'models.py'}:TabularNet", data=str(examples / "tabular.csv"),
        epochs=1, rounds=2, calibration_batches=1, threads=1, torchao=False,
    )  # fmt: skip
    assert isinstance(final, ev.Done), final
    variants = final.result["variants"]
    fp32, dyn = variants["fp32"]["size_mb"], variants["dynamic int8"]["size_mb"]
    assert fp32 * 2**20 < 64 * 1024  # a small model: under 64 KiB saved
    (table,) = sink.of("table")
    assert table.columns[1] == "size"
    assert table.rows[0][1] == numbers.field("size_mb", fp32) and table.rows[0][1].endswith("KB")
    (summary_text,) = [t.body for t in sink.of("text") if t.title == "int8 against fp32"]
    assert (
        f"dynamic int8: {numbers.field('size_mb', fp32)} -> {numbers.field('size_mb', dyn)}," in summary_text
    )
    assert "0.00 MB" not in summary_text
