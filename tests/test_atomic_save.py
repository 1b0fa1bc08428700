"""Atomic saves: a save that fails part-way (exception, full disk, SIGKILL) loses nothing.

Each test writes a good checkpoint first, makes the next save fail, and checks that the good
file is byte-identical and that no temporary file is left behind.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT

from pttui.engine import checkpoint
from pttui.engine.checkpoint import CheckpointError


@pytest.fixture
def previous(tmp_path) -> tuple[Path, bytes]:
    path = tmp_path / "model.pt"
    checkpoint.save({"w": torch.arange(10.0)}, path)
    return path, path.read_bytes()


def test_save_writes_a_file_that_loads(tmp_path):
    path = tmp_path / "deep" / "er" / "ck.pt"  # missing folders are made
    size = checkpoint.save({"w": torch.ones(3)}, path)
    assert size == path.stat().st_size > 0
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(3))
    assert checkpoint.temp_files(path) == []


def test_an_exception_mid_write_keeps_the_previous_file(previous):
    path, before = previous

    class Boom(Exception):
        pass

    def half_then_fail(stream):
        stream.write(b"x" * 100_000)  # some bytes really reach the temporary file
        raise Boom("the writer failed half-way")

    with pytest.raises(Boom):
        checkpoint.atomic_write(path, half_then_fail)
    assert path.read_bytes() == before
    assert checkpoint.temp_files(path) == []


def test_torch_save_failing_midway_is_a_clear_error(previous, monkeypatch):
    path, before = previous
    real_save = torch.save

    def full_disk(obj, stream, *args, **kwargs):
        real_save({"partial": torch.zeros(1000)}, stream)  # a real, partly written file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError) as caught:
        checkpoint.save({"w": torch.zeros(10)}, path)
    assert caught.value.field == "save"
    assert "No space left on device" in str(caught.value) and "unchanged" in str(caught.value)
    assert path.read_bytes() == before
    assert checkpoint.temp_files(path) == []


def test_the_bytes_are_fsynced_before_the_rename(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    order = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (order.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (order.append("replace"), real_replace(a, b))[1])
    checkpoint.save({"w": torch.ones(2)}, path)
    assert order[:2] == ["fsync", "replace"]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_real_failed_write_keeps_the_previous_file(previous):
    """A real short write, not a simulated one: the file-size limit makes the kernel refuse
    bytes past 1 MiB (EFBIG), as a full disk refuses them (ENOSPC)."""
    path, before = previous
    script = f"""
import resource, signal, torch
from pttui.engine import checkpoint
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
try:
    checkpoint.save({{"w": torch.zeros(2_000_000)}}, {str(path)!r})
except checkpoint.CheckpointError as exc:
    print("REFUSED", exc)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "REFUSED" in out.stdout, out.stderr
    assert "any previous file is unchanged" in out.stdout
    assert path.read_bytes() == before
    assert checkpoint.temp_files(path) == []


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_save_keeps_the_previous_file(previous):
    """A process saving a ~200 MB state_dict is killed while the temporary file grows."""
    path, before = previous
    script = f"""
import sys, torch
from pttui.engine import checkpoint
state = {{"w": torch.zeros(50_000_000)}}  # 200 MB
print("saving", flush=True)
checkpoint.save(state, {str(path)!r})
print("saved", flush=True)
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout.readline().strip() == "saving"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            temps = checkpoint.temp_files(path)
            if temps and _size(temps[0]) > 1_000_000:  # part-way through the write
                break
        else:
            pytest.fail("the save never showed a temporary file")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before  # the good checkpoint is untouched
    # SIGKILL cannot clean up after itself; its temporary file is stale (its pid is gone) and
    # the next load (or save) of that checkpoint removes it.
    assert checkpoint.temp_files(path), "expected the killed save's temporary file"
    loaded = checkpoint.load(path)
    assert torch.equal(loaded.obj["w"], torch.arange(10.0))
    assert checkpoint.temp_files(path) == []


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_only_temporary_files_of_dead_processes_are_swept(previous):
    path, _ = previous
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    stale = path.with_name(f".{path.name}.{dead_pid}.abcd{checkpoint.TEMP_SUFFIX}")
    live = path.with_name(f".{path.name}.{os.getpid()}.ef01{checkpoint.TEMP_SUFFIX}")
    other = path.with_name(f".other.pt.{dead_pid}.abcd{checkpoint.TEMP_SUFFIX}")
    for p in (stale, live, other):
        p.write_bytes(b"partial")
    assert set(checkpoint.temp_files(path)) == {stale, live}
    checkpoint.save({"w": torch.ones(1)}, path)
    assert not stale.exists()  # its writer is gone
    assert live.exists()  # a save in progress elsewhere is left alone
    assert other.exists()  # another target's files are not ours to touch


def test_saving_over_a_folder_or_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "folder.pt").mkdir()
    with pytest.raises(CheckpointError, match="folder"):
        checkpoint.save({"w": torch.ones(1)}, tmp_path / "folder.pt")
    afile = tmp_path / "plain"
    afile.write_text("x")
    with pytest.raises(CheckpointError) as caught:
        checkpoint.save({"w": torch.ones(1)}, afile / "ck.pt")
    assert caught.value.field == "save" and "ck.pt" in str(caught.value)
