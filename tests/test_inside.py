"""Inside training: the decision boundary, layer histograms, the profiler, system figures and
the confusion matrix, each checked against real PyTorch computed here."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import pttui, run_lab

from pttui.engine import boundary, data, histograms, models
from pttui.engine import events as ev
from pttui.engine.inside import confusion_matrix

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TINY = dict(dataset="spiral", size=300, hidden="16", epochs=3, batch_size=32, threads=1)


def _centres(event: ev.Heatmap) -> np.ndarray:
    """The cell centres as events.Heatmap documents them, computed here from its fields."""
    (x0, x1), (y0, y1) = event.x_range, event.y_range
    pts = []
    for r in range(event.height):
        for c in range(event.width):
            pts.append(
                (
                    x0 + (c + 0.5) * (x1 - x0) / event.width,
                    y1 - (r + 0.5) * (y1 - y0) / event.height,
                )
            )
    return np.array(pts, dtype=np.float32)


@pytest.mark.parametrize("features", [("x1", "x2"), ("x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2")])
def test_heatmap_class_is_the_models_argmax(features):
    d = data.load(data.DataSpec("spiral", 600, 0.1, 0))
    torch.manual_seed(0)
    model = models.MLP(len(features), (16,), d.n_classes, "tanh", dropout=0.5)
    bmap = boundary.BoundaryMap(model, d, features, "cpu")
    event = bmap.make(7)
    assert event.width >= 40 and event.height >= 40
    assert len(event.classes) == len(event.confidence) == event.width * event.height
    centres = _centres(event)
    x = torch.from_numpy(data.add_features(centres, features))
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(x), 1)
    expected = probs.argmax(1)
    rng = np.random.default_rng(0)
    for i in rng.choice(len(centres), 200, replace=False):
        assert int(event.classes[i], 36) == int(expected[i]), f"cell {i}"
        level = round((probs[i].max().item() - 1 / 3) / (2 / 3) * 9)
        assert abs(int(event.confidence[i]) - level) <= 1
    # The grid covers every data point, and the points sent are real ones, split marked.
    xs = np.concatenate([d.x_train, d.x_val])
    assert event.x_range[0] < xs[:, 0].min() and xs[:, 0].max() < event.x_range[1]
    assert event.y_range[0] < xs[:, 1].min() and xs[:, 1].max() < event.y_range[1]
    assert {p[3] for p in event.points} == {0, 1}
    assert bmap.make(8).points == []  # the points come once (and again with the final map)
    assert bmap.make(9, final=True).points == event.points


def test_histogram_counts_sum_to_the_number_of_weights():
    torch.manual_seed(0)
    model = models.MLP(2, (32, 16), 3)
    x, y = torch.randn(64, 2), torch.randint(0, 3, (64,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    events = histograms.layer_events(model, 1, 0.0)
    assert [e.layer for e in events] == ["net.0", "net.2", "net.4"]
    assert sum(e.numel for e in events) == sum(p.numel() for p in model.parameters())
    for e, layer in zip(events, [model.net[0], model.net[2], model.net[4]], strict=True):
        own = torch.cat([layer.weight.reshape(-1), layer.bias.reshape(-1)])
        assert sum(e.weights["counts"]) == own.numel() == e.numel
        assert sum(e.grads["counts"]) == own.numel()
        assert len(e.weights["edges"]) == len(e.weights["counts"]) + 1
        assert e.weights["edges"][0] == pytest.approx(own.min().item(), rel=1e-4)
        grad = torch.cat([layer.weight.grad.reshape(-1), layer.bias.grad.reshape(-1)])
        assert e.grad_norm == pytest.approx(grad.norm().item(), rel=1e-5)


def test_a_short_run_ends_with_the_trained_networks_histograms():
    """The 1-a-second throttle leaves a short run one early set; the final set is the trained
    network's, at the last step, with counts that add up to its parameters, and like every set
    it carries its update/weight ratio (with --histograms 1 too)."""
    final, sink = run_lab("training", dataset="digits", epochs=2, threads=1, histograms=5)
    assert isinstance(final, ev.Done), final
    last_step = sink.of("step")[-1].step
    sets: dict[int, list[ev.Histogram]] = {}
    for h in sink.of("histogram"):
        sets.setdefault(h.step, []).append(h)
    assert len(sets) >= 2 and min(sets) == 5 and max(sets) == last_step, sorted(sets)
    assert sum(sum(h.weights["counts"]) for h in sets[last_step]) == final.result["params"]
    # Each set, the final one too, measured its update: the weights were kept a step before it.
    assert all(h.update_ratio is not None and h.update_ratio > 0 for group in sets.values() for h in group)


def test_update_ratio_is_the_update_over_the_weights():
    torch.manual_seed(0)
    model = models.MLP(2, (8,), 2)
    before = {
        name: torch.cat([p.detach().reshape(-1) for p in ps]).clone() for name, ps in histograms.layers(model)
    }
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.nn.functional.cross_entropy(model(torch.randn(16, 2)), torch.randint(0, 2, (16,))).backward()
    opt.step()
    events = histograms.layer_events(model, 1, 0.0, before)
    for e in events:
        params = dict(histograms.layers(model))[e.layer]
        now = torch.cat([p.detach().reshape(-1) for p in params])
        grad = torch.cat([p.grad.reshape(-1) for p in params])
        assert e.update_ratio == pytest.approx((0.1 * grad).norm().item() / now.norm().item(), rel=1e-4)


def test_a_training_run_emits_the_views_inside():
    final, sink = run_lab("training", **{**TINY, "epochs": 4}, histograms=2)
    assert isinstance(final, ev.Done), final
    maps = sink.of("heatmap")
    assert maps and maps[-1].final and maps[-1].points
    hists = sink.of("histogram")
    assert hists, "histograms asked for every 2 steps"
    first_step = hists[0].step
    same = [h for h in hists if h.step == first_step]
    n_params = final.result["params"]
    assert sum(sum(h.weights["counts"]) for h in same) == n_params
    assert sink.of("system"), "the final system figures come at the end"
    s = sink.of("system")[-1]
    assert s.rss_mb > 10 and s.processes >= 1 and s.cpu_percent >= 0
    tables = {t.title: t for t in sink.of("table")}
    cm = tables["confusion matrix (validation)"]
    counts = [row[1:] for row in cm.rows]
    val_acc = sum(counts[i][i] for i in range(len(counts))) / sum(map(sum, counts))
    assert val_acc == pytest.approx(final.result["val_acc"])
    assert 0 <= final.result["boundary_share"] < 1
    for event in sink.events:  # every new kind survives the JSON round trip
        assert ev.from_json(event.to_json()).to_json() == event.to_json()


def test_confusion_matrix_rows_count_each_class():
    torch.manual_seed(0)
    model = models.MLP(2, (8,), 3)
    x, y = torch.randn(50, 2), torch.randint(0, 3, (50,))
    counts = confusion_matrix(model, x, y, 3)
    with torch.no_grad():
        pred = model(x).argmax(1)
    for t in range(3):
        for p in range(3):
            assert counts[t][p] == int(((y == t) & (pred == p)).sum())


def test_profiler_rows_exist_for_a_cpu_run(tmp_path):
    final, sink = run_lab("training", **TINY, profile=3, boundary=False)
    assert isinstance(final, ev.Done), final
    table = next(t for t in sink.of("table") if t.title == "profiler: top ops")
    assert table.columns[:3] == ["op", "calls", "self CPU ms"] and table.columns[-1] == "% of step"
    assert table.rows and any(row[0].startswith("aten::") for row in table.rows)
    assert all(row[1] >= 1 and row[2] >= 0 for row in table.rows)
    assert sum(row[-1] for row in table.rows) <= 100.5
    trace = final.result["trace"]
    assert json.loads(Path(trace).read_text())["traceEvents"]
    assert any(trace in t.body for t in sink.of("text"))


def test_no_boundary_and_no_system_emit_none():
    final, sink = run_lab("training", **TINY, boundary=False, system=False)
    assert isinstance(final, ev.Done)
    assert not sink.of("heatmap") and not sink.of("system")


def test_digits_draw_no_boundary():
    final, sink = run_lab("training", dataset="digits", epochs=1, threads=1)
    assert isinstance(final, ev.Done) and not sink.of("heatmap")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"dataset": "digits", "features": "x1,x2,x1sq"}, "features"),
        ({"model": "simplenet", "dropout": 0.3}, "dropout"),
    ],
)
def test_inputs_that_do_not_apply_name_the_field(extra, field):
    from pttui.engine.params import ParamError

    with pytest.raises(ParamError) as caught:  # common.NEEDS: the run never starts
        run_lab("training", epochs=1, threads=1, **extra)
    on = "--dataset digits" if field == "features" else "--model simplenet"
    assert caught.value.field == field and f"no --{field} with {on}" in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"model_spec": str(EXAMPLES / "models.py:TabularNet"), "dropout": 0.3}, "dropout"),
        ({"data": str(EXAMPLES / "tabular.csv"), "features": "x1,x2,x1x2"}, "features"),
    ],
)
def test_built_in_only_inputs_beside_a_users_own_are_refused_before_the_run(extra, field):
    from pttui.engine.params import ParamError

    with pytest.raises(ParamError) as caught:  # common.WINS: the run never starts
        run_lab("training", epochs=1, threads=1, **extra)
    assert caught.value.field == field and "wins over" in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"features": "x1,x3"}, "features"),
        ({"features": "x1,x1"}, "features"),
        ({"regularization": "l3"}, "regularization"),
    ],
)
def test_bad_values_name_the_field(extra, field):
    from pttui.engine.labs import get_lab
    from pttui.engine.params import ParamError, validate

    with pytest.raises(ParamError) as caught:
        validate(get_lab("training").params, extra)
    assert caught.value.field == field


def test_unwritable_tensorboard_folder_is_refused_naming_the_field(tmp_path):
    """A folder that cannot be made (its parent is a file) is refused with the parameters,
    before any training (one rule for every folder a run writes)."""
    from pttui.engine.params import ParamError

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ParamError) as caught:
        run_lab("training", **TINY, histograms=1, tensorboard=str(blocker / "tb"))
    assert caught.value.field == "tensorboard"


def test_headless_printer_draws_the_final_boundary(training_human_run):
    out = training_human_run  # `pttui run training --histograms 1 ...` without --json (see conftest)
    assert out.returncode == 0, out.stderr
    assert "decision boundary at step" in out.stdout
    # piped, so no colour: each class draws its own glyph (heatmap_view.CLASS_GLYPHS), not a coloured ▀
    from pttui.engine.heatmap_view import CLASS_GLYPHS

    assert "▀" not in out.stdout and sum(g in out.stdout for g in CLASS_GLYPHS[:2]) == 2, out.stdout
    assert "◆" in out.stdout and "●" in out.stdout
    assert "layers at the last histogram" in out.stdout


def test_events_added_per_minute_stay_small():
    """Heatmap + histogram + system bytes stay under ~1 MB a minute, whatever the settings:
    maps come at most every EVERY_S, histogram sets within their byte budget, system once a second."""
    from pttui.engine import boundary as b
    from pttui.engine import histograms as h
    from pttui.engine import system_stats

    final, sink = run_lab("training", **{**TINY, "hidden": "64,64,64,64,64,64", "epochs": 30}, histograms=1)
    assert isinstance(final, ev.Done)
    maps = [m for m in sink.of("heatmap") if not m.final]
    map_bytes = max(len(m.to_json()) for m in maps if not m.points) if len(maps) > 1 else 0
    times = [m.t for m in maps]
    assert all(later - earlier >= b.EVERY_S * 0.9 for earlier, later in itertools.pairwise(times))
    sets: dict[int, list] = {}
    for e in sink.of("histogram"):
        sets.setdefault(e.step, []).append(e)
    *throttled, final_set = sets.values()  # the trained network's set comes once, at the end
    assert all(e.update_ratio is not None for e in sink.of("histogram")), "every set, --histograms 1 too"
    assert final_set[0].step == sink.of("step")[-1].step
    set_times = [group[0].t for group in throttled]
    set_bytes = [sum(len(e.to_json()) + 1 for e in group) for group in throttled]
    for (t0, t1), size in zip(itertools.pairwise(set_times), set_bytes[:-1], strict=True):
        assert t1 - t0 >= max(h.MIN_INTERVAL_S, size / h.BYTES_PER_S) * 0.9, (t1 - t0, size)
    per_minute = map_bytes * 60 / b.EVERY_S + h.BYTES_PER_S * 60 + 200 * 60 / system_stats.EVERY_S
    assert per_minute <= 1.05e6, per_minute


def test_histograms_reach_tensorboard_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    final, _ = run_lab("training", **TINY, histograms=1, tensorboard=str(tmp_path / "tb"))
    assert isinstance(final, ev.Done)
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = acc.Tags()
    assert "net.0/weights" in tags["histograms"] and "net.0/grad_norm" in tags["scalars"]


def test_system_figures_cover_the_whole_process_tree():
    """A child holding 64 MiB (a rank, a worker) counts in the engine's process count and RSS."""
    import subprocess
    import sys
    import time

    from pttui.engine.system_stats import ProcessTree

    tree = ProcessTree()
    _, alone_mb, alone = tree.sample()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; x = bytearray(64 << 20); print(1, flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout.readline().strip() == b"1"  # its memory is touched now
        time.sleep(0.2)
        cpu, with_mb, count = tree.sample()
        assert count >= alone + 1
        assert with_mb - alone_mb >= 60, (alone_mb, with_mb)
        assert cpu >= 0
    finally:
        child.kill()
        child.wait()


def test_headless_printer_draws_the_final_confusion_matrix_in_80_columns():
    # The counts from the same run in-process (the printer's side needs the process, this one not).
    done, sink = run_lab("training", dataset="digits", epochs=2, threads=1)
    assert isinstance(done, ev.Done), done
    final = [e for e in sink.of("table") if e.title == "confusion matrix (validation)"][-1]
    counts = [row[1:] for row in final.rows]
    human = pttui("run", "training", "--dataset", "digits", "--epochs", "2", "--threads", "1", "--no-record")
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("confusion matrix (validation) · final"))
    assert lines[top + 1].split()[:11] == ["true", *map(str, range(10))]
    assert all(len(line) <= 80 for line in lines[top : top + 12])
    for t in range(10):
        cells = lines[top + 2 + t].split()
        assert cells[0] == str(t) and len(cells) == 12  # class, 10 counts, recall
        shown = [0 if c == "·" else int(c) for c in cells[1:11]]
        assert sum(shown) == sum(counts[t])  # the same split and seed: the same class sizes
        assert cells[11] == f"{shown[t] / sum(shown):.1%}"


NO_PARAMS = '''
import torch
from torch import nn


class NoParams(nn.Module):
    """The first two inputs as the logits: nothing to train."""

    def forward(self, x):
        return x[:, :2] * 1.0


class HalfFrozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.frozen = nn.Linear(2, 8)
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(torch.tanh(self.frozen(x)))
'''


def test_histograms_on_a_model_with_no_parameters_name_the_model(tmp_path):
    spec = tmp_path / "nop.py"
    spec.write_text(NO_PARAMS)
    own = {k: v for k, v in TINY.items() if k != "hidden"}  # --model-spec replaces the built-in MLP
    final, _ = run_lab("training", **{**own, "dataset": "moons"}, histograms=1, model_spec=f"{spec}:NoParams")
    assert isinstance(final, ev.Error) and final.field == "model_spec", final
    assert "trainable parameters (this one has none" in final.message and "--histograms" in final.message
    # A model with some frozen layers trains, and its histograms cover what it trains.
    final, sink = run_lab(
        "training", **{**own, "dataset": "moons"}, histograms=1, model_spec=f"{spec}:HalfFrozen"
    )
    assert isinstance(final, ev.Done), final
    last = [h for h in sink.of("histogram") if h.step == sink.of("histogram")[-1].step]
    assert [h.layer for h in last] == ["head"] and sum(sum(h.weights["counts"]) for h in last) == 8 * 2 + 2


def test_a_missing_profiler_is_a_warning_and_training_goes_on(monkeypatch):
    """A torch build without torch.profiler (its import fails, as it does there): the run says
    so, naming --profile, and trains to the end."""
    import sys

    monkeypatch.setitem(sys.modules, "torch.profiler", None)  # `from torch.profiler import` now fails
    final, sink = run_lab("training", **TINY, profile=3, boundary=False)
    assert isinstance(final, ev.Done), final
    warnings = [t.body for t in sink.of("text") if t.level == "warning"]
    assert any(w.startswith("profile: torch.profiler is not available") for w in warnings), warnings
    assert "trace" not in final.result and not [t for t in sink.of("table") if t.title.startswith("profiler")]
    assert final.result["epochs_done"] == TINY["epochs"]


def test_the_confusion_grid_reads_any_table_without_failing():
    """Counts from a hand-written record (NaN, text, negative, ragged rows) draw as 0s, not a crash."""
    from pttui.engine import confusion_view

    rows = [["0", 5, float("nan"), "x"], ["1", -3, float("inf"), 7, 9], ["2"]]
    counts = confusion_view.counts_of(rows)
    assert counts == [[5, 0, 0], [0, 0, 7, 9], []]
    text = confusion_view.render(counts, 40, "final").plain
    assert text.splitlines()[0].startswith("confusion") and len(text.splitlines()) == 2 + 3


def test_a_users_model_on_a_2d_set_draws_its_boundary(tmp_path):
    """--model-spec on a 2-D set: the boundary is drawn from the prediction (a dict output's
    --output-key), and its class is the trained model's argmax, computed here from the saved weights."""
    (tmp_path / "net.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.register_buffer('shift', torch.zeros(2))\n"
        "        self.gain = nn.Parameter(torch.ones(1))\n"
        "        self.body = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3))\n"
        "    def forward(self, x):\n"
        "        return {'aux': 'text', 'logits': self.body(x - self.shift) * self.gain}\n"
    )
    save = tmp_path / "net.pt"
    values = {k: v for k, v in TINY.items() if k != "hidden"}
    values.update(model_spec=f"{tmp_path / 'net.py'}:Net", output_key="logits", save=str(save))
    final, sink = run_lab("training", **values)
    assert isinstance(final, ev.Done), final
    maps = sink.of("heatmap")
    assert maps and maps[-1].final, "a user model on a 2-D set drew no decision boundary"
    event = maps[-1]
    import importlib.util

    spec = importlib.util.spec_from_file_location("net_for_test", tmp_path / "net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Net()
    state = torch.load(save, weights_only=True)
    model.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(_centres(event)))["logits"].argmax(1)
    assert event.classes == "".join(str(int(c)) for c in expected)


def test_a_run_stopped_before_its_first_step_states_no_cost_share():
    """Stopped before any step, the maps' time over ~0 s of training read 201 (20,000%): there
    is no share to state, so it is None (n/a), never a made-up figure."""
    from pttui.engine.labs import get_lab
    from pttui.engine.params import validate
    from pttui.engine.runner import Runner
    from pttui.engine.sinks import CollectSink

    lab = get_lab("training")
    values = validate(lab.params, dict(TINY, histograms=1, epochs=5))
    sink = CollectSink()
    runner = Runner(lab, values, [sink])
    runner.stop()  # asked before the run begins: it ends before its first step
    final = runner.run()
    assert isinstance(final, ev.Done) and final.result["steps"] == 0, final
    assert final.result.get("boundary_share") is None
    assert final.result.get("histogram_share") is None


def test_confusion_matrix_of_a_model_with_more_outputs_than_classes():
    """A person's model may score more classes than the data has (allowed: [batch, >= K]). A
    prediction of an extra class crashed the run at its end (a [3, 3] view of 12 counts), or,
    when it fit, was counted in the next true class's row. Now each extra class has a column."""
    torch.manual_seed(0)
    model = models.MLP(2, (8,), 5)
    with torch.no_grad():
        model.net[-1].bias[3:] += 5.0  # make the extra classes win often
    x, y = torch.randn(60, 2), torch.randint(0, 3, (60,))
    counts = confusion_matrix(model, x, y, 3)
    with torch.no_grad():
        pred = model(x).argmax(1)
    assert len(counts) == 3 and all(len(row) == 5 for row in counts)
    assert int((pred >= 3).sum()) > 0, "the test needs predictions of the extra classes"
    for t in range(3):
        for p in range(5):
            assert counts[t][p] == int(((y == t) & (pred == p)).sum())
    from pttui.engine.confusion_view import render

    header = render(counts, width=80, colors=None).plain.splitlines()[1]
    assert header.split()[1:6] == ["0", "1", "2", "3", "4"], header


def test_histograms_count_a_shared_weight_once():
    """Tied weights (b.weight is a.weight) were histogrammed under both layers, so the layers'
    counts summed to more than the model's trainable parameters; like the modules table, a
    shared parameter is counted in the first layer that holds it."""
    a, b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)
    b.weight = a.weight
    model = torch.nn.Sequential(a, torch.nn.ReLU(), b, torch.nn.Linear(4, 3))
    found = histograms.layers(model)
    counted = sum(p.numel() for _, params in found for p in params)
    assert counted == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert [name for name, _ in found] == ["0", "2", "3"]  # b keeps its own bias
