"""`--data FILE`: every format reads to the same arrays, and every bad file is a one-line ParamError.

Real files in a temporary folder; the right arrays are computed in the test with numpy or torch.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from userfiles import write_csv

from pttui.engine import userdata
from pttui.engine.params import ParamError


def _csv(tmp_path, text: str, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _bytes(tmp_path, data: bytes, name="d.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_csv_features_are_the_numeric_columns_but_the_target(tmp_path):
    path = write_csv(tmp_path, n=20)
    loaded = userdata.load(str(path))
    table = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=(1, 2, 3, 4, 5))
    assert loaded.features == ["a", "b", "c", "d"] and loaded.target == "label"
    np.testing.assert_array_equal(loaded.x, table[:, :4].astype(np.float32))
    np.testing.assert_array_equal(loaded.y, table[:, 4].astype(np.int64))
    assert loaded.task == "classification" and loaded.n_outputs == int(table[:, 4].max()) + 1


def test_task_auto_regression_for_floats_and_text_targets_become_classes(tmp_path):
    reg = userdata.load(_csv(tmp_path, "a,b,price\n1,2,3.5\n2,3,4.25\n3,4,1.0\n"), target="price")
    assert reg.task == "regression" and reg.y.shape == (3, 1) and reg.y.dtype == np.float32
    big = userdata.load(_csv(tmp_path, "a,y\n1,5000\n2,7000\n", "big.csv"))
    assert big.task == "regression"  # whole numbers, but not 0..999
    named = userdata.load(
        _csv(tmp_path, "a,species\n1,setosa\n2,virginica\n3,setosa\n", "n.csv"), target="species"
    )
    assert (
        named.task == "classification"
        and list(named.y) == [0, 1, 0]
        and named.classes_named == ["setosa", "virginica"]
    )
    with pytest.raises(ParamError, match="task"):
        userdata.load(_csv(tmp_path, "a,y\n1,0.5\n2,1.5\n", "f.csv"), task="classification")


def test_npz_pt_and_safetensors_give_the_same_arrays(tmp_path):
    x = np.random.RandomState(0).rand(10, 1, 4, 4).astype(np.float32)
    y = np.arange(10) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    torch.save({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}, tmp_path / "d.pt")
    from safetensors.torch import save_file

    save_file({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}, str(tmp_path / "d.safetensors"))
    for suffix in ("npz", "pt", "safetensors"):
        loaded = userdata.load(str(tmp_path / f"d.{suffix}"))
        np.testing.assert_array_equal(loaded.x, x)
        np.testing.assert_array_equal(loaded.y, y)
        assert loaded.task == "classification" and loaded.n_outputs == 3, suffix


def test_split_follows_val_fraction_and_seed(tmp_path):
    loaded = userdata.load(str(write_csv(tmp_path, n=50)))
    d = userdata.to_data(loaded, 0.3, 7)
    assert len(d.x_val) == 15 and len(d.x_train) == 35
    order = np.random.RandomState(8).permutation(50)  # data.split's rule: seed + 1
    np.testing.assert_array_equal(d.x_val, loaded.x[order[:15]])


@pytest.mark.parametrize(
    "make,field,words",
    [
        (lambda p: str(p / "missing.csv"), "data", "not there"),
        (lambda p: _csv(p, "name,label\nx,0\ny,1\n"), "data", "numeric feature columns"),
        (lambda p: _csv(p, "a,b\n1,2\n3,4\n"), "data", "no column named label, target or y"),
        (lambda p: _csv(p, "a,label\n1,0\n2\n"), "data", "line 3 has 1"),
        (lambda p: _csv(p, "a,label\n1,0\nnan,1\n2,0\n,1\n"), "data", "row(s) 2, 4"),
        (lambda p: _csv(p, "a,label\n1,0\n", "one.csv"), "data", "at least 2 samples"),
        (lambda p: _csv(p, "x", "d.txt"), "data", ".csv"),
        (lambda p: _bytes(p, b"\xff\xfe\x00garbage\n"), "data", "not utf-8"),
        (lambda p: _bytes(p, b"PK\x03\x04 not a zip", "d.npz"), "data", "d.npz"),
    ],
    ids=[
        "missing",
        "no-numeric",
        "no-target",
        "ragged",
        "nan",
        "too-few",
        "suffix",
        "unreadable-csv",
        "unreadable-npz",
    ],
)
def test_bad_files_name_the_field(tmp_path, make, field, words):
    with pytest.raises(ParamError) as caught:
        userdata.load(make(tmp_path))
    assert caught.value.field == field and words in str(caught.value), str(caught.value)


def test_no_such_target_lists_the_columns(tmp_path):
    with pytest.raises(ParamError) as caught:
        userdata.load(_csv(tmp_path, "a,label\n1,0\n2,1\n"), target="price")
    assert caught.value.field == "target" and "a, label" in str(caught.value)


def test_lengths_that_differ_and_missing_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 2), np.float32), y=np.zeros(4, np.int64))
    with pytest.raises(ParamError, match="x has 5 rows, y 4"):
        userdata.load(str(tmp_path / "d.npz"))
    np.savez(tmp_path / "e.npz", inputs=np.zeros((5, 2)))
    with pytest.raises(ParamError, match="arrays x and y; it has inputs"):
        userdata.load(str(tmp_path / "e.npz"))
    torch.save({"x": torch.zeros(3, 2)}, tmp_path / "f.pt")
    with pytest.raises(ParamError, match="tensors x and y"):
        userdata.load(str(tmp_path / "f.pt"))


def test_nan_in_npz_targets_says_which_rows(tmp_path):
    y = np.array([0.5, np.nan, 1.0, np.inf])
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2), np.float32), y=y)
    with pytest.raises(ParamError, match=r"y holds NaN or inf in data row\(s\) 2, 4"):
        userdata.load(str(tmp_path / "d.npz"))


def test_a_pickle_in_a_pt_file_is_refused_unread(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"x": torch.zeros(2, 2), "y": torch.zeros(2), "p": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ParamError) as caught:
        userdata.load(str(tmp_path / "evil.pt"))
    assert caught.value.field == "data" and "weights_only" in str(caught.value)


def test_a_corrupted_npz_is_refused(tmp_path):
    np.savez(
        tmp_path / "d.npz", x=np.arange(4000, dtype=np.float32).reshape(1000, 4), y=np.zeros(1000, np.int64)
    )
    raw = bytearray((tmp_path / "d.npz").read_bytes())
    raw[2000] ^= 0xFF  # a flipped bit inside x's data
    (tmp_path / "d.npz").write_bytes(bytes(raw))
    with pytest.raises(ParamError) as caught:
        userdata.load(str(tmp_path / "d.npz"))
    assert caught.value.field == "data"


def test_an_image_folder_without_torchvision_says_what_to_install(tmp_path):
    (tmp_path / "images" / "cat").mkdir(parents=True)
    code = (
        "import sys; sys.modules['torchvision'] = None\n"  # as if it were not installed
        "from pttui.engine import userdata\n"
        f"userdata.load({str(tmp_path / 'images')!r})\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "needs torchvision" in last and "pip install" in last and torch.__version__.split("+")[0] in last


def test_every_data_file_is_bounded_in_size_rows_and_archive_members(tmp_path, monkeypatch):
    # The limits are lowered so small files cross them; the checks are the loader's own.
    path = write_csv(tmp_path, n=30)
    monkeypatch.setattr(userdata, "MAX_ROWS", 10)
    with pytest.raises(ParamError) as caught:
        userdata.load(str(path))
    assert caught.value.field == "data" and "10" in str(caught.value), str(caught.value)
    monkeypatch.setattr(userdata, "MAX_ROWS", 1000)
    monkeypatch.setattr(userdata, "MAX_BYTES", 200)
    with pytest.raises(ParamError, match="at most 0 MiB") as caught:
        userdata.load(str(path))
    assert caught.value.field == "data"
    # An .npz small on disk whose members inflate past the limit (a zip bomb) is refused unread.
    np.savez_compressed(tmp_path / "bomb.npz", x=np.zeros((4000, 1), np.float32), y=np.zeros(4000, np.int64))
    monkeypatch.setattr(userdata, "MAX_BYTES", 1000)
    assert (tmp_path / "bomb.npz").stat().st_size < 1000
    with pytest.raises(ParamError) as caught:
        userdata.load(str(tmp_path / "bomb.npz"))
    assert caught.value.field == "data", str(caught.value)


@pytest.mark.parametrize("task", ["auto", "classification"])
def test_integer_labels_in_one_column_are_classes(tmp_path, task):
    """y saved as an (N, 1) column of class indices (a common way to store labels) is
    classification with --task auto, as its (N,) form is, and trains on (N,) int64 targets."""
    rng = np.random.RandomState(0)
    x = rng.rand(30, 4).astype(np.float32)
    labels = rng.randint(0, 3, size=30)
    path = tmp_path / "col.npz"
    np.savez(path, x=x, y=labels[:, None])
    loaded = userdata.load(str(path), task=task)
    assert loaded.task == "classification" and loaded.n_outputs == int(labels.max()) + 1
    assert loaded.y.shape == (30,) and loaded.y.dtype == np.int64
    np.testing.assert_array_equal(loaded.y, labels)
    # the conversions the exported script copies decide the same
    t, n = userdata.resolve_task(labels[:, None], task)
    _, y = userdata.standard_arrays(x, labels[:, None], t)
    assert (t, n) == ("classification", int(labels.max()) + 1) and y.shape == (30,)


def test_a_csv_saved_with_a_byte_order_mark_reads_its_first_column_by_name(tmp_path):
    """Excel's "CSV UTF-8" starts with a BOM: the first column is still `label`, found by name,
    in the run, in the early check and in the exported script's copy of the reader."""
    from pttui.engine import early

    text = "label,a,b\n0,1.5,2\n1,2.5,3\n0,3.5,4\n1,4.5,5\n"
    path = _bytes(tmp_path, b"\xef\xbb\xbf" + text.encode())
    loaded = userdata.load(path)
    assert loaded.target == "label" and loaded.features == ["a", "b"]
    np.testing.assert_array_equal(loaded.y, [0, 1, 0, 1])
    assert early._csv_header(path) == ["label", "a", "b"]
    from pttui.engine.labs import get_lab
    from pttui.engine.params import validate

    lab = get_lab("training")
    script = lab.code(validate(lab.params, {"data": path}))
    assert "encoding='utf-8-sig'" in script


def test_a_target_named_by_two_columns_is_refused(tmp_path):
    """Two columns called `label`: which one is predicted is a guess, and the other would be
    trained on as a feature; the message names the column."""
    path = _csv(tmp_path, "a,label,label\n1,0,1\n2,1,0\n3,0,1\n")
    with pytest.raises(ParamError, match="label") as caught:
        userdata.load(path)
    assert caught.value.field == "data" and "twice" in str(caught.value)
    with pytest.raises(ParamError, match="twice"):
        userdata.load(_csv(tmp_path, "a,a,label\n1,0,1\n2,1,0\n", "t.csv"), target="a")


def test_a_numeric_target_with_a_text_cell_is_refused_naming_the_rows(tmp_path):
    """One 'NA' in a price column made the whole column text: 3,000 prices became class indices
    in string order, then MSE regression on those indices (a loss in the millions). Now the rows
    that are not numbers are named."""
    rows = ["a,price"] + [f"{i * 0.1:.1f},{i * 1.5 + 0.25}" for i in range(40)]
    rows[6], rows[9] = "0.5,NA", "0.8,?"
    with pytest.raises(ParamError, match="price") as caught:
        userdata.load(_csv(tmp_path, "\n".join(rows) + "\n"), target="price")
    message = str(caught.value)
    assert caught.value.field == "data" and "'NA'" in message and "6, 9" in message, message


def test_text_targets_are_classes_and_never_regression(tmp_path):
    named = "a,kind\n1,cat\n2,dog\n3,cat\n4,dog\n"
    with pytest.raises(ParamError, match="regression") as caught:
        userdata.load(_csv(tmp_path, named), target="kind", task="regression")
    assert caught.value.field == "task"
    many = "a,kind\n" + "".join(f"{i},k{i}\n" for i in range(1001))
    with pytest.raises(ParamError, match="1,001") as caught:
        userdata.load(_csv(tmp_path, many, "many.csv"), target="kind")
    assert caught.value.field == "data"


def test_a_number_column_with_a_few_text_cells_is_refused_and_text_columns_are_named(tmp_path):
    """'NA' in 2 of 40 ages silently dropped the whole age column (an empty cell, the same
    missing value, is refused with its rows); now it is refused alike, naming the column and
    rows. Columns of text (ids, names) are left out, and the description says which."""
    rows = ["id,age,height,label"] + [f"p{i},{20 + i},{150 + i * 0.5},{i % 2}" for i in range(40)]
    rows[3], rows[8] = "p2,NA,151,0", "p7,?,153.5,1"
    with pytest.raises(ParamError, match="age") as caught:
        userdata.load(_csv(tmp_path, "\n".join(rows) + "\n"))
    assert caught.value.field == "data" and "3, 8" in str(caught.value), str(caught.value)
    rows[3], rows[8] = "p2,22,151,0", "p7,27,153.5,1"
    path = _csv(tmp_path, "\n".join(rows) + "\n", "ok.csv")
    loaded = userdata.load(path)
    assert loaded.features == ["age", "height"]
    assert "left out (text): id" in loaded.describe(path)


def test_one_feature_stored_flat_is_one_column(tmp_path):
    """x of shape (N,) is one feature per sample; it crashed the model labs with IndexError."""
    rng = np.random.RandomState(0)
    x, y = rng.rand(20).astype(np.float32), rng.randint(0, 2, 20)
    path = tmp_path / "flat.npz"
    np.savez(path, x=x, y=y)
    loaded = userdata.load(str(path))
    assert loaded.x.shape == (20, 1)
    np.testing.assert_array_equal(loaded.x[:, 0], x)
    assert userdata.standard_arrays(x, y, "classification")[0].shape == (20, 1)  # the script's copy


def test_a_single_class_is_refused(tmp_path):
    """Every label 0 made 'classification into 1 classes' with loss 0 and accuracy 1: true of
    nothing. It names the field and the one class."""
    path = tmp_path / "one.npz"
    np.savez(path, x=np.random.rand(10, 3).astype(np.float32), y=np.zeros(10, dtype=np.int64))
    with pytest.raises(ParamError, match="two classes") as caught:
        userdata.load(str(path))
    assert caught.value.field == "data"


def _script_task(path: str, task: str) -> tuple[str, int]:
    """(task, n_outputs) as the exported script decides it: its copied conversions and read lines."""
    from pttui.engine import usercode

    values = {"data": path, "task": task, "target": "", "val_fraction": 0.2, "seed": 0}
    lines = usercode.data_lines(values, to_device=False)
    lines = lines[: next(i for i, line in enumerate(lines) if line.startswith("x_train"))]
    scope: dict = {}
    exec(
        "import csv\nimport numpy as np\nimport torch\n" + "\n\n".join(usercode.data_definitions(values)),
        scope,
    )
    exec("\n".join(lines), scope)
    return scope["task"], scope["n_classes"]


WHOLE_FLOATS = np.array([0.0, 3.0, 7.0, 1.0] * 6)


@pytest.mark.parametrize("suffix", ["npz", "pt", "safetensors"])
def test_whole_valued_float_targets_are_regression_under_auto(tmp_path, suffix):
    """Float targets 0., 3., 7. are regression with --task auto (the dtype says floats), and
    classes only when asked for; the exported script's copy decides the same (issue 15)."""
    from safetensors.torch import save_file

    x = np.random.RandomState(0).rand(len(WHOLE_FLOATS), 4).astype(np.float32)
    y = WHOLE_FLOATS.astype(np.float32)
    path = tmp_path / f"d.{suffix}"
    if suffix == "npz":
        np.savez(path, x=x, y=y)
    elif suffix == "pt":
        torch.save({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}, path)
    else:
        save_file({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}, str(path))
    auto = userdata.load(str(path), task="auto")
    assert (auto.task, auto.n_outputs) == ("regression", 1)
    assert _script_task(str(path), "auto") == ("regression", 1)
    asked = userdata.load(str(path), task="classification")
    n = int(WHOLE_FLOATS.max()) + 1
    assert (asked.task, asked.n_outputs) == ("classification", n) and asked.y.dtype == np.int64
    assert _script_task(str(path), "classification") == ("classification", n)
    ints = tmp_path / f"i.{suffix}"
    if suffix == "npz":
        np.savez(ints, x=x, y=y.astype(np.int64))
        assert userdata.load(str(ints)).task == "classification"  # integers: classes, as before


@pytest.mark.parametrize(
    ("cells", "task"),
    [
        (["0", "3", "7", "1"], "classification"),
        (["0.0", "3.0", "7.0", "1.0"], "regression"),
        (["0", "3", "7", "1e0"], "regression"),
        (["0", "3.", "7", "1"], "regression"),
    ],
)
def test_a_csv_targets_text_says_integer_or_float(tmp_path, cells, task):
    """A CSV target written with a decimal point or exponent is float (regression under auto);
    plain integers are classes. The lab and the exported script agree (issue 15)."""
    rows = "\n".join(f"{i % 5},{i * 0.5},{cells[i % 4]}" for i in range(24))
    path = _csv(tmp_path, "a,b,label\n" + rows + "\n")
    outputs = 1 if task == "regression" else 8
    loaded = userdata.load(path, task="auto")
    assert (loaded.task, loaded.n_outputs) == (task, outputs)
    assert _script_task(path, "auto") == (task, outputs)
    asked = userdata.load(path, task="classification")  # whole values may still be asked to be classes
    assert (asked.task, asked.n_outputs) == ("classification", 8)
    assert userdata.load(path, task="regression").task == "regression"  # integers are not class names
