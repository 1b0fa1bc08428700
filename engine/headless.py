"""`pttui run TOPIC`: runs a lab without a UI, printing events as JSON lines or for a person.

The flags come from the lab's parameter declarations. Exit codes: 0 done, 1 the lab (or a
sink) failed, 2 bad parameters, 130 interrupted (the `done` event then says `"stopped": true`),
141 the reader of stdout went away (`| head`): the run stopped quietly, recorded
"stopped (reader gone)".
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pttui.engine.lab import Lab
from pttui.engine.lifecycle import (
    EXIT_BAD_PARAMS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_READER_GONE,
)
from pttui.engine.params import ParamError

_POLL_S = 0.05  # how soon a stop asked for by a signal reaches the run

if TYPE_CHECKING:
    from pttui.engine.control import Control


def build_parser(lab: Lab, prog: str = "pttui run") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} {lab.name}",
        description=f"{lab.title}: {lab.summary}.",
        epilog="Exit codes: 0 done, 1 the lab failed, 2 bad parameters, 130 interrupted, "
        "141 the reader of stdout went away.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_argument_group("parameters")
    for p in lab.params:
        words = f"{p.help} ({p.allowed()}; default {p.to_text(p.default) or 'none'})"
        words = words.replace("%", "%%")  # argparse %-formats help: "CPU %" would end --help with a traceback
        if p.kind == "bool":
            group.add_argument(
                p.flag, dest=p.name, action=argparse.BooleanOptionalAction, default=None, help=words
            )
        else:
            group.add_argument(p.flag, dest=p.name, metavar=p.kind.upper(), default=None, help=words)
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print events as JSON lines on stdout, nothing else")
    out.add_argument(
        "--export-script", metavar="PATH", help="write the plain PyTorch script for these values and exit"
    )
    out.add_argument(
        "--runs-dir",
        metavar="DIR",
        default=None,
        help="folder that keeps a record of every run (default ./runs)",
    )
    out.add_argument("--no-record", action="store_true", help="keep no record of this run on disk")
    out.add_argument(
        "--control",
        action="store_true",
        help="take commands (pause, resume, step, pace, stop) as JSON lines on stdin; implies --json",
    )
    out.add_argument(
        "--ceiling-mb",
        metavar="MB",
        type=int,
        default=None,
        help="hard memory ceiling in MiB over the run's whole process tree, enforced by the "
        "supervisor (default: from --max-mb where the topic has it, else 75%% of free memory)",
    )
    return parser


# One folder, two topics' names: training's TensorBoard folder is visualize's --logdir.
SAME_FLAG = {"--tensorboard": "--logdir", "--logdir": "--tensorboard"}


def dashed(lab: Lab, argv: list[str], parser: argparse.ArgumentParser | None = None) -> list[str]:
    """`--batch_size 32` -> `--batch-size 32`: every flag of the parser (the parameters, their
    `--no-` forms, the output flags) is accepted in snake_case, as the Log and the messages write
    the names, `=value` forms too; and another topic's name for the same thing (SAME_FLAG:
    `--tensorboard DIR` on visualize is its `--logdir DIR`)."""
    parser = parser or build_parser(lab)
    flags = {s for action in parser._actions for s in action.option_strings if s.startswith("--")}
    out = []
    for arg in argv:
        if arg.startswith("--") and "_" in arg:
            flag, eq, value = arg.partition("=")
            if flag not in flags and flag.replace("_", "-") in flags:
                arg = flag.replace("_", "-") + eq + value
        flag, eq, value = arg.partition("=")
        if flag not in flags and SAME_FLAG.get(flag) in flags:
            arg = SAME_FLAG[flag] + eq + value
        out.append(arg)
    return out


def parse(lab: Lab, argv: list[str], prog: str = "pttui run") -> tuple[dict[str, Any], argparse.Namespace]:
    parser = build_parser(lab, prog)
    args = parser.parse_args(dashed(lab, argv, parser))
    raw = {p.name: getattr(args, p.name) for p in lab.params if getattr(args, p.name) is not None}
    return raw, args


def main(topic: str, argv: list[str]) -> int:
    try:
        return _main(topic, argv)
    except KeyboardInterrupt:  # Ctrl-C before the run began (torch still importing, say)
        print("pttui run: interrupted before the run began", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(topic: str, argv: list[str]) -> int:
    from pttui.engine.labs import UnknownTopic, get_lab

    try:
        lab = get_lab(topic)
    except UnknownTopic as exc:
        print(f"pttui run: {exc}", file=sys.stderr)
        return EXIT_BAD_PARAMS
    raw, args = parse(lab, argv)
    try:
        from pttui.engine.params import validate

        values = validate(lab.params, raw)
    except ParamError as exc:
        print(f"pttui run {lab.name}: {exc}", file=sys.stderr)
        return EXIT_BAD_PARAMS
    from pttui.engine import early

    where = _missing_runs_parent(args.runs_dir)
    if where:
        print(
            f"pttui run {lab.name}: runs_dir: {args.runs_dir!r} is not allowed; expected {where}",
            file=sys.stderr,
        )
        return EXIT_BAD_PARAMS

    # Syntax, files and a model file's NAME (read with ast), before torch loads: every bad field,
    # and the missing class before what the lab would ask next (--input-shape for it, say).
    problems = early.check(values)
    for exc in problems:
        print(f"pttui run {lab.name}: {exc}", file=sys.stderr)
    if problems:
        return EXIT_BAD_PARAMS
    if args.export_script:
        from pttui.engine.export import write_script

        try:
            write_script(lab, values, args.export_script)
        except ParamError as exc:
            print(f"pttui run {lab.name}: {exc}", file=sys.stderr)
            return EXIT_BAD_PARAMS
        print(f"wrote {args.export_script}", file=sys.stderr)
        return EXIT_OK
    if args.control:
        args.json = True  # the control channel speaks JSON lines both ways
    return execute(lab, values, args)


def _missing_runs_parent(runs_dir: str | None) -> str | None:
    """What --runs-dir takes when the folder it would be made in is not there at all (a typo:
    the one rule for paths a run writes, refused before the run). A runs folder that exists but
    cannot be written is not refused: the run goes on and warns that it keeps no record."""
    if not runs_dir:
        return None
    parent = os.path.dirname(os.path.abspath(os.path.expanduser(runs_dir)))
    if os.path.exists(parent):
        return None
    return f"a folder in a folder that exists ({parent!r} does not)"


def execute(
    lab: Lab,
    values: dict[str, Any],
    args: argparse.Namespace,
    control: Control | None = None,
    on: Callable[[Callable[[], None]], None] | None = None,
) -> int:
    """Run the lab to its end with the sinks `args` asks for; returns the exit code.

    With `args.control`, or a `control` already serving (a warm spare, engine.control), the
    run takes commands from stdin and the control's answers share the events' JSON sink; `on`
    hands the work to a warm engine's thread.
    """
    from pttui.engine import events as ev
    from pttui.engine import supervisor
    from pttui.engine.runner import Runner
    from pttui.engine.sinks import JsonLinesSink
    from pttui.engine.stop_signal import StopSignals

    sinks = []
    stdout = sys.stdout
    if control is None and getattr(args, "control", False):
        from pttui.engine.control import Control

        control = Control(JsonLinesSink(stdout)).start()  # says hello, then reads stdin
    # Supervised (pttui.engine.supervisor), the run is the supervisor's: it owns the record
    # (and ends it for an engine that crashed), and it hears what binds the run first.
    pipe = supervisor.events_pipe()
    recorder = _recorder(lab, values, args, os.getppid() if pipe is not None else None)
    if pipe is not None:
        record = str(recorder.path) if recorder is not None else None
        ceiling_mb = getattr(args, "ceiling_mb", None)  # a warm spare has no such flag
        pipe.write(supervisor.hello_line(record, values.get("max_mb"), ceiling_mb, lab.time_limit_s))
        pipe.flush()
    if control is not None:
        sinks.append(control.out)
    elif args.json:
        sinks.append(JsonLinesSink(stdout))  # supervised, stdout is the pipe
    else:
        from pttui.engine.human import HumanSink

        sinks.append(HumanSink(prog=f"pttui run {lab.name}"))
        if pipe is not None:
            sinks.append(JsonLinesSink(pipe))  # the supervisor follows the events all the same
    if recorder is not None:
        sinks.append(recorder)
    # A run that keeps no record keeps nothing under ./runs either (engine.runs.keep_dir).
    extras = {"runs_dir": args.runs_dir, "record": recorder is not None}
    runner = Runner(lab, values, sinks, extras=extras)
    # In JSON mode stdout belongs to the events: anything a library prints goes to stderr.
    redirect = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    # A signal only sets a flag (engine.stop_signal: a handler that stops the run itself can
    # deadlock on the stop Event's lock when Ctrl-C arrives twice); this loop acts on it.
    with redirect, StopSignals() as signals:
        if control is not None:
            control.attach(runner)
        runner.start(on)
        while not runner.join(_POLL_S):
            if signals.fired.is_set() and not runner.stop_event.is_set():
                runner.stop()
    interrupted = signals.fired.is_set()
    final = runner.last
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # the reader left early (`| head`): quiet, like other CLI tools
        _quiet_stdout()
    if runner.reader_gone:
        _quiet_stdout()  # Python's own flush at exit would complain about the closed pipe
        if not isinstance(final, ev.Error):
            return EXIT_READER_GONE
    if isinstance(final, ev.Error):
        if args.json:
            from pttui.engine.human import error_head

            print(f"{error_head(final, f'pttui run {lab.name}')}: {final.message}", file=sys.stderr)
        return EXIT_BAD_PARAMS if final.field else EXIT_FAILED
    if interrupted or (isinstance(final, ev.Done) and final.stopped):
        return EXIT_INTERRUPTED
    return EXIT_OK


def _quiet_stdout() -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _recorder(lab: Lab, values: dict[str, Any], args: argparse.Namespace, owner: int | None = None):
    """The run recorder (see pttui.engine.runs); None to keep no record, or where none can be kept."""
    if args.no_record or os.environ.get("RANK", "0") != "0":
        return None  # under torchrun, rank 0 keeps the one record of the run
    from pttui.engine.runs import RunRecorder

    return RunRecorder.create(lab.name, values, args.runs_dir, owner)
