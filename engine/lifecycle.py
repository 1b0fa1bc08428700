"""How a run ends, declared once: exit codes and the grace period between a stop and a kill.

The command line, the supervisor and the app all read these, so `pttui run`'s exit codes and
the app's patience with a stopping engine cannot drift apart. Torch-free.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the lab raised, or the engine child crashed
EXIT_BAD_PARAMS = 2  # a parameter (or flag, or file named by one) was refused before the run
EXIT_INTERRUPTED = 130  # stopped by the user (SIGINT, SIGTERM, the app's `s`): 128 + SIGINT
EXIT_READER_GONE = 141  # the reader of stdout went away (`| head`): 128 + SIGPIPE, as a shell says

# Why a run stopped without being asked to: its reader went away (a closed pipe). The `done`
# event carries it as `reason`; the record's status is then "stopped (reader gone)".
STOP_READER_GONE = "reader gone"

# A stop asks the engine to end at its next step; past this many seconds it is killed. Labs
# check the stop flag once per step, so a healthy engine ends well inside it. An engine that has
# already sent its final event is never killed: it is only flushing and reaping.
STOP_GRACE_S = 1.5
# The app kills a run's process group only this long after the grace has passed: the supervisor
# (pttui.engine.supervisor) kills an engine that outstays the grace and reports `stopped`, and
# that report must not be cut off. Only a supervisor that itself does not answer meets this.
REPORT_S = 2.0


def worker_ignores_interrupts(worker_id: int) -> None:
    """A DataLoader `worker_init_fn`: the worker ignores SIGINT.

    Ctrl-C (and the app's stop) reaches the run's whole process group. A worker killed by it
    makes the loader raise EOFError in the middle of a batch, and a stop reads as a failure;
    ignoring it lets the lab stop at its next batch and shut its workers down itself.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
