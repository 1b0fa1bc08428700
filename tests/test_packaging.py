"""One installed package: what `pip install` puts in site-packages, and who may import whom.

The folders `engine/` and `tui/` install as `pttui.engine` and `pttui.tui` (pyproject's
package-dir), so nothing named `engine` or `tui` lands in anyone's site-packages. The import
contracts keep the engine headless (no textual) and the app light (no torch).
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import OLD_NAMES, ROOT


def _python_files() -> list[Path]:
    return [p for d in ("engine", "tui", "tests") for p in (ROOT / d).rglob("*.py")]


def test_no_source_imports_the_folders_by_their_old_names():
    # `python -m pytest` puts the root on sys.path, so `from engine ...` would still import there,
    # loading every module twice (two registries, two event classes); installed it fails outright.
    found = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] in OLD_NAMES
            ]
    assert not found, f"import these as pttui.engine / pttui.tui: {found}"


def _modules(package: str) -> list[str]:
    pkg = __import__(package, fromlist=["_"])
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        if not info.name.endswith("__main__"):  # running it is not importing it
            names.append(info.name)
    return names


def _loaded_after_importing(modules: list[str]) -> set[str]:
    probe = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd="/")
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


@pytest.mark.slow
def test_the_engine_imports_neither_textual_nor_the_app():
    modules = _modules("pttui.engine")
    assert len(modules) > 20, modules  # the walk found the engine, labs included
    loaded = _loaded_after_importing(modules)
    assert not {m for m in loaded if m.split(".")[0] == "textual"}, "the engine must run headless"
    assert not {m for m in loaded if m.startswith("pttui.tui")}


@pytest.mark.slow
def test_the_app_imports_no_torch():
    modules = _modules("pttui.tui")
    assert "pttui.tui.app" in modules and "pttui.tui.widgets.chart" in modules
    loaded = _loaded_after_importing(modules)
    assert "torch" not in loaded, "the app's engine runs are child processes; the UI process stays torch-free"


def test_the_shipped_digits_are_sklearns_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    from pttui.engine.data import load_digits_arrays

    x, y = load_digits_arrays()
    reference = datasets.load_digits()
    assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape == (1797, 64)
    np.testing.assert_array_equal(x, (reference.data / 16.0).astype(np.float32))
    np.testing.assert_array_equal(y, reference.target)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (found,) = out.glob("pttui-*.whl")
    return found


@pytest.mark.slow
def test_the_wheel_holds_one_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert zf.read(top_level).decode().split() == ["pttui"]
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"pttui"}, tops
    assert "pttui/engine/digits.npz" in names and "pttui/tui/app.tcss" in names


@pytest.mark.slow
def test_the_wheel_runs_from_a_fresh_venv(wheel, tmp_path):
    venv = tmp_path / "venv"
    made = subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300
    )
    assert made.returncode == 0, made.stderr
    py = venv / "bin" / "python"
    # The dependencies (torch, textual, ...) come from this environment's site-packages through a
    # .pth line; a path line does not run that folder's own .pth files, so this environment's
    # editable pttui stays out, and the only pttui there is the wheel's.
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    inst = subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert inst.returncode == 0, inst.stderr
    show = subprocess.run(
        [str(py), "-m", "pip", "show", "-f", "pttui"], capture_output=True, text=True, timeout=120
    )
    files = [
        line.strip() for line in show.stdout.splitlines()[show.stdout.splitlines().index("Files:") + 1 :]
    ]
    assert not [f for f in files if f.split("/")[0] in OLD_NAMES], files
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(py), "-c", "import pttui.engine; print(pttui.engine.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert where.stdout.startswith(site), (where.stdout, where.stderr)  # the wheel's copy, not the checkout
    topics = subprocess.run(
        [str(venv / "bin" / "pttui"), "topics"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert topics.returncode == 0 and "training" in topics.stdout, topics.stderr
    run = subprocess.run(
        [str(venv / "bin" / "pttui"), "run", "training", "--epochs", "1", "--json", "--no-record"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "done", events[-1]
