"""Events: JSON lines that carry their kind and time, and read back into the same events."""

import json

from pttui.engine import events as ev


def test_round_trip_every_kind():
    samples = [
        ev.Start(0.1, "training", {"lr": 0.1}, "cpu", "2.x"),
        ev.Step(0.2, 1, 0, 2.3),
        ev.Epoch(0.3, 0, 2, {"val_acc": 0.5}),
        ev.Table(0.4, "t", ["a"], [[1]]),
        ev.Tree(0.5, "g", {"label": "SumBackward0", "children": []}),
        ev.Text(0.6, "note", "body"),
        ev.Heatmap(
            0.61, "decision boundary", 3, 2, 1, [-1.0, 1.0], [0.0, 2.0], 2, "01", "95", [[0.5, 1.0, 1, 0]]
        ),
        ev.Histogram(0.62, "net.0", 3, 4, {"edges": [0.0, 0.5, 1.0], "counts": [1, 3]}, None, None, None),
        ev.System(0.63, 55.5, 300.0, 2, {"allocated_mb": 1.0, "reserved_mb": 2.0, "peak_mb": 1.5}),
        ev.Done(0.7, {"x": 1}, stopped=True),
        ev.Error(0.8, "bad", "lr"),
        ev.Error(0.85, "cmd: 'jump' is not a command", "cmd", '{"cmd":"jump"}', fatal=False),
        ev.Hello(0.0, 1, 1234, ["run", "pause"]),
        ev.State(0.9, "paused", 12, 2.0),
    ]
    assert {e.kind for e in samples} == set(ev.EVENT_TYPES)
    for event in samples:
        data = json.loads(event.to_json())
        assert data["event"] == event.kind and data["t"] == event.t
        assert ev.from_json(event.to_json()) == event


def test_non_finite_numbers_stay_valid_json():
    line = ev.Step(0.0, 1, 0, float("nan")).to_json()
    assert json.loads(line)["loss"] == "nan"
