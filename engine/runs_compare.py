"""`pttui runs compare RUN RUN ...` and `pttui runs export RUN --csv FILE`: recorded runs side by side.

Experiment trackers overlay runs and export their curves; these read the same run folders
as `pttui runs` (see pttui.engine.runs) and need neither torch nor the app. A RUN is a run
folder's path, its name under the runs folder, the start of a name that only one run has,
or the short id `pttui runs` lists (the name's last part).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from pttui.engine import events as ev
from pttui.engine import runs
from pttui.engine.lifecycle import EXIT_BAD_PARAMS, EXIT_OK


class RunNotFound(ValueError):
    """A RUN that names no recorded run (or more than one)."""


def find_run(name: str, runs_dir: str | None = None) -> runs.RunInfo:
    """The run a RUN argument names; RunNotFound says what was looked for, and where."""
    path = Path(name).expanduser()
    info = runs.read_run(path) if path.is_dir() else None
    if info is not None:
        return info
    root = runs.resolve_runs_dir(runs_dir)
    info = runs.read_run(root / name)
    if info is not None:
        return info
    # The start of a name, or its short id as `pttui runs` lists it (the name's last part).
    matches = [
        i for i in runs.list_runs(root) if i.path.name.startswith(name) or i.path.name.endswith("-" + name)
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(i.path.name for i in matches[:5])
        raise RunNotFound(f"{name!r} names {len(matches)} runs in {root} ({names}): give more of the name")
    raise RunNotFound(f"no run {name!r}: not a run folder, nor a run name in {root} (pttui runs lists them)")


def _shown(key: str, value: Any) -> str:
    """A parameter or figure as everything else in pttui writes it (yes/no, n/a, units)."""
    from pttui.engine import numbers

    return numbers.field(key, value)


def comparison(infos: list[runs.RunInfo]) -> dict[str, Any]:
    """{"runs": names, "params": {name: [value per run]}, "differ": [names], "unused": {name:
    [whether each run did not use it]}, "results": {...}}.

    A parameter a run did not use (`--momentum` with Adam, the boundary of a digits run: see
    common.unused) counts as no value: it never makes runs differ."""
    from pttui.engine import common

    names = [i.path.name for i in infos]
    keys: list[str] = []
    for i in infos:
        keys += [k for k in i.params if k not in keys]
    unused_by = [common.unused(dict(i.params), i.topic) for i in infos]
    params = {k: [i.params.get(k) for i in infos] for k in keys}
    unused = {k: [k in u for u in unused_by] for k in keys}
    differ = [
        k
        for k, values in params.items()
        if len({json.dumps(v, default=str) for v, off in zip(values, unused[k], strict=True) if not off}) > 1
    ]
    figures: list[str] = []
    for i in infos:
        figures += [
            k
            for k, v in i.result.items()
            if k not in figures and (v is None or isinstance(v, (int, float, str)))
        ]
    results = {k: [i.result.get(k) for i in infos] for k in figures}
    status = [i.status for i in infos]
    return {
        "runs": names,
        "topics": [i.topic for i in infos],
        "status": status,
        "params": params,
        "unused": unused,
        "differ": differ,
        "results": results,
    }


def print_comparison(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from pttui.engine import numbers

    table = Table(title="runs compared (differences in bold yellow; n/a: not used by that run)")
    table.add_column("")
    for name in data["runs"]:
        table.add_column(name, overflow="fold")
    table.add_row("topic", *data["topics"])
    table.add_row("status", *data["status"], end_section=True)
    unused = data.get("unused", {})
    for key, values in data["params"].items():
        style = "bold yellow" if key in data["differ"] else "dim"
        offs = unused.get(key, [False] * len(values))
        cells = [
            "-" if v is None else numbers.NONE if off else _shown(key, v)
            for v, off in zip(values, offs, strict=True)
        ]
        table.add_row(key, *cells, style=style)
    if data["params"]:
        table.rows[-1].end_section = True
    for key, values in data["results"].items():
        table.add_row(key, *(_shown(key, v) for v in values), style="bold")
    Console().print(table)


def export_csv(info: runs.RunInfo, target: Path) -> int:
    """Write the run's step and epoch events as CSV rows; returns the number of rows.

    Columns: kind, t, step, epoch, series, rank, loss, then every epoch metric by name.
    OSError when the file cannot be written.
    """
    events = [e for e in runs.read_events(info.path) if isinstance(e, (ev.Step, ev.Epoch))]
    metrics: list[str] = []
    for e in events:
        if isinstance(e, ev.Epoch):
            metrics += [k for k in e.metrics if k not in metrics]
    with open(target, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "t", "step", "epoch", "series", "rank", "loss", *metrics])
        for e in events:
            if isinstance(e, ev.Step):
                writer.writerow(
                    ["step", e.t, e.step, e.epoch, e.series, e.rank, e.loss, *[""] * len(metrics)]
                )
            else:
                writer.writerow(
                    [
                        "epoch",
                        e.t,
                        "",
                        e.epoch,
                        e.series,
                        e.rank,
                        "",
                        *(e.metrics.get(m, "") for m in metrics),
                    ]
                )
    return len(events)


def compare_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pttui runs compare",
        description="Recorded runs side by side: parameters (differences highlighted) and final figures.",
    )
    parser.add_argument(
        "run",
        nargs="+",
        metavar="RUN",
        help="a run folder, its name, the start of its name, or its short id (pttui runs lists them)",
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument("--runs-dir", metavar="DIR", default=None, help="the runs folder")
    args = parser.parse_args(argv)
    try:
        infos = [find_run(name, args.runs_dir) for name in args.run]
    except RunNotFound as exc:  # before the count: `compare nosuch` is about 'nosuch'
        print(f"pttui runs compare: RUN: {exc}", file=sys.stderr)
        return EXIT_BAD_PARAMS
    if len(args.run) < 2:
        print(
            f"pttui runs compare: RUN: give two runs or more to compare ({args.run[0]!r} alone); "
            "pttui runs lists them",
            file=sys.stderr,
        )
        return EXIT_BAD_PARAMS
    data = comparison(infos)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print_comparison(data)
    return EXIT_OK


def export_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pttui runs export", description="Write a run's steps and epochs as CSV."
    )
    parser.add_argument(
        "run",
        metavar="RUN",
        help="a run folder, its name, the start of its name, or its short id (pttui runs lists them)",
    )
    parser.add_argument("--csv", metavar="FILE", required=True, help="the CSV file to write")
    parser.add_argument("--runs-dir", metavar="DIR", default=None, help="the runs folder")
    args = parser.parse_args(argv)
    if not args.csv.strip():  # Path("") is the current folder: "cannot write : Is a directory"
        print(
            f"pttui runs export: --csv: expected the path of a CSV file to write (e.g. --csv run.csv); "
            f"got {args.csv!r}",
            file=sys.stderr,
        )
        return EXIT_BAD_PARAMS
    try:
        info = find_run(args.run, args.runs_dir)
    except RunNotFound as exc:
        print(f"pttui runs export: RUN: {exc}", file=sys.stderr)
        return EXIT_BAD_PARAMS
    try:
        rows = export_csv(info, Path(args.csv))
    except OSError as exc:
        print(f"pttui runs export: --csv: cannot write {args.csv}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_PARAMS
    print(f"wrote {rows} rows to {args.csv}", file=sys.stderr)
    return EXIT_OK
