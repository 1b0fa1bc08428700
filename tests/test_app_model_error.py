"""newuser2 finding 16 under Pilot at 80x24: a failed run's message is in the Summary pane, where
the person reads results, not only in the cut status line and the Log."""

from __future__ import annotations

from pathlib import Path

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
