"""A run's process tree on Linux, read from /proc: who descends from whom, their memory, and
how to end them all at once.

The supervisor sums the tree's memory every poll and ends the tree on a breach, a crash or a
stop past its grace; its watchdog ends the tree when the supervisor itself is killed. Both
need the same two things, so they live here. Torch-free, no dependencies: a small parent.

Everything here degrades to "nothing found" where there is no /proc (macOS), and every
function copes with processes that end while it looks.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Iterable

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
HAS_PROC = os.path.isdir("/proc/self/task")


def _read(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""
    finally:
        os.close(fd)


def start_time(pid: int) -> float | None:
    """When process `pid` started, in seconds since the epoch (from /proc: its start in clock
    ticks after boot, plus the boot time); None where /proc does not say."""
    stat = _read(f"/proc/{pid}/stat")
    boot = next((line for line in _read("/proc/stat").splitlines() if line.startswith(b"btime ")), b"")
    try:
        fields = stat[stat.rindex(b")") + 2 :].split()  # the name may hold spaces and parentheses
        ticks = int(fields[19])  # field 22 of stat(5); fields[0] is field 3
        return int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (ValueError, IndexError, OSError, AttributeError):
        return None


def children(pid: int) -> list[int]:
    """The direct children of `pid` (a process forks from any of its threads: read every task)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    kids: list[int] = []
    for tid in tasks:
        kids += [int(k) for k in _read(f"/proc/{pid}/task/{tid}/children").split()]
    return kids


def descendants(roots: Iterable[int]) -> list[int]:
    """`roots` and everything below them, parents before children."""
    seen: list[int] = []
    frontier = list(roots)
    while frontier:
        pid = frontier.pop(0)
        if pid in seen:
            continue
        seen.append(pid)
        frontier += children(pid)
    return seen


def anon_bytes(pid: int) -> int:
    """Anonymous resident memory of one process in bytes (what allocations grow); 0 if gone.

    /proc/PID/statm's resident minus shared pages: libraries and mapped files are left out,
    so forked workers do not count torch's code once each.
    """
    fields = _read(f"/proc/{pid}/statm").split()
    if len(fields) < 3:
        return 0
    return max(0, int(fields[1]) - int(fields[2])) * PAGE


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo: what can be allocated without swapping; None if unknown."""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith(b"MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def end_tree(roots: Iterable[int]) -> list[int]:
    """SIGKILL `roots` and all their descendants; returns the pids that were signalled.

    Each process is stopped (SIGSTOP) before its children are listed, so none can fork or
    be re-parented while the tree is walked; then every one of them is killed.
    """
    stopped: list[int] = []
    frontier = list(roots)
    while frontier:
        pid = frontier.pop(0)
        if pid in stopped or pid <= 1 or pid == os.getpid():
            continue
        try:
            os.kill(pid, signal.SIGSTOP)
        except (ProcessLookupError, PermissionError):
            continue
        stopped.append(pid)
        frontier += children(pid)
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return stopped


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def become_subreaper() -> bool:
    """Orphans of our descendants become our children (not init's), so we can still end them."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send `sig` to this process when the thread that started it ends."""
    return _prctl(PR_SET_PDEATHSIG, int(sig))
