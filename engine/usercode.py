"""The lines an exported script needs for a person's own model (`--model-spec`) and data (`--data`).

The script imports the person's file under the engine's module name (`usermodel.module_name`),
so a whole-model pickle made by either can be loaded by the other, and reads the data with the
engine's own conversions (copied from `pttui.engine.userdata`), so it trains on the same arrays
and prints the same losses. Torch-free: the app builds its code view from these on every edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pttui.engine.source import definition


def is_custom(values: dict[str, Any]) -> bool:
    """Whether the script needs the person's model or data (torch-free twin of recipe.is_custom)."""
    return bool(values.get("model_spec") or values.get("data"))


def absolute(path: str) -> str:
    """The path as the engine resolves it, so the script runs from any folder."""
    return str(Path(path).expanduser().absolute())


def definitions(values: dict[str, Any]) -> list[str]:
    """Copied definitions the custom parts call: the data conversions, prediction, loss, evaluation."""
    parts = []
    data = values.get("data", "")
    if data:
        if data.lower().endswith(".csv"):
            parts.append(definition("userdata", "csv_arrays"))
        parts += [definition("userdata", "resolve_task"), definition("userdata", "standard_arrays")]
    parts += [
        definition("usermodel", "prediction"),
        definition("train", "task_loss"),
        definition("train", "evaluate_task"),
    ]
    return parts


def data_lines(values: dict[str, Any]) -> list[str]:
    """Read `--data` as the engine does: x, y, the task and its number of outputs, then split."""
    path = absolute(values["data"])
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        read = [
            f"with open({path!r}, newline='', encoding='utf-8') as f:",
            "    rows = list(csv.reader(f))",
            f"x, y, features, target = csv_arrays(rows, {values.get('target', '')!r})",
        ]
    elif suffix == ".npz":
        read = [
            f"with np.load({path!r}, allow_pickle=False) as arrays:",
            '    x, y = arrays["x"], arrays["y"]',
        ]
    elif suffix == ".safetensors":
        read = [
            "from safetensors.torch import load_file",
            "",
            f"tensors = load_file({path!r})",
            'x, y = tensors["x"].numpy(), tensors["y"].numpy()',
        ]
    elif suffix == ".pt":
        read = [
            f"tensors = torch.load({path!r}, weights_only=True)",
            'x, y = tensors["x"].numpy(), tensors["y"].numpy()',
        ]
    else:
        read = [
            "from torchvision import datasets, transforms",
            "",
            f"images = datasets.ImageFolder({path!r}, transform=transforms.ToTensor())",
            "x = np.stack([images[i][0].numpy() for i in range(len(images))])",
            "y = np.array(images.targets, dtype=np.int64)",
        ]
    return [
        *read,
        f"task, n_classes = resolve_task(y, {values.get('task', 'auto')!r})  # n_classes: outputs for regression",
        "x, y = standard_arrays(x, y, task)",
        f"x_train, y_train, x_val, y_val = split(x, y, {values.get('val_fraction', 0.2)!r}, {values['seed']})",
        "x_train, y_train, x_val, y_val = (torch.from_numpy(a).to(device) for a in (x_train, y_train, x_val, y_val))",
    ]


def model_lines(values: dict[str, Any]) -> list[str]:
    """Import the person's file (it runs the code in it) and build NAME(**kwargs) on `device`."""
    from pttui.engine.usermodel import module_name

    path, _, name = values["model_spec"].strip().rpartition(":")
    path = absolute(path)
    kwargs = values.get("model_kwargs", "").strip()
    args = f"**json.loads({kwargs!r})" if kwargs else ""
    return [
        "# Your model file, imported under the name pttui uses, so whole-model pickles find its classes.",
        f"spec = importlib.util.spec_from_file_location({module_name(path)!r}, {path!r})",
        "user_model = importlib.util.module_from_spec(spec)",
        "sys.modules[spec.name] = user_model",
        "spec.loader.exec_module(user_model)  # runs the code in that file",
        f"model = user_model.{name}({args}).to(device)",
    ]


def imports(values: dict[str, Any]) -> str:
    """Standard-library imports the custom lines use."""
    names = []
    if values.get("data", "").lower().endswith(".csv"):
        names.append("csv")
    if values.get("model_spec"):
        names += ["importlib.util", "sys"]
        if values.get("model_kwargs", "").strip():
            names.append("json")
    return "".join(f"import {n}\n" for n in sorted(names))
