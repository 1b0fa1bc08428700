"""Reading files that pttui did not write: every byte is distrusted until it has been checked.

One module serves every file a run reads (checkpoints now; `.npz`, `.pt`, `.safetensors` and
`.csv` data files too), so the same checks hold everywhere:

- `open_regular(path, field)`: opens without ever blocking (a FIFO or a device named like a
  data file would hang a plain `open`) and refuses anything but a regular file.
- `read_bounded(path, field, max_bytes)`: the whole file, refused before reading when larger.
- `check_zip(path, max_bytes, field)`: a zip (torch checkpoints, `.npz`) whose entries are
  unique, whose declared uncompressed sizes together fit `max_bytes`, and whose every entry
  matches its CRC-32. Entries are inflated in 1 MiB chunks and never past their declared size,
  so a zip bomb (3 GiB of deflated zeros in 3 MB) costs a bounded read, not 3 GiB of memory.
- `check_torch_zip(path, max_bytes, field)`: `check_zip`'s size checks, then the storages that
  the pickle declares (read by simulating the pickle's stack, never by unpickling) must each
  have an entry of exactly their size, and together fit `max_bytes`; only then every CRC-32.
- `walk(obj)` / `walk_file(obj, field, path)`: the leaves of a loaded structure, iteratively,
  with a visited set, a node budget (1,000,000) and a depth limit (200; real checkpoints nest
  fewer than 10 deep): a "billion laughs" pickle (shared references nested 30 deep)
  or a 100,000-deep list is refused with a message instead of hanging or hitting RecursionError.
- `read_csv(path, field, ...)`: rows of a CSV file within byte, row, column and cell limits.

Every refusal is a `FileRefused`: a ParamError naming the field (`load`, `resume`, `data`, ...),
so the command line exits 2 with one line and no traceback.

Torch-free at import time (`check_torch_zip` imports torch only to size dtypes), so the app and
data-file readers can use it without loading torch.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import pickletools
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from pttui.engine.params import ParamError

CHUNK = 1 << 20  # CRC checks read this much at a time: memory stays flat whatever the entry's size
MAX_ZIP_ENTRIES = 100_000  # a checkpoint of a big model has a few thousand
MAX_PICKLE_BYTES = 256 << 20  # data.pkl of a 1,000-layer model is ~1 MB; tensors live beside it
MAX_PICKLE_OPS = 20_000_000
CSV_MAX_BYTES = 512 << 20
CSV_MAX_ROWS = 5_000_000
CSV_MAX_COLUMNS = 10_000
CSV_MAX_CELL_CHARS = 100_000


class FileRefused(ParamError):
    """A file that failed a check; names the field that named it, the file and the reason."""

    def __init__(self, field: str, path: str | os.PathLike, reason: str):
        super().__init__(field, str(path), reason)
        self.path = str(path)
        self.reason = reason
        self.args = (f"{field}: {path}: {reason}",)


def mib(n: int) -> str:
    """Bytes in words: `3.0 GiB`, `16 bytes`."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def free_memory_bytes() -> int:
    """Memory the system can still give (Linux MemAvailable; else physical pages), in bytes."""
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo", "rb") as stream:
        for line in stream.read(65536).splitlines():
            if line.startswith(b"MemAvailable:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return 8 << 30  # unknown platform: assume a small machine


FREE_MEMORY_SHARE = 0.5  # of free memory, for one run's file or model: the rest is for the rest


def default_max_bytes() -> int:
    """The bound for a file (or a model) that no `--max-mb` limits: FREE_MEMORY_SHARE of free memory."""
    return int(free_memory_bytes() * FREE_MEMORY_SHARE)


# --- opening --------------------------------------------------------------------------------------


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_regular(path: str | os.PathLike, field: str, max_bytes: int | None = None) -> BinaryIO:
    """Open a regular file for binary reading, never blocking; refuse anything else.

    O_NONBLOCK makes opening a FIFO return at once (a plain open waits for a writer forever);
    the type is then judged on the open descriptor, so a swap between check and use cannot
    slip a FIFO in. Raises FileRefused naming `field` (missing, a folder, a FIFO, a device,
    unreadable, or larger than `max_bytes`).
    """
    shown = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(os.path.expanduser(os.fspath(path)), flags)
    except FileNotFoundError:
        raise FileRefused(field, shown, "no such file") from None
    except IsADirectoryError:
        raise FileRefused(field, shown, "is a folder, not a file") from None
    except OSError as exc:
        raise FileRefused(field, shown, f"cannot be read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(field, shown, f"is {_kind(info.st_mode)}, not a regular file")
        if max_bytes is not None and info.st_size > max_bytes:
            raise FileRefused(field, shown, f"is {mib(info.st_size)}, more than the {mib(max_bytes)} allowed")
        with contextlib.suppress(AttributeError, OSError):  # regular files never block; plain reads
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | os.PathLike, field: str, max_bytes: int) -> bytes:
    """The whole of a regular file of at most `max_bytes` bytes (FileRefused otherwise)."""
    with open_regular(path, field, max_bytes) as stream:
        data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the check
        raise FileRefused(field, path, f"is more than the {mib(max_bytes)} allowed")
    return data


# --- zips -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZipReport:
    """What `check_zip` found: entries by name with their declared (uncompressed) sizes."""

    sizes: dict[str, int]
    total: int  # bytes, uncompressed, as declared
    file_bytes: int


def check_zip(
    path: str | os.PathLike,
    max_bytes: int,
    field: str,
    max_entries: int = MAX_ZIP_ENTRIES,
    verify: bool = True,
) -> ZipReport:
    """Check a zip before anything reads it for real: names, declared sizes, then every CRC-32.

    Refused (FileRefused naming `field`): not a zip, more than `max_entries` entries, a name
    twice, declared sizes over `max_bytes` together, an entry that inflates past (or short of)
    its declared size, or a CRC mismatch (a flipped bit). Reading is streamed in CHUNK pieces.
    """
    with open_regular(path, field) as stream:
        file_bytes = os.fstat(stream.fileno()).st_size
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise FileRefused(
                field, path, f"cannot be read: it looks truncated or corrupted (not a readable zip: {exc})"
            ) from None
        with archive:
            infos = archive.infolist()
            if len(infos) > max_entries:
                raise FileRefused(
                    field, path, f"has {len(infos):,} entries, more than the {max_entries:,} allowed"
                )
            sizes: dict[str, int] = {}
            for info in infos:
                if info.filename in sizes:
                    raise FileRefused(field, path, f"names the entry {info.filename!r} twice")
                if info.flag_bits & 0x1:
                    raise FileRefused(field, path, f"entry {info.filename!r} is encrypted")
                sizes[info.filename] = info.file_size
            total = sum(sizes.values())
            if total > max_bytes:
                big = max(sizes, key=sizes.get)
                raise FileRefused(
                    field,
                    path,
                    f"declares {mib(total)} uncompressed ({big!r}: {mib(sizes[big])}) in a "
                    f"{mib(file_bytes)} file, more than the {mib(max_bytes)} allowed",
                )
            if verify:
                for info in infos:
                    _verify_entry(archive, info, field, path)
    return ZipReport(sizes, total, file_bytes)


def verify_zip(path: str | os.PathLike, field: str) -> None:
    """Stream every entry of a zip that `check_zip` passed, checking each CRC-32 (FileRefused)."""
    with open_regular(path, field) as stream, zipfile.ZipFile(stream) as archive:
        for info in archive.infolist():
            _verify_entry(archive, info, field, path)


def _verify_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, field: str, path: Any) -> None:
    """Stream one entry; zipfile stops at the declared size and checks the CRC at its end."""
    seen = 0
    try:
        with archive.open(info) as entry:
            while chunk := entry.read(CHUNK):
                seen += len(chunk)
    except zipfile.BadZipFile as exc:
        what = (
            "is corrupted: its CRC-32 does not match its bytes"
            if "CRC" in str(exc)
            else f"looks truncated or corrupted ({exc})"
        )
        raise FileRefused(field, path, f"entry {info.filename!r} {what}") from None
    except (OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise FileRefused(
            field, path, f"entry {info.filename!r} cannot be read: it looks truncated or corrupted ({exc})"
        ) from None
    if seen != info.file_size:
        raise FileRefused(
            field, path, f"entry {info.filename!r} holds {seen:,} bytes but declares {info.file_size:,}"
        )


# --- torch zip checkpoints --------------------------------------------------------------------------


@dataclass(frozen=True)
class Storage:
    """A storage a torch pickle declares: its key, type name, element count and bytes."""

    key: str
    type_name: str
    numel: int
    nbytes: int


def pickle_persistent_ids(
    data: bytes, field: str, path: Any, max_ops: int = MAX_PICKLE_OPS
) -> tuple[list[Any], int]:
    """The persistent ids (torch's storage tuples) a pickle would pass to persistent_load, and
    the offset just past its STOP (where a following pickle starts).

    Found by simulating the pickle machine's stack with `pickletools.genops`: nothing is
    imported, called or built, and the work is one pass over the opcodes (at most `max_ops`).
    Only strings, numbers, globals and tuples get values; everything else is a placeholder.
    """
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[Any, Any] = {}
    found: list[Any] = []
    opaque = object()
    end = len(data)
    try:
        for n, (op, arg, pos) in enumerate(pickletools.genops(data)):
            if n >= max_ops:
                raise FileRefused(field, path, f"its pickle has more than {max_ops:,} operations")
            name = op.name
            if name == "MARK":
                marks.append(len(stack))
            elif name in ("TUPLE", "LIST", "DICT", "FROZENSET") or name in (
                "APPENDS",
                "SETITEMS",
                "ADDITEMS",
                "POP_MARK",
                "OBJ",
                "INST",
            ):
                at = marks.pop()
                items = stack[at:]
                del stack[at:]
                before = op.stack_before.index(pickletools.markobject)
                if before:
                    del stack[-before:]
                if name == "TUPLE":
                    stack.append(tuple(items))
                elif op.stack_after:
                    stack.append(opaque)
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                k = int(name[-1])
                items = tuple(stack[-k:])
                del stack[-k:]
                stack.append(items)
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[arg])
            elif name == "GLOBAL":
                stack.append(("global", str(arg).replace(" ", ".")))
            elif name == "STACK_GLOBAL":
                module, qual = stack[-2], stack[-1]
                del stack[-2:]
                stack.append(("global", f"{module}.{qual}"))
            elif name in ("BINPERSID",):
                found.append(stack.pop())
                stack.append(opaque)
            elif name == "PERSID":
                found.append(arg)
                stack.append(opaque)
            elif name == "DUP":
                stack.append(stack[-1])
            elif name == "STOP":
                end = pos + 1
                break
            else:
                pops = len(op.stack_before)
                if pops:
                    del stack[-pops:]
                for _ in op.stack_after:
                    stack.append(arg if isinstance(arg, (str, int, bytes)) else opaque)
    except FileRefused:
        raise
    except (ValueError, IndexError, KeyError, TypeError) as exc:  # malformed: torch would fail too
        raise FileRefused(field, path, f"its pickle is malformed ({type(exc).__name__}: {exc})") from None
    return found, end


def _itemsize(type_name: str) -> int | None:
    import torch

    short = type_name.rsplit(".", 1)[-1]
    if short == "UntypedStorage":
        return 1  # its numel is in bytes
    if not short.endswith("Storage"):
        return None
    try:
        dtype = torch.serialization._get_dtype_from_pickle_storage_type(short)
    except (KeyError, AttributeError, ValueError):
        return None
    return torch.empty((), dtype=dtype).element_size()


def torch_storages(data: bytes, field: str, path: Any) -> list[Storage]:
    """The storages a torch zip's data.pkl declares (key, type, numel, bytes), without unpickling."""
    return torch_storages_from(pickle_persistent_ids(data, field, path)[0], field, path)


def torch_storages_from(pids: list[Any], field: str, path: Any) -> list[Storage]:
    """Storages from torch's persistent ids `('storage', type, key, location, numel, ...)`."""
    storages = []
    for pid in pids:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise FileRefused(
                field, path, f"its pickle names a persistent object that is not a storage: {str(pid)[:80]}"
            )
        _, kind, key, _location, numel = pid[:5]
        type_name = kind[1] if isinstance(kind, tuple) and len(kind) == 2 else str(kind)
        size = _itemsize(type_name)
        if size is None or not isinstance(numel, int) or numel < 0 or not isinstance(key, str):
            raise FileRefused(field, path, f"its pickle declares a storage it cannot have: {str(pid)[:80]}")
        storages.append(Storage(key, type_name, numel, numel * size))
    return storages


def check_torch_zip(path: str | os.PathLike, max_bytes: int, field: str) -> list[Storage]:
    """`check_zip`, then the pickle's declared storages against the entries and `max_bytes`.

    Each storage `key` must have an entry `<archive>/data/<key>` of exactly its byte size
    (an entry larger than its storage is how a zip bomb hides), and the storages together must
    fit `max_bytes`. Returns the storages. Raises FileRefused naming `field`.
    """
    report = check_zip(path, max_bytes, field, verify=False)  # sizes first: a bomb costs no inflating
    pickles = [n for n in report.sizes if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise FileRefused(field, path, "is a zip but not a torch checkpoint (no single <name>/data.pkl)")
    prefix = pickles[0][: -len("data.pkl")]
    if report.sizes[pickles[0]] > MAX_PICKLE_BYTES:
        raise FileRefused(
            field, path, f"its pickle is {mib(report.sizes[pickles[0]])}, more than {mib(MAX_PICKLE_BYTES)}"
        )
    with open_regular(path, field) as stream, zipfile.ZipFile(stream) as archive:
        try:  # zipfile checks this entry's CRC-32 as it reads it
            data = archive.read(pickles[0])
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
            what = "its CRC-32 does not match its bytes" if "CRC" in str(exc) else str(exc)
            raise FileRefused(field, path, f"entry {pickles[0]!r} is corrupted: {what}") from None
    storages = torch_storages(data, field, path)
    declared = 0
    seen: set[str] = set()
    for s in storages:
        if s.key in seen:
            continue
        seen.add(s.key)
        declared += s.nbytes
        entry = f"{prefix}data/{s.key}"
        if entry not in report.sizes:
            raise FileRefused(
                field, path, f"its pickle declares storage {s.key!r} but the zip has no {entry!r}"
            )
        if report.sizes[entry] != s.nbytes:
            raise FileRefused(
                field,
                path,
                f"entry {entry!r} declares {mib(report.sizes[entry])} uncompressed but the pickle "
                f"declares a {mib(s.nbytes)} storage for it",
            )
    if declared > max_bytes:
        raise FileRefused(
            field, path, f"its tensors take {mib(declared)}, more than the {mib(max_bytes)} allowed"
        )
    verify_zip(path, field)  # every entry now matches what the pickle needs: check the bytes
    return storages


def check_torch_legacy(path: str | os.PathLike, max_bytes: int, field: str) -> list[Storage]:
    """A pre-zip torch file: four pickles (magic, protocol, system info, the object), the storage
    keys, then each storage's raw bytes. The storages the object declares must fit in what
    follows the pickles and in `max_bytes` (torch allocates them before reading). A file that is
    not four pickles is left to torch.load, which refuses it with its own message.
    """
    data = read_bounded(path, field, max_bytes)
    offset, pids = 0, []
    for _ in range(4):
        try:
            pids, end = pickle_persistent_ids(data[offset:], field, path)
        except FileRefused:
            return []
        offset += end
    storages = torch_storages_from(pids, field, path)
    declared = sum({s.key: s.nbytes for s in storages}.values())
    if declared > min(max_bytes, len(data) - offset):
        raise FileRefused(
            field,
            path,
            f"its pickle declares {mib(declared)} of tensors, but only {mib(len(data) - offset)} follow it"
            + (f" and {mib(max_bytes)} are allowed" if declared > max_bytes else ""),
        )
    return storages


# --- loaded structures ------------------------------------------------------------------------------


def walk(obj, max_nodes=1_000_000, max_depth=200, revisit=False):
    """Every leaf of a loaded structure as (dotted key, value), depth first, without recursion.

    Dicts are entered, and lists and tuples that hold a container or an array (anything with a
    `shape`); a list of plain numbers is one leaf. A container met again (a shared or self
    reference) is not re-entered, so the work is bounded by the number of distinct objects, not
    of paths: a "billion laughs" pickle costs what its few objects cost. With `revisit`, every
    path is followed instead: that proves a recursive walker elsewhere would end (at most
    `max_nodes` paths, `max_depth` levels; a cycle is infinitely deep). Raises ValueError
    (saying which) past `max_nodes` objects or `max_depth` levels: keys grow with depth.
    """

    def entered(value):
        if isinstance(value, dict):
            return True
        return isinstance(value, (list, tuple)) and any(
            isinstance(v, (dict, list, tuple)) or hasattr(v, "shape") for v in value
        )

    visited, keep = set(), []  # keep: ids stay unique while their objects are alive
    todo, nodes = [("", obj, 0)], 0
    while todo:
        key, value, depth = todo.pop()
        nodes += 1
        if nodes > max_nodes:
            raise ValueError(
                f"holds more than {max_nodes:,} objects (each shared one counted where it is met)"
            )
        if not entered(value):
            yield key or "(root)", value
            continue
        if id(value) in visited and not revisit:
            continue  # a shared reference: its leaves were reported the first time
        if depth >= max_depth:
            raise ValueError(f"nests containers more than {max_depth} levels deep (or holds itself)")
        visited.add(id(value))
        keep.append(value)
        items = list(value.items() if isinstance(value, dict) else enumerate(value))
        if nodes + len(todo) + len(items) > max_nodes:
            raise ValueError(
                f"holds more than {max_nodes:,} objects (each shared one counted where it is met)"
            )
        todo.extend((f"{key}.{k}" if key else str(k), v, depth + 1) for k, v in reversed(items))


def walk_file(obj: Any, field: str, path: Any) -> Iterator[tuple[str, Any]]:
    """`walk` for something read from a file: a bound it passes is a FileRefused naming `field`."""
    try:
        yield from walk(obj)
    except ValueError as exc:
        raise FileRefused(field, path, str(exc)) from None


# --- CSV --------------------------------------------------------------------------------------------


def read_csv(
    path: str | os.PathLike,
    field: str,
    *,
    max_bytes: int = CSV_MAX_BYTES,
    max_rows: int = CSV_MAX_ROWS,
    max_columns: int = CSV_MAX_COLUMNS,
    max_cell_chars: int = CSV_MAX_CELL_CHARS,
    encoding: str = "utf-8",
) -> list[list[str]]:
    """The rows of a CSV file (strings, header included) within size, row, column and cell limits.

    The file must be a regular file of at most `max_bytes`, valid `encoding`, with at most
    `max_rows` rows, `max_columns` cells a row and `max_cell_chars` characters a cell.
    Raises FileRefused naming `field`, the limit and the row where it was passed.
    """
    data = read_bounded(path, field, max_bytes)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FileRefused(field, path, f"is not {encoding} text (byte {exc.start})") from None
    del data
    text = text.removeprefix("\ufeff")  # a byte order mark (Excel's "CSV UTF-8") is no cell
    rows: list[list[str]] = []
    old_limit = csv.field_size_limit()
    try:
        csv.field_size_limit(max_cell_chars)
        for row in csv.reader(io.StringIO(text, newline="")):
            if len(rows) >= max_rows:
                raise FileRefused(field, path, f"has more than {max_rows:,} rows")
            if len(row) > max_columns:
                raise FileRefused(
                    field, path, f"row {len(rows) + 1} has {len(row):,} columns, more than {max_columns:,}"
                )
            rows.append(row)
    except csv.Error as exc:
        raise FileRefused(field, path, f"is not valid CSV at row {len(rows) + 1} ({exc})") from None
    finally:
        csv.field_size_limit(old_limit)
    return rows
