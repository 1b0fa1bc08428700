"""The README's commands for your own model and data run as written (in a copy of examples/)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Your model and your data") :]
    block = section[
        section.index("```bash") + len("```bash") : section.index("```", section.index("```bash") + 7)
    ]
    joined = re.sub(r"\\\n\s*", "", block)  # continuation lines
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


@pytest.mark.slow
def test_the_readme_commands_run_as_written(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PTTUI_RUNS_DIR": str(tmp_path / "runs")}
    bin_dir = str(Path(sys.executable).parent)  # `pttui` and `python` of this environment
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    commands = _commands()
    assert len(commands) >= 7 and any("--export-script" in c for c in commands)
    for command in commands:
        out = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert out.returncode == 0, f"{command}\n{out.stderr[-3000:]}"
    assert "epoch 2: train_loss" in out.stdout  # the exported script printed its losses
