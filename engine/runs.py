"""Every run kept on disk: a recorder sink that writes it, and the reading back of past runs.

A run is worth keeping after the window closes (as PyTorch's `SummaryWriter` keeps ./runs), and
a run killed with SIGKILL must still open, so the record is plain files, appended as the run
goes and never rewritten:

    <runs_dir>/<YYYYmmdd-HHMMSS>-<topic>-<short id>/
        params.json    {"topic", "params", "started" (ISO time), "pid"}
        events.jsonl   one event per line, exactly `pttui.engine.events.Event.to_json()`

Contract (the app's "open a past run" and `pttui runs` rely on it):
- The runs folder is `--runs-dir`, else the environment's PTTUI_RUNS_DIR, else ./runs.
- events.jsonl is flushed at least once a second (a background timer), at every event that is
  not a step (so at each epoch end, at done and at error) and at close: a killed run loses at
  most its last second of steps.
- `list_runs(runs_dir=None)` -> [RunInfo], newest first. A RunInfo's status is one of
  STATUSES (declared once below); a failed run's `reason` is its error message.
- `read_events(run_path)` -> [Event], skipping a torn last line (a write cut by SIGKILL) and
  any line it cannot read.
- `main(argv)` is `pttui runs [--json] [--runs-dir DIR]`.
- A runs folder that cannot be written is a warning on stderr naming it; the run goes on.

Torch-free, so `pttui runs` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pttui.engine import events as ev
from pttui.engine import numbers
from pttui.engine.hardened import FileRefused, open_regular
from pttui.engine.lifecycle import EXIT_BAD_PARAMS, EXIT_READER_GONE, STOP_READER_GONE
from pttui.engine.sinks import Sink

ENV_VAR = "PTTUI_RUNS_DIR"
PARAMS_FILE = "params.json"
EVENTS_FILE = "events.jsonl"
RECORDER_ERROR_FILE = "recorder_error.txt"  # why the recorder gave up, when it could still say
FLUSH_S = 1.0
# A run folder is read as hostile input (it may be edited, or be a FIFO by a name we read):
# regular files only, opened without blocking, within these sizes.
MAX_PARAMS_BYTES = 1 << 20
MAX_EVENTS_BYTES = 256 << 20  # the app reads a past run's events whole; a long run's are ~10 MB
MAX_TAIL_BYTES = 4 << 20  # listing reads backwards this far for the last event, no further

# A run's status, declared once: `pttui runs`, the app's run list, the recorder and the
# supervisor all use these names. A new status is added here, never beside.
RUNNING = "running"  # no final event yet, and the recording process is alive
DONE = "done"  # a done event
STOPPED = "stopped"  # a done event with stopped=true: a stop was asked for (s, Ctrl-C, SIGTERM)
STOPPED_READER_GONE = "stopped (reader gone)"  # stopped because its reader left (`| head`)
FAILED = "failed"  # an error event: the lab raised, a parameter or a sink failed (see reason)
CRASHED = "crashed"  # the engine process died of a native crash (signal, out of memory)
KILLED = "killed"  # no final event, and the recording process is gone (SIGKILL, power cut)
UNREADABLE = "unreadable"  # the run folder's record cannot be read
STATUSES = (RUNNING, DONE, STOPPED, STOPPED_READER_GONE, FAILED, CRASHED, KILLED, UNREADABLE)


def resolve_runs_dir(runs_dir: str | os.PathLike | None = None) -> Path:
    """The runs folder: the one given, else $PTTUI_RUNS_DIR, else ./runs."""
    if runs_dir:
        return Path(runs_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path("runs")


def keep_dir(extras: dict[str, Any], sub: str) -> Path:
    """Where a run keeps a file it makes beside its record (a profiler trace, TensorBoard logs):
    <runs dir>/<sub>. A run that keeps no record (`--no-record`, extras["record"] False) and was
    given no --runs-dir makes no ./runs: its files go under the temporary folder, and the lab
    says where."""
    runs_dir = extras.get("runs_dir")
    if extras.get("record", True) or runs_dir:
        return resolve_runs_dir(runs_dir) / sub
    return Path(tempfile.gettempdir()) / "pttui" / sub


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine). Errs towards "alive"."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


# A process that started this long after a run's record was made cannot be the run's owner
# (the owner made the record): its pid was reused. Slack for /proc's whole-second boot time.
PID_REUSE_SLACK_S = 2.0


def owner_alive(pid: int, started: str) -> bool:
    """Whether the process that recorded a run (`pid`, at ISO time `started`) still lives: a
    process of that id that started after the record was made is another one (pid reuse)."""
    if not pid_alive(pid):
        return False
    from pttui.engine import proctree

    began = proctree.start_time(pid)
    try:
        recorded = datetime.fromisoformat(started).timestamp()
    except ValueError:
        return True  # errs towards "alive", as pid_alive does
    return began is None or began <= recorded + PID_REUSE_SLACK_S


def _warn(message: str) -> None:
    # stderr, never stdout: in --json mode stdout carries only events.
    print(f"pttui: warning: {message}", file=sys.stderr, flush=True)


class RunRecorder(Sink):
    """Appends every event of one run to its folder; see the module docstring for the layout."""

    def __init__(self, path: Path, stream, flush_s: float = FLUSH_S):
        self.path = path
        self._stream = stream
        self._lock = threading.Lock()
        self._dirty = False
        self._broken = False
        self._closed = threading.Event()
        # A timer thread, not "flush when the next event comes": a long evaluation or a hung
        # step sends no events, and the promise is at most one second lost to a SIGKILL.
        self._flusher = threading.Thread(target=self._flush_loop, args=(flush_s,), daemon=True)
        self._flusher.start()

    @classmethod
    def create(
        cls,
        topic: str,
        values: dict[str, Any],
        runs_dir: str | os.PathLike | None = None,
        pid: int | None = None,
    ) -> RunRecorder | None:
        """A recorder in a new run folder, or None (after a warning) where none can be made.

        `pid` is the process that owns the run (the supervisor, where there is one; else this
        one): while it lives, a run without a final event is "running".
        """
        root = resolve_runs_dir(runs_dir)
        now = datetime.now().astimezone()
        try:
            root.mkdir(parents=True, exist_ok=True)
            for _ in range(5):  # a clash needs the same second, topic and 24 random bits
                path = root / f"{now:%Y%m%d-%H%M%S}-{topic}-{secrets.token_hex(3)}"
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    continue
            else:
                raise FileExistsError(f"no free run folder name in {root}")
            header = {
                "topic": topic,
                "params": values,
                "started": now.isoformat(timespec="milliseconds"),
                "pid": pid or os.getpid(),
            }
            (path / PARAMS_FILE).write_text(
                json.dumps(ev.plain(header), indent=2, allow_nan=False) + "\n", encoding="utf-8"
            )
            stream = open(path / EVENTS_FILE, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            _warn(f"cannot record this run in {root}: {exc.strerror or exc}; the run goes on unrecorded")
            return None
        return cls(path, stream)

    def on_event(self, event: ev.Event) -> None:
        line = event.to_json() + "\n"
        with self._lock:
            if self._broken:
                return
            try:
                self._stream.write(line)
                if event.kind == "step":
                    self._dirty = True
                else:  # epoch ends, tables, done, error: on disk at once
                    self._stream.flush()
                    self._dirty = False
            except (OSError, ValueError) as exc:  # a full disk must not end the run
                self._give_up(exc)

    def _flush_loop(self, every: float) -> None:
        while not self._closed.wait(every):
            with self._lock:
                if self._dirty and not self._broken:
                    try:
                        self._stream.flush()
                        self._dirty = False
                    except (OSError, ValueError) as exc:
                        self._give_up(exc)

    def _give_up(self, exc: Exception) -> None:
        self._broken = True
        _warn(f"stopped recording this run in {self.path}: {exc}; the run goes on")
        try:  # best effort: a full disk may refuse this too, and then the run lists as killed
            (self.path / RECORDER_ERROR_FILE).write_text(f"{exc}"[:500] + "\n", encoding="utf-8")
        except OSError:
            pass

    def close(self) -> None:
        self._closed.set()
        self._flusher.join(timeout=5)
        with self._lock:
            try:
                self._stream.close()
            except OSError as exc:
                if not self._broken:
                    self._give_up(exc)


@dataclass(frozen=True)
class RunInfo:
    """One recorded run, as `pttui runs` and the app's run list show it."""

    path: Path
    topic: str
    started: str  # ISO 8601 with the local offset
    params: dict[str, Any] = field(default_factory=dict)
    status: str = KILLED  # one of STATUSES
    result: dict[str, Any] = field(default_factory=dict)  # the done event's figures, or {}
    reason: str = ""  # why it failed (the error event's message), or why it stopped

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "topic": self.topic,
            "started": self.started,
            "params": self.params,
            "status": self.status,
            "result": self.result,
            "reason": self.reason,
        }


def read_events(run_path: str | os.PathLike) -> list[ev.Event]:
    """All events of a run, in order; a torn last line and unreadable lines are skipped.

    A missing, non-regular (a FIFO) or larger than MAX_EVENTS_BYTES events file gives the
    events that could be read (none): reading a run never blocks and never raises.
    """
    events: list[ev.Event] = []
    try:
        stream = open_regular(Path(run_path) / EVENTS_FILE, EVENTS_FILE, MAX_EVENTS_BYTES)
    except (FileRefused, OSError):
        return events
    with stream:
        for raw in stream:
            parsed = _parse(raw.decode("utf-8", "replace"))
            if parsed is not None:
                events.append(parsed)
    return events


def _parse(line: str) -> ev.Event | None:
    try:
        return ev.from_json(line)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):  # torn, unknown, odd
        return None


def _last_event(events_file: Path) -> ev.Event | None:
    """The last readable event, reading the file backwards so long runs list fast.

    Reads at most MAX_TAIL_BYTES from the end: a file of one endless line is not read whole.
    Raises FileRefused when the events file is not a regular file.
    """
    try:
        stream = open_regular(events_file, EVENTS_FILE)
    except FileRefused as exc:
        if exc.reason == "no such file":
            return None
        raise
    with stream:
        end = stream.seek(0, os.SEEK_END)
        window = 8192
        while True:
            start = max(0, end - window)
            stream.seek(start)
            lines = stream.read(end - start).split(b"\n")
            if start > 0:
                lines = lines[1:]  # the first piece may be the tail of a longer line
            for raw in reversed(lines):
                if raw.strip():
                    parsed = _parse(raw.decode("utf-8", "replace"))
                    if parsed is not None:
                        return parsed
            if start == 0 or window >= MAX_TAIL_BYTES:
                return None
            window *= 4


def _header(path: Path) -> tuple[str, str, dict[str, Any], int]:
    """topic, started, params and pid from params.json; ValueError says what is wrong."""
    with open_regular(path / PARAMS_FILE, PARAMS_FILE, MAX_PARAMS_BYTES) as stream:
        header = json.loads(stream.read(MAX_PARAMS_BYTES + 1).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError(f"{PARAMS_FILE} holds a {type(header).__name__}, not an object")
    for name in ("topic", "started"):
        if not isinstance(header.get(name), str):
            raise ValueError(f"{PARAMS_FILE}: {name} is missing or not text")
    params = header.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError(f"{PARAMS_FILE}: params is a {type(params).__name__}, not an object")
    pid = header.get("pid") or 0
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 <= pid < 1 << 31:
        raise ValueError(f"{PARAMS_FILE}: pid {pid!r} is not a process id")
    return header["topic"][:80], header["started"][:40], params, pid


def read_run(run_path: str | os.PathLike) -> RunInfo | None:
    """The RunInfo of one run folder; None if it holds neither params.json nor events.jsonl.

    Never raises and never blocks: a folder whose record cannot be read (permissions, a FIFO,
    malformed JSON, a pid of 1e30) is a RunInfo with status UNREADABLE and the reason.
    """
    path = Path(run_path)
    try:
        if not any(os.path.lexists(path / name) for name in (PARAMS_FILE, EVENTS_FILE)):
            return None
        return _read_run(path)
    except (FileRefused, OSError, ValueError, RecursionError) as exc:
        reason = exc.reason if isinstance(exc, FileRefused) else getattr(exc, "strerror", None) or str(exc)
        if isinstance(exc, FileRefused) and exc.field:
            reason = f"{exc.field} {reason}"
        return RunInfo(path, "?", "", {}, UNREADABLE, {}, str(reason)[:200])


def _read_run(path: Path) -> RunInfo:
    topic, started, params, pid = _header(path)
    last = _last_event(path / EVENTS_FILE)
    result: dict[str, Any] = {}
    reason = ""
    if isinstance(last, ev.Done):
        result, reason = dict(last.result), str(last.reason)
        if not last.stopped:
            status = DONE
        else:
            status = STOPPED_READER_GONE if last.reason == STOP_READER_GONE else STOPPED
    elif isinstance(last, ev.Error):
        status = CRASHED if last.cause == "crashed" else FAILED
        reason = str(last.message)
    elif os.path.lexists(path / RECORDER_ERROR_FILE):
        with (
            contextlib.suppress(FileRefused, OSError),
            open_regular(path / RECORDER_ERROR_FILE, "", 4096) as f,
        ):
            reason = f.read(4096).decode("utf-8", "replace").strip()
        status, reason = FAILED, f"recorder: {reason or 'it stopped writing'}"
    elif last is None and _has_bytes(path / EVENTS_FILE):
        status, reason = UNREADABLE, f"{EVENTS_FILE} holds no event that can be read"
    else:
        status = RUNNING if owner_alive(pid, started) else KILLED
    return RunInfo(path, topic, started, params, status, result, reason)


def _has_bytes(file: Path) -> bool:
    try:
        return file.lstat().st_size > 0
    except OSError:
        return False


def _sort_key(info: RunInfo) -> tuple[float, int]:
    try:
        when = datetime.fromisoformat(info.started).timestamp()
    except ValueError:
        when = 0.0
    try:  # runs started in the same second: the later folder first
        made = (info.path / PARAMS_FILE).stat().st_mtime_ns
    except OSError:
        made = 0
    return when, made


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[RunInfo]:
    """Every readable run under the runs folder, newest first."""
    root = resolve_runs_dir(runs_dir)
    try:
        children = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []
    # A run reached twice (a symlink to a run folder beside it) is listed once, by its own name.
    children.sort(key=lambda p: (p.is_symlink(), p.name))
    seen: set[str] = set()
    unique = []
    for child in children:
        real = os.path.realpath(child)
        if real not in seen:
            seen.add(real)
            unique.append(child)
    infos = [info for info in map(read_run, unique) if info is not None]  # never raises
    infos.sort(key=_sort_key, reverse=True)
    return infos


# --- pttui runs ------------------------------------------------------------------------------

_FIGURES = ("val_acc", "val_loss", "train_loss", "accuracy", "loss", "speedup", "wall_seconds", "seconds")


def key_params(info: RunInfo, limit: int = 48) -> str:
    """The parameters that differ from the topic's defaults, as `name=value`.

    A value of the wrong kind (a hand-edited params.json) is shown as it is, never raises.
    """
    try:
        from pttui.engine.labs import get_lab

        declared = {p.name: p for p in get_lab(info.topic).params}
    except Exception:  # a topic this version no longer has: show nothing rather than fail
        declared = {}
    parts = []
    for name, value in info.params.items():
        p = declared.get(name)
        if p is None:
            continue
        try:
            shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else p.to_text(value)
            default = p.to_text(p.default)
        except Exception:  # e.g. an int where a list of ints belongs
            shown, default = str(value)[:40], None
        if shown != default:
            parts.append(f"{name}={shown}")
    text = " ".join(parts) or "defaults"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def final_figures(info: RunInfo, count: int = 3) -> str:
    result = info.result
    names = [k for k in _FIGURES if k in result]
    names += [
        k
        for k, v in result.items()
        if k not in names and isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    return " ".join(f"{k} {numbers.field(k, result[k])}" for k in names[:count]) or "-"


def when(started: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A run's ISO start time in local time (to the second by default), as people read it."""
    try:
        return datetime.fromisoformat(started).astimezone().strftime(fmt)
    except ValueError:
        return started


def status_text(info: RunInfo, limit: int = 60) -> str:
    """The status as listed: `unreadable (reason)`, `failed (recorder: reason)`, `failed: message`."""
    if not info.reason or info.status not in (FAILED, UNREADABLE):
        return info.status
    if info.status == UNREADABLE or info.reason.startswith("recorder: "):
        text = f"{info.status} ({info.reason.splitlines()[0]})"
    else:
        text = f"{info.status}: {info.reason.splitlines()[0]}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


# `pttui runs` at narrower widths, most detail first: (when's format, key params' length, or 0
# to drop the column, final figures shown, status length). The first that lays out as a table
# is printed; the last stacks (FitTable) when even it does not fit.
_LISTINGS = (
    ("%Y-%m-%d %H:%M:%S", 48, 3, 60),
    ("%Y-%m-%d %H:%M:%S", 32, 2, 24),
    ("%m-%d %H:%M", 24, 1, 21),
    ("%m-%d %H:%M", 0, 1, 21),
)


def listing_table(infos: list[RunInfo], console: Any) -> Any:
    """`pttui runs`'s table for the console's width: a FitTable led by the run's name (never
    dropped: compare and export take it), less detail in the other columns as the width
    shrinks (see _LISTINGS), stacked blocks when even the least does not fit."""
    from rich.table import Table

    from pttui.engine.layout import FitTable

    names = short_names(infos)
    table = None
    for fmt, params_len, figures, status_len in _LISTINGS:
        columns = ["run", "when", "topic", *(["key params"] if params_len else []), "final figures", "status"]
        rows = [
            [
                names[i.path],
                when(i.started, fmt),
                i.topic,
                *([key_params(i, params_len)] if params_len else []),
                final_figures(i, figures),
                status_text(i, status_len),
            ]
            for i in infos
        ]
        table = FitTable(columns, rows, transpose=False)
        if isinstance(table.layout(console, console.options), Table):
            return table
    return table


def short_names(infos: list[RunInfo]) -> dict[Path, str]:
    """Each run's name as listed: the short id its folder name ends with (`1a8660` of
    `20261130-044924-training-1a8660`) when no other listed run's name ends the same way,
    else the whole folder name. `pttui runs compare` and `export` accept either (find_run)."""
    tails = [i.path.name.rsplit("-", 1)[-1] for i in infos]
    return {
        i.path: tail if tails.count(tail) == 1 and tail != i.path.name else i.path.name
        for i, tail in zip(infos, tails, strict=True)
    }


def runs_dir_problem(root: Path, given: str | None) -> str | None:
    """Why the runs folder `root` cannot be listed, naming where it came from (`--runs-dir`,
    $PTTUI_RUNS_DIR); None when it can. Only the default ./runs may be missing: no run yet."""
    source = "--runs-dir" if given else f"${ENV_VAR}" if os.environ.get(ENV_VAR) else None
    if root.exists() and not root.is_dir():
        return f"{source or 'the runs folder'}: {str(root)!r} is not a folder; give the folder runs are recorded in"
    if source and not root.exists():
        return f"{source}: {str(root)!r} does not exist; give the folder runs are recorded in"
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["compare"], ["export"]):  # pttui runs compare RUN RUN ... / export RUN --csv FILE
        from pttui.engine import runs_compare

        handler = runs_compare.compare_main if argv[0] == "compare" else runs_compare.export_main
        return handler(argv[1:])
    parser = argparse.ArgumentParser(
        prog="pttui runs",
        description="List the runs kept on disk, newest first. Also: pttui runs compare RUN RUN ... "
        "and pttui runs export RUN --csv FILE.",
        epilog=f"The runs folder is --runs-dir, else ${ENV_VAR}, else ./runs.",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument("--runs-dir", metavar="DIR", default=None, help="the runs folder")
    args = parser.parse_args(argv)
    root = resolve_runs_dir(args.runs_dir)
    problem = runs_dir_problem(root, args.runs_dir)
    if problem:
        print(f"pttui runs: {problem}", file=sys.stderr)
        return EXIT_BAD_PARAMS
    try:
        return _print_listing(root, args.json)
    except BrokenPipeError:  # the reader left (`pttui runs | head`): quiet, as a shell tool is
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_READER_GONE


def _print_listing(root: Path, as_json: bool) -> int:
    infos = list_runs(root)
    if as_json:
        print(json.dumps([i.to_dict() for i in infos], indent=2, default=str))
        return 0
    if not infos:
        yet = "" if root.is_dir() else f" ({root} does not exist yet: runs are recorded there)"
        print(f"no runs recorded in {root}{yet}")
        return 0
    from rich.console import Console

    console = Console(soft_wrap=False)
    console.print(listing_table(infos, console))
    print(f"\n{len(infos)} run{'s' if len(infos) != 1 else ''} in {root}")
    sys.stdout.flush()
    return 0
