"""The headless human printer fits every topic's output to 80, 100 and 120 columns, in a
terminal and piped: no line wider, nothing cut with "…", and the cell that names each table
row always printed. Every topic runs for real, with its defaults (fewer epochs: the tables'
shapes do not depend on how long a run trains)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from pttui.engine import events as ev
from pttui.engine.human import HumanSink
from pttui.engine.labs import all_labs
from tests.conftest import run_lab

SHORTER = {"epochs": 1, "rounds": 2, "steps": 10}  # where a topic has them
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def recorded() -> dict[str, list[ev.Event]]:
    out = {}
    for name, lab in all_labs().items():
        names = {p.name for p in lab.params}
        final, sink = run_lab(name, **{k: v for k, v in SHORTER.items() if k in names})
        assert isinstance(final, ev.Done), (name, final)
        out[name] = sink.events
    return out


def _printed(events: list[ev.Event], width: int, terminal: bool) -> str:
    out = io.StringIO()
    sink = HumanSink(Console(file=out, width=width, force_terminal=terminal, color_system=None))
    for event in events:
        sink.on_event(event)
    sink.close()
    return ANSI.sub("", out.getvalue())


@pytest.mark.slow
@pytest.mark.parametrize("width", [80, 100, 120])
@pytest.mark.parametrize("terminal", [True, False], ids=["tty", "piped"])
def test_every_topic_fits_the_width_and_keeps_the_row_names(recorded, width, terminal):
    for topic, events in recorded.items():
        text = _printed(events, width, terminal)
        lines = text.splitlines()
        # A model summary keeps its lines whole (torchsummary's own table is 64 wide).
        wide = [line for line in lines if len(line.rstrip()) > width]
        assert not wide, f"{topic} at {width}: {wide[:3]}"
        assert "…" not in text, f"{topic} at {width}: a cell was cut"
        words = " ".join(text.split())
        for table in (e for e in events if isinstance(e, ev.Table)):
            for row in table.rows:
                name = " ".join(str(row[0]).split())
                assert name in words, f"{topic} at {width}: the row {name!r} of {table.title!r} is missing"


def test_a_long_value_wraps_beside_its_name_rather_than_stacking_every_row():
    words = "DataParallel not run: it splits batches across GPUs, and this run is on cpu"
    text = _printed([ev.Done(1.0, {"world_size": 2, "backend": "gloo", "dataparallel": words})], 80, False)
    assert re.search(r"^world_size +2$", text, re.M) and re.search(r"^backend +gloo$", text, re.M), text
    assert re.search(r"^dataparallel +DataParallel not run", text, re.M), text
    assert " ".join(words.split()) in " ".join(text.split())
    assert "figure world_size" not in text  # not one block per figure


def test_a_sweep_with_one_long_text_column_stays_a_table_at_80_columns():
    rows = [
        [w, b, 70_000.0 + w * 1000 + b, f"{56_643 + w:,}-{88_934 + b:,} (unreliable)", "baseline", 0.278]
        for w in (0, 1, 2)
        for b in (32, 256)
    ]
    columns = ["num_workers", "batch size", "samples/s", "IQR", "vs num_workers=0", "first batch s"]
    text = _printed([ev.Table(1.0, "sweep", columns, rows)], 80, False)
    lines = text.splitlines()
    assert any("num_workers" in line and "IQR" in line for line in lines), text  # one header
    for w, b, speed, *_ in rows:  # each row's figures on one line
        assert any(re.search(rf"^ +{w} +{b} +{speed:,.0f} ", line) for line in lines), (w, b, text)
    assert all(len(line) <= 80 for line in lines)


QUANT_COLUMNS = ["variant", "size", "latency b1", "latency b64", "speed-up b1", "speed-up b64", "val acc",
                 "max abs logit diff", "argmax agreement"]  # fmt: skip
QUANT_ROWS = [
    ["fp32", "7.112 MB", "183 µs", "3.142 ms", "baseline", "baseline", 0.8774, 0.0, 1.0],
    ["dynamic int8", "1.788 MB", "105.9 µs", "739.3 µs", "1.72x faster, IQR 1.71-1.73x",
     "4.25x faster, IQR 4.21-4.35x", 0.8774, 0.04623746871948242, 1.0],
    ["static int8", "1.821 MB", "111.5 µs", "690.1 µs", "1.64x faster, IQR 1.63-1.65x",
     "4.64x faster, IQR 4.56-4.65x", 0.8858, 0.13816292583942413, 0.9861],
]  # fmt: skip


@pytest.mark.parametrize("width", [86, 80, 60])
def test_a_few_variants_of_many_figures_stand_side_by_side_transposed_before_stacking(width):
    text = _printed([ev.Table(1.0, "fp32 and int8", QUANT_COLUMNS, QUANT_ROWS)], width, False)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), text
    # The variants name the columns, on one header line; each figure is a row, its values side by side.
    assert re.search(r"^variant +fp32 +dynamic int8 +static int8$", text, re.M), text
    assert re.search(r"^val acc +0\.8774 +0\.8774 +0\.8858$", text, re.M), text
    assert re.search(r"^max abs logit diff +0 +0\.04624 +0\.1382$", text, re.M), text
    assert "variant fp32" not in text  # not one block per variant
    assert "…" not in text


def test_too_narrow_even_transposed_still_stacks_and_names_every_variant():
    text = _printed([ev.Table(1.0, "fp32 and int8", QUANT_COLUMNS, QUANT_ROWS)], 40, False)
    assert all(len(line) <= 40 for line in text.splitlines()), text
    for name in ("fp32", "dynamic int8", "static int8"):
        assert f"variant {name}" in text, text
