"""`python -m pttui.engine run TOPIC ...`: the headless runner without the `pttui` wrapper.

This is what torchrun launches (`torchrun ... -m pttui.engine run parallel`) and what the app
starts as its child process.
"""

import sys

from pttui.engine.lifecycle import EXIT_INTERRUPTED


def _main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "run" and argv[1].startswith("-") and "--control" in argv:
        try:
            from pttui.engine.supervisor import serve  # a warm spare: the topic comes as a `run` command

            return serve(argv[1:])
        except KeyboardInterrupt:  # as below
            return EXIT_INTERRUPTED
    if len(argv) < 2 or argv[0] != "run":
        print(
            "usage: python -m pttui.engine run TOPIC [--param value ...] [--json] [--control]\n"
            "       python -m pttui.engine run --control [--threads N]   (a warm spare)",
            file=sys.stderr,
        )
        return 2
    try:
        from pttui.engine.supervisor import main  # forks before torch: see its docstring

        return main(argv[1], argv[2:])
    except KeyboardInterrupt:  # the app's stop can land while this process still imports, before
        return EXIT_INTERRUPTED  # the run has set its SIGINT handler: a stop, not a traceback


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
