"""A person's own data from `--data FILE`: CSV, .npz, .pt, .safetensors, or an ImageFolder.

Two layers. The checks (this module's `load`) distrust the file: bounded size, rows and
archive members (through `pttui.engine.hardened`, the reader checkpoints use: one call site each,
`_csv_rows` and `_check_zip`), and every problem a person can fix is a ParamError naming the
field (`data`, `target`, `task`) and what is allowed: a missing file, no numeric columns, no
such target, ragged rows, NaN (with the rows), x and y of different lengths.

The conversions (`csv_arrays`, `standard_arrays`, `resolve_task`) are plain numpy functions
with no pttui imports, because the exported script copies them: the script then builds the
very arrays the engine trained on, and its losses agree to the last digit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pttui.engine import early, hardened, numbers
from pttui.engine.params import ParamError

FIELD = early.DATA_FIELD
MAX_BYTES = early.MAX_DATA_BYTES
MAX_ROWS = 5_000_000
MAX_CLASSES = 1000
SUFFIXES = early.DATA_SUFFIXES
TARGET_NAMES = early.TARGET_NAMES
ALLOWED = early.DATA_ALLOWED


# --- conversions (copied into exported scripts: numpy only) ---------------------------------------


def csv_arrays(rows, target=""):
    """Header + rows of strings -> (x float32 [N, F], y, feature names, target name).

    Features are every numeric column but the target (an empty cell is NaN). The target is
    `target`, else the first column named label, target or y. A numeric target written as plain
    integers ("3", "-1") becomes int64, one with any decimal point or exponent ("3.0", "1e2")
    float64, as a typed array's dtype would say (resolve_task decides what it means); a text
    target becomes class indices in sorted order.
    """
    rows = [row for row in rows if any(cell.strip() for cell in row)]  # blank lines say nothing
    names = [name.strip() for name in rows[0]]
    body = rows[1:]
    if not target:
        target = next(n for n in names if n.lower() in ("label", "target", "y"))
    t = names.index(target)

    def number(cell):
        cell = cell.strip()
        return float(cell) if cell else float("nan")

    def numeric(i):
        try:
            for row in body:
                number(row[i])
        except ValueError:
            return False
        return True

    features = [i for i in range(len(names)) if i != t and numeric(i)]
    x = np.array([[number(row[i]) for i in features] for row in body], dtype=np.float32).reshape(
        len(body), -1
    )
    if numeric(t) and all(row[t].strip().lstrip("+-").isdigit() for row in body):
        y = np.array([int(row[t].strip()) for row in body], dtype=np.int64)
    elif numeric(t):
        y = np.array([number(row[t]) for row in body], dtype=np.float64)
    else:
        classes = sorted({row[t].strip() for row in body})
        index = {c: k for k, c in enumerate(classes)}
        y = np.array([index[row[t].strip()] for row in body], dtype=np.int64)
    return x, y, [names[i] for i in features], target


def resolve_task(y, task="auto"):
    """(task, n_outputs): `auto` means classification when the targets are integers 0..K-1 with
    K <= 1000, and regression for anything else, floats with whole values (0., 3., 7.) too: the
    dtype says what the targets are, not their values. An explicit `classification` also takes
    whole-valued floats (the caller checks them). For classification n_outputs is K (max + 1),
    for regression the number of target columns. Labels stored as one column, (N, 1), count as (N,).
    """
    y = np.asarray(y)
    y = y.reshape(len(y)) if y.ndim == 2 and y.shape[1] == 1 else y
    integer = y.dtype.kind in "iub"
    classes = integer and y.ndim == 1 and len(y) > 0 and y.min() >= 0 and y.max() < 1000
    if task == "auto":
        task = "classification" if classes else "regression"
    if task == "classification":
        return task, int(y.max()) + 1
    return task, 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))


def standard_arrays(x, y, task):
    """x as float32 (or int64 indices when it holds integers), y as int64 classes or float32
    targets of shape (N, outputs) for regression."""
    x = np.asarray(x)
    x = x.reshape(len(x), 1) if x.ndim == 1 else x  # one feature per sample, stored flat
    x = x.astype(np.int64) if x.dtype.kind in "iu" else x.astype(np.float32)
    y = np.asarray(y)
    if task == "classification":
        return x, y.reshape(len(y)).astype(np.int64)  # (N, 1) labels too
    y = y.astype(np.float32)
    return x, y.reshape(len(y), -1)


def synthetic_arrays(n, sample_shape, dtype, high, pred_shape, task, seed):
    """Random data for a model with no data file: n inputs of `sample_shape` (uniform [0, 1)
    floats, or int64 in [0, high)) and targets shaped from the model's prediction per sample
    (`pred_shape`): class indices below pred_shape[0], or standard-normal floats."""
    rng = np.random.RandomState(seed)
    if dtype == "int64":
        x = rng.randint(0, high, size=(n, *sample_shape)).astype(np.int64)
    else:
        x = rng.rand(n, *sample_shape).astype(np.float32)
    if task == "classification":
        y = rng.randint(0, pred_shape[0], size=n).astype(np.int64)
    else:
        y = rng.randn(n, *pred_shape).astype(np.float32)
    return x, y


# --- checks ----------------------------------------------------------------------------------------


@dataclass
class Loaded:
    """Arrays from a data file before the split, and what to say about them."""

    x: np.ndarray
    y: np.ndarray
    task: str
    n_outputs: int
    kind: str  # csv, npz, pt, safetensors, imagefolder
    features: list[str]
    target: str
    classes_named: list[str]
    skipped: list[str] = field(default_factory=list)  # CSV columns of text, left out

    def describe(self, path: str) -> str:
        what = (
            f"classification into {self.n_outputs} classes (cross-entropy)"
            if self.task == "classification"
            else f"regression of {self.n_outputs} value(s) (MSE; no accuracy)"
        )
        cols = ""
        if self.kind == "csv":
            shown = ", ".join(self.features[:12]) + (", ..." if len(self.features) > 12 else "")
            cols = f", features {shown}, target {self.target!r}"
            if self.skipped:
                cols += f", left out (text): {', '.join(self.skipped[:12])}" + (
                    ", ..." if len(self.skipped) > 12 else ""
                )
        return (
            f"{path}: {len(self.x):,} samples of shape {numbers.shape(self.x.shape[1:])}{cols}; task {what}"
        )


def load(path: str, target: str = "", task: str = "auto") -> Loaded:
    """Read and check `--data`; ParamError naming `data`, `target` or `task` when it will not do."""
    shown = path
    file = Path(path).expanduser()
    kind = early.data_file(path, target, MAX_BYTES)  # there, readable, small enough, a kind pttui reads
    skipped: list[str] = []
    if kind == "folder":
        x, y, classes = _image_folder(file, shown)
        kind, features, target_name = "imagefolder", [], ""
    else:
        suffix = file.suffix.lower()
        classes = []
        if suffix == ".csv":
            x, y, features, target_name, classes, skipped = _csv(file, shown, target)
        else:
            x, y = _tensors(file, shown, suffix)
            features, target_name = [], ""
        kind = suffix[1:]
    _check_arrays(x, y, shown)
    if classes and task == "regression":
        named = ", ".join(map(str, classes[:3])) + (", ..." if len(classes) > 3 else "")
        raise ParamError("task", task, f"auto or classification: the targets are class names ({named})")
    y = y.reshape(len(y)) if y.ndim == 2 and y.shape[1] == 1 else y  # one column of labels: (N,)
    resolved, n_outputs = resolve_task(y, task)
    if resolved == "classification" and task == "classification":
        bad = y.dtype.kind == "f" and not np.all(y == np.round(y))
        if bad or y.ndim != 1 or y.min() < 0 or y.max() >= MAX_CLASSES:
            raise ParamError(
                "task",
                task,
                f"auto or regression: classification needs whole-number targets 0..{MAX_CLASSES - 1}",
            )
    if resolved == "classification" and n_outputs < 2:
        raise ParamError(
            FIELD, shown, f"targets of at least two classes to tell apart; every target is {int(y.max())}"
        )
    x, y = standard_arrays(x, y, resolved)
    loaded = Loaded(x, y, resolved, n_outputs, kind, features, target_name, classes)
    loaded.skipped = skipped
    return loaded


def _csv_rows(file: Path, shown: str) -> list[list[str]]:
    """The CSV's rows as strings, within byte, row, column and cell limits (the one call site)."""
    return hardened.read_csv(file, FIELD, max_bytes=MAX_BYTES, max_rows=MAX_ROWS)


def _csv(file: Path, shown: str, target: str):
    rows = [r for r in _csv_rows(file, shown) if any(cell.strip() for cell in r)]  # blank lines
    if len(rows) < 2:
        raise ParamError(FIELD, shown, "a CSV with a header row and at least one data row")
    names = [n.strip() for n in rows[0]]
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(names):
            raise ParamError(
                FIELD, shown, f"rows as long as the header ({len(names)} cells); line {line} has {len(row)}"
            )
    # the column to predict (or a message naming --target), numbers or text classes
    _check_target_cells(rows, early.csv_target(names, target, shown), shown)
    x, y, features, target_name = csv_arrays(rows, target)
    skipped = [n for n in names if n not in features and n != target_name]
    _check_feature_cells(rows, skipped, shown)
    if not features:
        raise ParamError(
            FIELD, shown, f"a CSV with numeric feature columns besides {target_name!r}; it has none"
        )
    t = names.index(target_name)
    named = y.dtype == np.int64 and not all(_is_number(row[t].strip()) for row in rows[1:])  # text classes
    classes = sorted({row[t].strip() for row in rows[1:]}) if named else []
    return x, y, features, target_name, classes, skipped


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _text_rows(cells: list[str]) -> str:
    """'3, 8' (1-based data rows), at most 10 of them and a count of the rest."""
    rows = [i for i, cell in enumerate(cells, start=1) if cell and not _is_number(cell)]
    return ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10:,} more" if len(rows) > 10 else "")


def _check_feature_cells(rows: list[list[str]], skipped: list[str], shown: str) -> None:
    """A column left out as text whose cells are mostly numbers holds a few spellings of a missing
    value ('NA', '?'): an empty cell is refused with its rows, and so is this, never a column
    dropped in silence."""
    names = [n.strip() for n in rows[0]]
    for name in skipped:
        i = names.index(name)
        cells = [row[i].strip() for row in rows[1:]]
        filled = [c for c in cells if c]
        numbers = sum(_is_number(c) for c in filled)
        if filled and numbers * 2 > len(filled):
            first = next(c for c in filled if not _is_number(c))
            raise ParamError(
                FIELD,
                shown,
                f"numbers in the column {name!r}; data row(s) {_text_rows(cells)} hold text ({first!r}): "
                "fix or drop them",
            )


def _check_target_cells(rows: list[list[str]], target: str, shown: str) -> None:
    """A target column of numbers with a few text cells ('NA', '?') would be read as text classes
    in string order; say which data rows are not numbers instead. A text target (no cell is a
    number) is classes: at most MAX_CLASSES of them."""
    t = [n.strip() for n in rows[0]].index(target)
    cells = [row[t].strip() for row in rows[1:]]
    text = [i for i, cell in enumerate(cells, start=1) if cell and not _is_number(cell)]
    if text and len(text) < len(cells) and any(_is_number(c) for c in cells):
        raise ParamError(
            FIELD,
            shown,
            f"numbers in the target column {target!r}; data row(s) {_text_rows(cells)} hold text "
            f"({cells[text[0] - 1]!r}): fix or drop them",
        )
    if text and len(set(cells)) > MAX_CLASSES:
        raise ParamError(
            FIELD,
            shown,
            f"at most {MAX_CLASSES:,} classes in the text target column {target!r}; it has {len(set(cells)):,}",
        )


def _check_zip(file: Path, shown: str) -> None:
    """Zip members, declared sizes and every CRC before numpy reads the .npz (the one call site)."""
    hardened.check_zip(file, MAX_BYTES, FIELD)


def _tensors(file: Path, shown: str, suffix: str):
    if suffix == ".npz":
        _check_zip(file, shown)
        try:
            with np.load(file, allow_pickle=False) as arrays:
                found = list(arrays.files)
                if "x" not in found or "y" not in found:
                    raise ParamError(
                        FIELD, shown, f"an .npz with arrays x and y; it has {', '.join(found) or 'none'}"
                    )
                return arrays["x"], arrays["y"]
        except ParamError:
            raise
        except Exception as exc:  # object arrays (pickles) are refused, torn files too
            raise ParamError(
                FIELD, shown, f"a readable .npz of numeric arrays ({type(exc).__name__}: {exc})"
            ) from None
    from pttui.engine import checkpoint

    obj = checkpoint.load(file, field=FIELD).obj  # weights_only=True, or safetensors: no pickle
    import torch

    if not isinstance(obj, dict) or not all(isinstance(obj.get(k), torch.Tensor) for k in ("x", "y")):
        keys = ", ".join(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise ParamError(FIELD, shown, f"a {suffix} holding tensors x and y; it holds {keys or 'nothing'}")
    x, y = obj["x"], obj["y"]
    if x.dtype == torch.bfloat16:
        x = x.float()
    return x.numpy(), y.float().numpy() if y.dtype == torch.bfloat16 else y.numpy()


def _check_arrays(x: np.ndarray, y: np.ndarray, shown: str) -> None:
    if x.ndim == 0 or y.ndim == 0:
        raise ParamError(FIELD, shown, "x and y with one row per sample")
    if len(x) != len(y):
        raise ParamError(FIELD, shown, f"x and y of the same length; x has {len(x):,} rows, y {len(y):,}")
    if len(x) < 2:
        raise ParamError(FIELD, shown, "at least 2 samples (one to train on, one to validate)")
    if x.dtype.kind not in "fiub" or y.dtype.kind not in "fiub":
        raise ParamError(FIELD, shown, f"numeric x and y; they are {x.dtype} and {y.dtype}")
    for name, a in (("x", x), ("y", y)):
        if a.dtype.kind == "f":
            bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
            if bad.any():
                rows = np.flatnonzero(bad)[:10] + 1
                more = f" and {int(bad.sum()) - len(rows):,} more" if bad.sum() > len(rows) else ""
                raise ParamError(
                    FIELD,
                    shown,
                    f"finite numbers; {name} holds NaN or inf in data row(s) {', '.join(map(str, rows))}{more}",
                )


def _image_folder(folder: Path, shown: str):
    """An ImageFolder (one subfolder per class) as uint8-free float arrays; needs torchvision."""
    try:
        from torchvision import datasets, transforms
    except ImportError:
        raise early.no_torchvision(shown) from None
    try:
        dataset = datasets.ImageFolder(str(folder), transform=transforms.ToTensor())
    except (FileNotFoundError, OSError) as exc:
        raise ParamError(FIELD, shown, f"an ImageFolder: one subfolder of images per class ({exc})") from None
    if len(dataset) > 200_000:
        raise ParamError(FIELD, shown, "an ImageFolder of at most 200,000 images")
    xs, ys = [], []
    for i in range(len(dataset)):
        image, label = dataset[i]
        if xs and image.shape != xs[0].shape:
            raise ParamError(
                FIELD,
                shown,
                f"images of one size; {dataset.samples[i][0]} is {numbers.shape(image.shape)}, the first {numbers.shape(xs[0].shape)}",
            )
        xs.append(image.numpy())
        ys.append(label)
    return np.stack(xs), np.array(ys, dtype=np.int64), list(dataset.classes)


def n_inputs(x: np.ndarray) -> int:
    """Features per sample (all sizes after the first, multiplied)."""
    return int(math.prod(x.shape[1:]))


def to_data(loaded: Loaded, val_fraction: float, seed: int, path: str = "") -> Any:
    """The split, as `pttui.engine.data.Data` (the same `split` the built-in sets use)."""
    from pttui.engine import data

    xt, yt, xv, yv = data.split(loaded.x, loaded.y, val_fraction, seed)
    if len(xt) == 0 or len(xv) == 0:
        raise ParamError(
            "val_fraction", val_fraction, f"a share that leaves samples on both sides of {len(loaded.x)}"
        )
    image = tuple(loaded.x.shape[1:]) if loaded.x.ndim == 4 else None
    return data.Data(xt, yt, xv, yv, loaded.n_outputs, image, loaded.task, loaded.describe(path))
