"""The `pttui` command. Imports nothing heavy at module level, so `--help` and `topics`
answer at once: torch loads only in `run` and `bench`, textual only for the app.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys

COMMANDS = {
    "run": "run a topic headless: pttui run TOPIC [--param value ...] [--json]",
    "topics": "list the topics: pttui topics [--json]",
    "bench": "measure the engine against a bare PyTorch loop: pttui bench [--json] [--ui]",
    "runs": "list the runs kept on disk: pttui runs [--json] [--runs-dir DIR]; "
    "pttui runs compare RUN RUN ...; pttui runs export RUN --csv FILE",
    "serve": "serve the app in a browser: pttui serve [--host 127.0.0.1] [--port 8000]",
}


def _labs():
    from pttui.engine.labs import all_labs

    return all_labs()


def top_parser() -> argparse.ArgumentParser:
    topics = "\n".join(f"  {name:<13} {lab.summary}" for name, lab in _labs().items())
    commands = "\n".join(f"  {name:<13} {text}" for name, text in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="pttui",
        usage="pttui [TOPIC] | pttui COMMAND ...",
        description="pttui, the PyTorch playground in the terminal. With no arguments it opens "
        "the app; with a TOPIC, the app on that topic.",
        epilog=f"commands:\n{commands}\n\ntopics:\n{topics}\n\n"
        "Examples:\n  pttui training\n  pttui run training --epochs 5 --lr 0.01\n"
        "  pttui run training --json | head\n  pttui run TOPIC --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def cmd_topics(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pttui topics", description="List the topics.")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    args = parser.parse_args(argv)
    labs = [lab.describe() for lab in _labs().values()]
    if args.json:
        print(json.dumps(labs, indent=2))
    else:
        width = max(len(lab["name"]) for lab in labs)
        for lab in labs:
            # A dash, not a colon: summaries have colons of their own ("...DataLoader: batches").
            print(f"{lab['name']:<{width}}  {lab['title']} — {lab['summary']}")
    return 0


def cmd_run(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        asked = argv[:1] in (["--help"], ["-h"])
        names = ", ".join(_labs())
        print(
            f"usage: pttui run TOPIC [--param value ...] [--json]\ntopics: {names}\n"
            "Each topic's parameters: pttui run TOPIC --help",
            file=sys.stdout if asked else sys.stderr,
        )
        return 0 if asked else 2
    try:
        from pttui.engine.supervisor import main  # forks before torch: see its docstring

        return main(argv[0], argv[1:])
    except KeyboardInterrupt:  # Ctrl-C while the run still imports, before it set its SIGINT
        from pttui.engine.lifecycle import EXIT_INTERRUPTED  # handler: a stop, not a traceback

        return EXIT_INTERRUPTED


def cmd_bench(argv: list[str]) -> int:
    if "--ui" in argv:  # the app's own figures: training under a live UI, UI lag, first frame
        from pttui.tui.bench_ui import main as ui_main

        return ui_main([a for a in argv if a != "--ui"])
    from pttui.engine.bench import main

    return main(argv)


def cmd_runs(argv: list[str]) -> int:
    from pttui.engine.runs import main

    return main(argv)


def cmd_serve(argv: list[str]) -> int:
    from pttui.tui.serve import main

    return main(argv)


def cmd_app(topic: str | None, argv: list[str] | None = None) -> int:
    """The app, on `topic` with the values its flags give (`pttui training --epochs 5`)."""
    values = None
    if topic is not None and argv:
        values = app_values(topic, argv)
        if isinstance(values, int):
            return values
    quiet_start()
    from pttui.tui.app import main

    return main(topic, values)


def quiet_start() -> None:
    """Call before importing the app: no cyclic garbage collection until its first frame.

    Importing Textual and composing the first screen allocate ~10^5 objects that all live on,
    so the collector's passes over them find nothing; they cost 15-25 ms of the first frame
    here. PlaygroundApp.on_ready collects once, freezes what lives, and turns it back on."""
    gc.disable()


def app_values(topic: str, argv: list[str]) -> dict | int:
    """The form's values from `pttui TOPIC --flag value ...`, or an exit code after saying why."""
    from pttui.engine.headless import parse
    from pttui.engine.labs import get_lab
    from pttui.engine.params import ParamError, validate

    lab = get_lab(topic)
    raw, args = parse(lab, argv, prog="pttui")
    if args.json or args.export_script or args.no_record or args.runs_dir:
        shown = " ".join(argv)
        print(
            f"pttui {topic}: those flags are for a run without the app; type: pttui run {topic} {shown}",
            file=sys.stderr,
        )
        return 2
    try:
        return validate(lab.params, raw)
    except ParamError as exc:
        print(f"pttui {topic}: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        return cmd_app(None)
    head, rest = argv[0], argv[1:]
    handlers = {
        "run": cmd_run,
        "topics": cmd_topics,
        "bench": cmd_bench,
        "runs": cmd_runs,
        "serve": cmd_serve,
    }
    if head in handlers:
        return handlers[head](rest)
    if head in ("-h", "--help"):
        top_parser().print_help()
        return 0
    if head in ("-V", "--version"):
        from pttui.engine import __version__

        print(f"pttui {__version__}")
        return 0
    if head in _labs():
        return cmd_app(head, rest)
    print(f"pttui: unknown command or topic {head!r}\n", file=sys.stderr)
    top_parser().print_usage(sys.stderr)
    print("topics: " + ", ".join(_labs()) + "\ncommands: " + ", ".join(COMMANDS), file=sys.stderr)
    return 2


def entry() -> None:
    sys.exit(main())
