"""`pttui runs compare` and `pttui runs export` on runs recorded for real."""

from __future__ import annotations

import csv
import json

from conftest import pttui

from pttui.engine import runs
from pttui.engine.labs import get_lab
from pttui.engine.params import validate
from pttui.engine.runner import Runner

TINY = dict(dataset="moons", size=200, hidden="8", epochs=2, batch_size=50, threads=1, boundary=False)


def _record(runs_dir, **params):
    lab = get_lab("training")
    raw = {**TINY, **params}
    if raw["dataset"] == "digits":  # not a 2-D set: it takes no --size (common.NEEDS)
        del raw["size"]
    values = validate(lab.params, raw)
    recorder = runs.RunRecorder.create(lab.name, values, runs_dir)
    Runner(lab, values, [recorder]).run()
    return recorder.path


def test_compare_and_export_recorded_runs(tmp_path):
    root = tmp_path / "runs"
    a = _record(root, lr=0.01)
    b = _record(root, lr=0.05, seed=3)
    out = pttui("runs", "compare", str(a), b.name, "--runs-dir", str(root), "--json")
    assert out.returncode == 0, out.stderr
    import json

    data = json.loads(out.stdout)
    assert data["runs"] == [a.name, b.name]
    assert set(data["differ"]) == {"lr", "seed"}
    assert data["params"]["lr"] == [0.01, 0.05]
    infos = [runs.read_run(a), runs.read_run(b)]
    assert data["results"]["val_acc"] == [i.result["val_acc"] for i in infos]
    human = pttui("runs", "compare", str(a), str(b))
    assert human.returncode == 0 and "val_acc" in human.stdout and "lr" in human.stdout

    target = tmp_path / "a.csv"
    out = pttui("runs", "export", str(a), "--csv", str(target))
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(target.open()))
    events = runs.read_events(a)
    steps = [e for e in events if e.kind == "step"]
    epochs = [e for e in events if e.kind == "epoch"]
    assert [r["kind"] for r in rows].count("step") == len(steps) > 0
    assert [float(r["loss"]) for r in rows if r["kind"] == "step"] == [s.loss for s in steps]
    assert [float(r["val_acc"]) for r in rows if r["kind"] == "epoch"] == [
        e.metrics["val_acc"] for e in epochs
    ]


def test_bad_runs_and_unwritable_csv_name_the_field(tmp_path):
    root = tmp_path / "runs"
    a = _record(root)
    out = pttui("runs", "compare", str(a), "no-such-run", "--runs-dir", str(root))
    assert out.returncode == 2 and "RUN" in out.stderr and "no-such-run" in out.stderr
    out = pttui("runs", "export", str(a), "--csv", str(tmp_path / "missing" / "x.csv"))
    assert out.returncode == 2 and "--csv" in out.stderr and "Traceback" not in out.stderr


def test_compare_writes_yes_no_and_na_for_a_field_the_run_did_not_use(tmp_path):
    root = tmp_path / "runs"
    digits = _record(root, dataset="digits", epochs=1, boundary=True)  # no boundary on 8x8 images
    moons = _record(root, boundary=True, system=False)
    out = pttui("runs", "compare", str(digits), str(moons), env={"COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    cells = [[c.strip() for c in line.strip("│┃ ").split("│")] for line in out.stdout.splitlines()]
    rows = {row[0]: row[1:] for row in cells if len(row) == 3}
    assert rows["boundary"] == ["n/a", "yes"], rows["boundary"]  # only 2-D sets draw one
    assert rows["system"] == ["yes", "no"] and rows["noise"][0] == "n/a"
    assert "True" not in out.stdout and "False" not in out.stdout
    data = json.loads(pttui("runs", "compare", str(digits), str(moons), "--json").stdout)
    assert data["unused"]["boundary"] == [True, False]
    assert "boundary" not in data["differ"] and "system" in data["differ"]


def test_compare_refuses_a_single_run(tmp_path):
    a = _record(tmp_path / "runs")
    out = pttui("runs", "compare", str(a))
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.strip().splitlines()
    assert "two runs" in line and "RUN" in line


def test_an_empty_csv_path_is_refused_naming_the_flag(tmp_path):
    """`--csv ''` is a missing path, not the current folder ("cannot write : Is a directory")."""
    root = tmp_path / "runs"
    a = _record(root)
    for empty in ("", "  "):
        out = pttui("runs", "export", str(a), "--csv", empty, cwd=tmp_path)
        assert out.returncode == 2, out
        (line,) = out.stderr.strip().splitlines()
        assert line.startswith("pttui runs export: --csv: expected the path of a CSV file"), line
        assert "Is a directory" not in line and "Traceback" not in out.stderr
    assert not list(tmp_path.glob("*.csv"))
