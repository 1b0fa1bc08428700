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
