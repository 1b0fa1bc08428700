"""Shared fixtures: run a lab in-process and collect its events; run the CLI as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _runs_in_tmp(tmp_path, monkeypatch):
    """Runs recorded by tests land in a temporary folder, never in the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PTTUI_RUNS_DIR", str(tmp_path / "runs"))
    # No warm spare engine in app tests (each would import torch beside the test); the spare's
    # own tests turn it back on.
    monkeypatch.setenv("PTTUI_NO_SPARE", "1")


def run_lab(name: str, **params):
    """Run a lab on the engine thread; returns (final event, CollectSink)."""
    from pttui.engine.labs import get_lab
    from pttui.engine.runner import Runner
    from pttui.engine.sinks import CollectSink

    sink = CollectSink()
    final = Runner(get_lab(name), params, [sink]).run()
    return final, sink


def pttui(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """The `pttui` command as a real process (through `python -m pttui.tui`, same code)."""
    env = {**os.environ, **kw.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "pttui.tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kw,
    )


# One headless training run serves every test that only reads what it printed or recorded: each
# such run costs a torch import and a training in a fresh process (~2.5 s of CPU, ~13 s at load 10).
TRAINING_JSON = ["run", "training", "--json", "--epochs", "2", "--dataset", "moons", "--size", "200",
                 "--threads", "1"]  # fmt: skip
TRAINING_HUMAN = ["run", "training", "--dataset", "moons", "--size", "200", "--epochs", "2", "--threads", "1",
                  "--histograms", "1", "--no-record"]  # fmt: skip


@pytest.fixture(scope="session")
def training_json_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """`pttui run training --json` (2 epochs of 200 moons), recorded: (the process, its runs folder)."""
    where = tmp_path_factory.mktemp("training-json")
    runs_dir = where / "runs"
    return pttui(*TRAINING_JSON, cwd=where, env={"PTTUI_RUNS_DIR": str(runs_dir)}), runs_dir


@pytest.fixture(scope="session")
def training_human_run(tmp_path_factory) -> subprocess.CompletedProcess:
    """`pttui run training` printed for a person (2 epochs of 200 moons, histograms on, not recorded)."""
    return pttui(*TRAINING_HUMAN, cwd=tmp_path_factory.mktemp("training-human"))


OLD_NAMES = ("engine", "tui")  # the folders' names; installed, they are pttui.engine and pttui.tui


def _loaded_under_old_names() -> list[str]:
    """Modules of this checkout imported as top-level `engine...`/`tui...` (pytest puts the root on sys.path)."""
    return sorted(n for n in sys.modules if n.split(".")[0] in OLD_NAMES)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when any test loaded a module twice, under its old top-level name."""
    old = _loaded_under_old_names()
    if old:
        print(f"\nmodules loaded under their old top-level names (import them as pttui.*): {old}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
