"""The checkpoint lab and safe loading: every format round-trips exactly, nothing a file
holds runs unless the user trusts it, and bad files are clear errors, never tracebacks."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, pttui, run_lab

from pttui.engine import checkpoint
from pttui.engine import events as ev
from pttui.engine.labs import get_lab
from pttui.engine.params import ParamError, validate

TINY = dict(dataset="spiral", size=300, hidden="16", epochs=2, batch_size=32, threads=1, device="cpu")
FORMATS = {"state_dict", "whole model", "safetensors", "training checkpoint"}


class WritesAMarker:
    """Unpickling this calls open(marker, "w"): code that runs merely by loading the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


# --- the lab: state_dict vs whole model vs safetensors ------------------------------------------


def test_every_format_loads_back_exactly(tmp_path):
    final, sink = run_lab("checkpoint", folder=str(tmp_path / "kept"), **TINY)
    assert isinstance(final, ev.Done), final
    result = final.result
    assert set(result["max_abs_diff"]) == FORMATS
    assert all(diff == 0.0 for diff in result["max_abs_diff"].values()) and result["identical"]
    assert all(size > 0 for size in result["file_bytes"].values())
    assert set(result["load_s"]) == FORMATS
    # Adam's two moments make the training checkpoint about three times the weights.
    assert result["file_bytes"]["training checkpoint"] > 2.5 * result["file_bytes"]["state_dict"]
    table = next(t for t in sink.of("table") if t.title == "save and load, each way")
    assert [row[0] for row in table.rows] == [
        "state_dict",
        "whole model",
        "safetensors",
        "training checkpoint",
    ]
    explain = next(t for t in sink.of("text") if t.title == "state_dict vs whole model")
    assert explain.pane == "summary" and "weights_only=True" in explain.body
    assert "pttui.engine.models.MLP" in explain.body  # the classes the whole-model pickle imports
    kept = tmp_path / "kept"
    assert torch.load(kept / "model_state_dict.pt", weights_only=True).keys() == _keys_of_mlp_16()
    with pytest.raises(pickle.UnpicklingError):  # the whole model is a pickle weights_only refuses
        torch.load(kept / "model_whole.pt", weights_only=True)


def _keys_of_mlp_16():
    return {"net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"}


def test_a_temporary_folder_is_removed(tmp_path):
    final, sink = run_lab("checkpoint", **TINY)
    assert isinstance(final, ev.Done) and "folder" not in final.result
    table = next(t for t in sink.of("table") if t.title == "save and load, each way")
    assert "removed" in table.note


# --- inspecting a user's file ------------------------------------------------------------------


def test_inspect_a_state_dict(tmp_path):
    model = _model()
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    final, sink = run_lab("checkpoint", load=str(path))
    assert isinstance(final, ev.Done), final
    assert final.result["kind"] == "state_dict"
    assert final.result["parameters"] == sum(p.numel() for p in model.parameters())
    table = sink.of("table")[0]
    assert table.columns == ["key", "shape", "dtype", "numel", "bytes", "counted as"]
    assert ["0.weight", "8x4", "float32", 32, 128, "parameter"] in table.rows


def test_inspect_safetensors(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({"a": torch.zeros(2, 3, dtype=torch.float16), "b": torch.ones(5)}, str(path))
    final, sink = run_lab("checkpoint", load=str(path))
    assert isinstance(final, ev.Done), final
    assert final.result["format"] == "safetensors" and final.result["parameters"] == 11
    assert ["a", "2x3", "float16", 6, 12, "parameter"] in sink.of("table")[0].rows


def test_a_whole_model_needs_trust(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(_model(), path)
    final, _ = run_lab("checkpoint", load=str(path))
    assert isinstance(final, ev.Error) and final.field == "load"
    assert str(path) in final.message and "weights_only" in final.message and "--trust" in final.message
    assert "torch.nn.modules.linear.Linear" in final.message

    final, sink = run_lab("checkpoint", load=str(path), trust=True)
    assert isinstance(final, ev.Done), final
    assert final.result["kind"] == "whole model (Sequential)" and final.result["parameters"] == 67
    warnings = [t.body for t in sink.of("text") if t.level == "warning"]
    assert any("--trust" in w and "weights_only=False" in w for w in warnings)


def _malicious_zip(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "innocent.pt"
    torch.save({"weights": torch.ones(2), "extra": WritesAMarker(marker)}, path)
    assert not marker.exists()  # saving ran nothing
    return path


def test_a_malicious_pickle_runs_nothing_cli(tmp_path):
    """The contract as the user meets it: exit 2, the file named, and no code run."""
    marker = tmp_path / "MARKER"
    path = _malicious_zip(tmp_path, marker)
    out = pttui("run", "checkpoint", "--load", str(path), "--json", timeout=60)
    assert out.returncode == 2, out.stderr
    assert not marker.exists()
    assert str(path) in out.stderr and "io.open" in out.stderr and "Traceback" not in out.stderr
    error = json.loads(out.stdout.splitlines()[-1])
    assert error["event"] == "error" and error["field"] == "load"


@pytest.mark.parametrize("kind", ["torch zip", "plain pickle"])
def test_a_malicious_pickle_runs_nothing(tmp_path, kind):
    marker = tmp_path / "MARKER"
    if kind == "torch zip":
        path = _malicious_zip(tmp_path, marker)
    else:
        path = tmp_path / "innocent.pkl"
        path.write_bytes(pickle.dumps(WritesAMarker(marker), protocol=2))
    final, _ = run_lab("checkpoint", load=str(path))
    assert isinstance(final, ev.Error) and final.field == "load"
    assert str(path) in final.message
    assert not marker.exists()


def _good_bytes(tmp_path) -> bytes:
    torch.save(_model().state_dict(), tmp_path / "good.pt")
    return (tmp_path / "good.pt").read_bytes()


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("truncated", lambda good: good[: len(good) // 2], "truncated or corrupted"),
        ("cut short", lambda good: good[:40], "truncated or corrupted"),
        ("garbage", lambda good: bytes(range(256)) * 8, "refused"),
        ("flipped", lambda good: good[:60] + bytes(b ^ 0xFF for b in good[60:400]) + good[400:], "corrupted"),
        ("empty", lambda good: b"", "empty"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path, name, make, words):
    path = tmp_path / f"{name.replace(' ', '_')}.pt"
    path.write_bytes(make(_good_bytes(tmp_path)))
    final, _ = run_lab("checkpoint", load=str(path))
    assert isinstance(final, ev.Error) and final.field == "load", final
    assert str(path) in final.message and words in final.message
    assert not final.detail  # a ParamError: no traceback anywhere


def test_a_truncated_file_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "half.pt"
    path.write_bytes(_good_bytes(tmp_path)[:700])
    out = pttui("run", "checkpoint", "--load", str(path), timeout=60)
    assert out.returncode == 2
    flat = " ".join(out.stderr.split())  # the human printer wraps long lines
    assert "half.pt" in flat and "truncated or corrupted" in flat and "Traceback" not in out.stderr


def test_a_missing_file_or_a_folder(tmp_path):
    # Refused with the parameters, before the run (and torch) starts: see test_early_refusals.
    with pytest.raises(ParamError) as caught:
        run_lab("checkpoint", load=str(tmp_path / "nope.pt"))
    assert caught.value.field == "load" and "no such file" in str(caught.value)
    with pytest.raises(ParamError) as caught:
        run_lab("checkpoint", load=str(tmp_path))
    assert "folder" in str(caught.value)


@pytest.mark.parametrize(
    ("version", "cves"),
    [
        ("2.4.1", ["CVE-2025-32434", "CVE-2026-24747"]),
        ("2.5.1+cu121", ["CVE-2025-32434", "CVE-2026-24747"]),
        ("2.6.0", ["CVE-2026-24747"]),
        ("2.9.1", ["CVE-2026-24747"]),
        ("2.10.0", []),
        ("2.13.0+cpu", []),
        ("3.0.0a0", []),
    ],
)
def test_old_torch_warns_of_known_bypasses(version, cves):
    warning = checkpoint.version_warning(version)
    if not cves:
        assert warning is None
    else:
        assert warning and all(cve in warning for cve in cves)
        assert ("CVE-2025-32434" in warning) == ("CVE-2025-32434" in cves)


# --- every torch.load says weights_only ----------------------------------------------------------


def torch_load_calls(text: str) -> list[str]:
    """Every `torch.load(...)` in a source text (code or a generated script), arguments included."""
    calls = []
    for match in re.finditer(r"\btorch\.load\(", text):
        depth, i = 1, match.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        calls.append(text[match.start() : i])
    return calls


def test_the_scan_finds_calls_without_weights_only():
    source = "x = torch.load(path, map_location=f(1))\ny = torch.load(p, weights_only=True)\n"
    assert [("weights_only=" in c) for c in torch_load_calls(source)] == [False, True]


def test_every_torch_load_passes_weights_only():
    files = [p for folder in ("engine", "tui") for p in (ROOT / folder).rglob("*.py")]
    found = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "from torch import load" not in text, f"{path}: call torch.load by its name"
        for call in torch_load_calls(text):
            found += 1
            assert "weights_only=" in call, f"{path.relative_to(ROOT)}: {call} does not pass weights_only"
    assert found >= 3  # the scan really sees the project's loads


# --- the code view ------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_exported_script_round_trips_exactly(tmp_path):
    lab = get_lab("checkpoint")
    values = validate(lab.params, {**TINY, "folder": str(tmp_path / "files")})
    script = tmp_path / "ck.py"
    script.write_text(lab.code(values))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    diffs = re.findall(r"^(.+?): \d+ bytes, .* max abs diff (\S+)$", out.stdout, re.M)
    assert {name for name, _ in diffs} == {"state_dict", "whole model", "safetensors"}
    assert all(float(d) == 0.0 for _, d in diffs)
    assert not list((tmp_path / "files").glob("*.tmp"))


@pytest.mark.parametrize("name", ["w.pt", "w.safetensors"])
@pytest.mark.parametrize("trust", [False, True])
def test_the_inspect_script_reads_the_file(tmp_path, name, trust):
    path = tmp_path / name
    if name.endswith(".pt"):
        torch.save(_model().state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file(_model().state_dict(), str(path))
    lab = get_lab("checkpoint")
    text = lab.code(validate(lab.params, {"load": str(path), "trust": trust}))
    assert f"weights_only={not trust}" in text or name.endswith(".safetensors")
    namespace: dict = {"__name__": "inspect_script"}
    exec(compile(text, "inspect.py", "exec"), namespace)  # the script itself, in-process: fast
    assert namespace["parameters"] == 67


def test_code_is_torch_free_and_quick():
    code = "import pttui.engine.labs.checkpoint as m, sys; m.LAB.code({**{p.name: p.default for p in m.PARAMS}}); assert 'torch' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr


def test_stale_temporary_files_are_swept_on_load(tmp_path):
    path = tmp_path / "ck.pt"
    torch.save({"w": torch.ones(1)}, path)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = path.with_name(f".ck.pt.{int(gone.stdout)}.0000{checkpoint.TEMP_SUFFIX}")
    stale.write_bytes(b"half a file")
    checkpoint.load(path)
    assert not stale.exists() and os.path.exists(path)
