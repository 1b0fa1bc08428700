"""Hostile files, made in the test: zip bombs, flipped bits, billion laughs, deep and self-referencing
pickles, FIFOs, oversized CSVs. Each is refused with the field named, or read within its bounds."""

from __future__ import annotations

import os
import pickle
import zipfile

import pytest
import torch
from conftest import run_lab
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pttui.engine import checkpoint, hardened
from pttui.engine import events as ev


def _save(tmp_path, obj, name="ok.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def _with_pickle(tmp_path, name, pkl):
    """A torch zip whose data.pkl is `pkl` (CRCs correct: only the pickle is hostile)."""
    src = zipfile.ZipFile(_save(tmp_path, {}, "empty.pt"))
    path = tmp_path / name
    stem = name[:-3]
    with zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = pkl if info.filename.endswith("data.pkl") else src.read(info)
            out.writestr(info.filename.replace("empty/", f"{stem}/"), data)
    return path


def _load_error(path):
    final, _ = run_lab("checkpoint", load=str(path))
    assert isinstance(final, ev.Error) and final.field == "load", final
    assert not final.detail, final.detail  # a message, no traceback
    return final.message


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    """The pickle declares a 16-byte storage; its entry declares 64 MiB of deflated zeros."""
    small = zipfile.ZipFile(_save(tmp_path, {"w": torch.zeros(4)}, "small.pt"))
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w") as out:
        for info in small.infolist():
            if info.filename.endswith("data/0"):
                entry = zipfile.ZipInfo(info.filename.replace("small/", "bomb/"))
                entry.compress_type = zipfile.ZIP_DEFLATED
                with out.open(entry, "w", force_zip64=True) as stream:
                    for _ in range(64):
                        stream.write(bytes(1 << 20))
            else:
                out.writestr(info.filename.replace("small/", "bomb/"), small.read(info))
    assert bomb.stat().st_size < (1 << 20)  # the file is small; what it declares is not
    message = _load_error(bomb)
    assert "64.0 MiB" in message and "16 bytes" in message, message
    # the declared total is checked against the bound before any entry is read
    with pytest.raises(hardened.FileRefused, match=r"more than the 1\.0 MiB allowed"):
        hardened.check_zip(bomb, 1 << 20, "data")


def test_a_flipped_bit_in_tensor_data_is_caught_by_the_crc(tmp_path):
    value = torch.randn(64, 16)
    path = _save(tmp_path, {"w": value})
    data = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo("ok/data/0")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 100] ^= 0x40
    path.write_bytes(bytes(data))
    message = _load_error(path)
    assert "ok/data/0" in message and "CRC-32" in message, message


def test_a_storage_without_its_entry_or_of_the_wrong_size_is_refused(tmp_path):
    src = zipfile.ZipFile(_save(tmp_path, {"w": torch.zeros(4)}, "src.pt"))
    for name, body in (("missing.pt", None), ("short.pt", bytes(8))):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as out:
            for info in src.infolist():
                target = info.filename.replace("src/", f"{name[:-3]}/")
                if info.filename.endswith("data/0"):
                    if body is not None:
                        out.writestr(target, body)
                else:
                    out.writestr(target, src.read(info))
        assert "data/0" in _load_error(path)


def test_billion_laughs_is_refused_in_bounded_time(tmp_path):
    """60 doublings: 2**60 paths through 61 objects; a walk by path would never end."""
    pkl = b"\x80\x02X\x03\x00\x00\x00lolq\x00"
    pkl += b"".join(b"h" + bytes([i]) + b"h" + bytes([i]) + b"\x86q" + bytes([i + 1]) for i in range(60))
    path = _with_pickle(tmp_path, "laughs.pt", pkl + b".")
    assert path.stat().st_size < 2000
    assert "more than 1,000,000 objects" in _load_error(path)
    once = list(hardened.walk(pickle.loads(pkl + b".")))
    # each of the 61 objects entered once: the innermost pair (a leaf) is met through its 2 references
    assert [v for _, v in once] == [("lol", "lol")] * 2, once[:3]


def test_deep_and_self_referencing_lists(tmp_path):
    depth = 100_000
    deep = _with_pickle(tmp_path, "deep.pt", b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b".")
    assert "more than 200 levels deep" in _load_error(deep)
    itself = _with_pickle(tmp_path, "self.pt", b"\x80\x02]q\x00h\x00a.")
    assert "holds itself" in _load_error(itself)
    shared = {"w": torch.zeros(2)}
    assert [k for k, _ in hardened.walk({"a": shared, "b": shared}, revisit=True)] == ["a.w", "b.w"]


def test_walk_node_budget_and_shared_references():
    shared = {"a": torch.zeros(2)}
    leaves = list(hardened.walk({"x": shared, "y": shared, "z": [1, 2, 3]}))
    assert [k for k, _ in leaves] == ["x.a", "z"]  # the shared dict once; a list of numbers is a leaf
    with pytest.raises(ValueError, match="more than 10 objects"):
        list(hardened.walk({str(i): i for i in range(20)}, max_nodes=10))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "events.pt"
    os.mkfifo(fifo)
    assert "FIFO" in _load_error(fifo)
    with pytest.raises(hardened.FileRefused, match="FIFO"):
        hardened.read_csv(fifo, "data")


def test_pickle_scan_finds_the_storages_torch_would_read(tmp_path):
    obj = {
        "a": torch.zeros(3, 4),
        "b": torch.ones(5, dtype=torch.int64),
        "c": torch.zeros(2, dtype=torch.bfloat16),
    }
    path = _save(tmp_path, obj)
    storages = hardened.check_torch_zip(path, 1 << 20, "load")
    assert sorted(s.nbytes for s in storages) == sorted(t.numel() * t.element_size() for t in obj.values())
    with pytest.raises(hardened.FileRefused, match="more than the 32 bytes allowed"):
        hardened.check_torch_zip(path, 32, "load")


def test_load_respects_max_bytes(tmp_path):
    path = _save(tmp_path, {"w": torch.zeros(1024)})
    with pytest.raises(checkpoint.CheckpointError) as caught:
        checkpoint.load(path, max_bytes=1000)
    assert caught.value.field == "load" and "allowed" in caught.value.reason


def test_csv_limits(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n1,2\n3,4\n")
    assert hardened.read_csv(path, "data") == [["x", "y"], ["1", "2"], ["3", "4"]]
    with pytest.raises(hardened.FileRefused, match="more than 2 rows"):
        hardened.read_csv(path, "data", max_rows=2)
    with pytest.raises(hardened.FileRefused, match="3 columns"):
        path.write_text("a,b,c\n")
        hardened.read_csv(path, "data", max_columns=2)
    with pytest.raises(hardened.FileRefused, match="allowed"):
        hardened.read_csv(path, "data", max_bytes=3)
    path.write_bytes(b"\xff\xfe,1\n")
    with pytest.raises(hardened.FileRefused, match="utf-8"):
        hardened.read_csv(path, "data")


def test_a_legacy_file_loads_and_one_declaring_more_than_it_holds_is_refused(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.arange(6.0)}, path, _use_new_zipfile_serialization=False)
    (storage,) = hardened.check_torch_legacy(path, 1 << 20, "load")
    assert storage.nbytes == 6 * 4
    assert torch.equal(checkpoint.load(path).obj["w"], torch.arange(6.0))
    data = path.read_bytes()
    at = data.index(b"cpuq\x06K\x06")  # the storage's numel, 6, as a one-byte int after its location
    crafted = data[:at] + b"cpuq\x06J\x00\x00\x00\x40" + data[at + len(b"cpuq\x06K\x06") :]  # 2**30 floats
    path.write_bytes(crafted)
    message = _load_error(path)
    assert "4.0 GiB of tensors" in message, message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_a_flipped_bit_anywhere_is_refused_or_changes_nothing(tmp_path_factory, where, bit):
    """Was: 18 of 20 random flips loaded with exit 0, one value turned from -0.00094 into -3.18e35."""
    folder = tmp_path_factory.mktemp("flip")
    value = torch.randn(32, 8)
    path = _save(folder, {"w": value, "step": 7})
    data = bytearray(path.read_bytes())
    data[int(where * len(data))] ^= 1 << bit
    path.write_bytes(bytes(data))
    try:
        loaded = checkpoint.load(path).obj
    except checkpoint.CheckpointError as exc:
        assert exc.field == "load"
        return
    assert torch.equal(loaded["w"], value) and loaded["step"] == 7  # a flip in bytes nothing reads
