"""`python -m pttui.tui.first_frame [TOPIC [--live]]`: a fresh app process up to its first frame.

`pttui bench --ui` starts this to time what a person waits for after typing `pttui` or
`pttui TOPIC`. It imports what the `pttui` command imports on that path and nothing of the
bench, so the bench's own imports are not counted. PTTUI_BENCH_T0 (time.time() of the
parent just before it started this process) is the zero. It prints two lines: the CPU
seconds of this process, then the wall seconds, both at the first frame (the App's
`on_ready`), or with `--live` once the topic's every field and tab is mounted (the first
frame draws the form's rows, TopicScreen mounts their fields right after it).
"""

from __future__ import annotations

import os
import sys
import time

SIZE = (120, 40)  # cells: the bench's terminal


def main(topic: str | None, live: bool = False) -> None:
    t0 = float(os.environ["PTTUI_BENCH_T0"])
    from pttui.tui.cli import quiet_start

    quiet_start()
    from pttui.tui.app import PlaygroundApp

    def now() -> tuple[float, float]:
        return time.time() - t0, time.process_time()

    class FirstFrame(PlaygroundApp):
        def on_ready(self) -> None:  # Textual calls each class's handler: this one exits
            if live:
                self.run_worker(self._when_live())
            else:
                self.exit(now())

        async def _when_live(self) -> None:
            await self.screen.wait_built()  # type: ignore[attr-defined]
            self.exit(now())

    wall, cpu = FirstFrame(topic, spares=False).run(headless=True, size=SIZE)
    print(cpu)
    print(wall)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None, "--live" in sys.argv[2:])
