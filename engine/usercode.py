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


def is_synthetic(values: dict[str, Any]) -> bool:
    """Random inputs (torch-free twin of recipe.is_synthetic)."""
    return bool(values.get("model_spec")) and not values.get("data") and "input_shape" in values


def synthetic_lines(values: dict[str, Any]) -> tuple[str, int]:
    """(script lines, batch size) that make the engine's random data: the model file imported,
    a probe model from the seed, its prediction's shape, then `synthetic_arrays`."""
    from pttui.engine.summary import parse_shapes

    shape = parse_shapes(values["input_shape"])[0]
    lines = model_lines(values)
    key = values.get("output_key", "")
    sample = tuple(shape[1:])
    body = [
        *lines[:-1],
        f"torch.manual_seed({values['seed']})",
        lines[-1] + "  # a probe: the random targets take its prediction's shape",
        f"dtype, high, _ = input_dtype(model, {values.get('input_dtype', 'auto')!r}, {values.get('input_high', 0)})",
        "with torch.random.fork_rng(devices=[]), torch.no_grad():",
        "    model.eval()",
        f"    pred = prediction(model(*make_inputs([(2, *{sample!r})], dtype, high, device)), {key!r})",
        f"task = synthetic_task(pred, {values.get('task', 'auto')!r})",
        f"x, y = synthetic_arrays({values.get('size', 2000)}, {sample!r}, dtype, high, tuple(pred.shape[1:]), "
        f"task, {values['seed']})",
        f"x_train, y_train, x_val, y_val = split(x, y, {values.get('val_fraction', 0.2)!r}, {values['seed']})",
        "x_train, y_train, x_val, y_val = (torch.from_numpy(a).to(device) for a in (x_train, y_train, x_val, y_val))",
        'if dtype not in ("float32", "int64"):  # numpy has no bfloat16: the inputs are cast here',
        "    x_train, x_val = x_train.to(getattr(torch, dtype)), x_val.to(getattr(torch, dtype))",
    ]
    return "\n".join(body), shape[0]


def definitions(values: dict[str, Any]) -> list[str]:
    """Copied definitions the custom parts call: the data conversions, prediction, loss, evaluation."""
    parts = []
    if is_synthetic(values):
        names = ("first_leaf", "first_embedding", "input_dtype", "make_inputs", "synthetic_task")
        parts += [definition("userdata", "synthetic_arrays"), *(definition("usermodel", n) for n in names)]
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


def data_definitions(values: dict[str, Any]) -> list[str]:
    """The copied conversions that read `--data` (csv_arrays for a CSV, resolve_task, standard_arrays)."""
    csv = [definition("userdata", "csv_arrays")] if values["data"].lower().endswith(".csv") else []
    return [*csv, definition("userdata", "resolve_task"), definition("userdata", "standard_arrays")]


def data_lines(values: dict[str, Any], to_device: bool = True) -> list[str]:
    """Read `--data` as the engine does: x, y, the task and its number of outputs, then split."""
    path = absolute(values["data"])
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        read = [
            f"with open({path!r}, newline='', encoding='utf-8-sig') as f:",
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
        *(
            ["x = x.astype(np.float32) if x.dtype.kind in 'iub' else x  # the built-in models take floats"]
            if to_device and not values.get("model_spec")
            else []
        ),
        f"x_train, y_train, x_val, y_val = split(x, y, {values.get('val_fraction', 0.2)!r}, {values['seed']})",
        *(
            [
                "x_train, y_train, x_val, y_val = (torch.from_numpy(a).to(device) for a in (x_train, y_train, x_val, y_val))"
            ]
            if to_device
            else []
        ),
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
