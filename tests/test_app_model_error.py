"""newuser2 finding 16 under Pilot at 80x24: a failed run's message is in the Summary pane, where
the person reads results, not only in the cut status line and the Log."""

from __future__ import annotations

from pathlib import Path

import pytest

from pttui.engine import events as ev
from pttui.tui.app import PlaygroundApp
from pttui.tui.widgets.summary import SummaryPane
from tests.test_app import built, sync, wait_for


@sync
async def test_a_failed_runs_message_and_its_frames_are_in_the_summary():
    message = (
        "UserModelError: your model (bad.py) raised RuntimeError: mat1 and mat2 shapes cannot be "
        "multiplied (2x32 and 64x10) (bad.py line 8, in forward: return self.fc(x[:, :32])) in forward"
    )
    detail = 'Traceback (your file\'s frames only):\n  File "/tmp/bad.py", line 8, in forward\n'
    app = PlaygroundApp("training", spares=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        screen.results.apply([ev.Error(0.2, message, None, detail)])
        await pilot.pause()
        shown = screen.results.query_one(SummaryPane).plain()
        assert message in shown and "/tmp/bad.py" in shown, shown


@sync
async def test_a_model_spec_with_no_input_shape_marks_the_field_before_the_run():
    spec = f"{Path(__file__).resolve().parent.parent / 'examples' / 'models.py'}:SmallCNN"
    app = PlaygroundApp("modules", spares=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        (field,) = [f for f in screen.form.fields if f.param.name == "model_spec"]
        field.editor.value = spec
        (shape,) = [f for f in screen.form.fields if f.param.name == "input_shape"]
        await wait_for(pilot, lambda: shape.marked, what="the input shape field marked")
        assert "SmallCNN declares no input size" in shape.marked, shape.marked


BAD = """
from torch import nn


class Bad(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(x[:, :32])
"""


@sync
@pytest.mark.slow
async def test_a_models_error_in_a_real_run_leads_the_log_once_with_its_own_frames(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(BAD)
    app = PlaygroundApp("training", {"model_spec": f"{path}:Bad", "epochs": 1}, spares=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(screen.final, ev.Error), what="the failed run", timeout=120)
        await pilot.pause(1.0)  # the engine's stderr comes after its last event
        log = list(screen.results.log_view.history)
        said = [i for i, line in enumerate(log) if "UserModelError: your model (bad.py)" in line]
        assert len(said) == 1, log
        after = "\n".join(log[said[0] :])
        assert 'bad.py", line 11, in forward' in after, after
        for internal in ("usermodel.py", "contextlib", "runner.py"):
            assert internal not in after, after
        assert "UserModelError: your model (bad.py)" in screen.results.query_one(SummaryPane).plain()
