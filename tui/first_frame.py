"""`python -m pttui.tui.first_frame [TOPIC]`: a fresh app process up to its first frame.

`pttui bench --ui` starts this to time what a person waits for after typing `pttui` or
`pttui TOPIC`. It imports what the `pttui` command imports on that path and nothing of the
bench, so the bench's own imports are not counted. PTTUI_BENCH_T0 (time.time() of the
parent just before it started this process) is the zero. It prints two lines: the CPU
seconds of this process, then the wall seconds, both at the first frame (the App's `on_ready`).
"""

from __future__ import annotations

import os
import sys
import time

SIZE = (120, 40)  # cells: the bench's terminal


def main(topic: str | None) -> None:
    t0 = float(os.environ["PTTUI_BENCH_T0"])
    from pttui.tui.cli import quiet_start

    quiet_start()
    from pttui.tui.app import PlaygroundApp

    class FirstFrame(PlaygroundApp):
        def on_ready(self) -> None:  # Textual calls each class's handler: this one exits
            self.exit((time.time() - t0, time.process_time()))

    wall, cpu = FirstFrame(topic, spares=False).run(headless=True, size=SIZE)
    print(cpu)
    print(wall)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
