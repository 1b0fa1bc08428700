"""Writes the plain PyTorch training script equivalent to a training lab's values.

The script copies the engine's data, model and evaluation definitions verbatim (see
`pttui.engine.source`) and spells the loop out, so `python script.py` prints the engine's own
per-epoch losses. Torch-free: the app calls it for its code view on every edit.
"""

from __future__ import annotations

import ast
from typing import Any

from pttui.engine import usercode
from pttui.engine.source import definition

DATA_FN = {
    "digits": "load_digits_arrays",
    "spiral": "make_spiral",
    "moons": "make_moons",
    "circles": "make_circles",
    "xor": "make_xor",
    "blobs": "make_blobs",
}
MODEL_CLASS = {"mlp": "MLP", "simplenet": "SimpleNet", "cnn": "CNN"}
_AUTO_DEVICE = (
    '"cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")'
)


def model_call(values: dict[str, Any], in_features: str = "x_train.shape[1]") -> str:
    name = values["model"]
    dropout = values.get("dropout", 0.0)
    if values.get("data"):  # a person's data: any sample shape, the classes it holds
        in_features = "int(np.prod(x_train.shape[1:]))"
        if name == "cnn":
            return "CNN(n_classes, side=x_train.shape[-1]" + (f", dropout={dropout!r})" if dropout else ")")
    if name == "simplenet":
        return f"SimpleNet({in_features}, n_classes)"
    if name == "cnn":
        return "CNN(n_classes, side=8" + (f", dropout={dropout!r})" if dropout else ")")
    extra = f", dropout={dropout!r}" if dropout else ""
    return f"MLP({in_features}, {tuple(values['hidden'])!r}, n_classes, {values['activation']!r}{extra})"


def feature_names(values: dict[str, Any]) -> tuple[str, ...] | None:
    """The --features as names when they are not the plain x1, x2 (then None)."""
    from pttui.engine.common import FEATURES, feature_list

    names = feature_list(values.get("features", FEATURES.default))
    return None if names == feature_list(FEATURES.default) else names


def regularization(values: dict[str, Any]) -> tuple[str, float] | None:
    kind = values.get("regularization", "none")
    return None if kind == "none" else (kind, values["reg_rate"])


def optimizer_call(values: dict[str, Any]) -> str:
    lr, wd = values["lr"], values["weight_decay"]
    if values["optimizer"] == "sgd":
        return f"torch.optim.SGD(model.parameters(), lr={lr!r}, momentum={values['momentum']!r}, weight_decay={wd!r})"
    cls = "AdamW" if values["optimizer"] == "adamw" else "Adam"
    return f"torch.optim.{cls}(model.parameters(), lr={lr!r}, weight_decay={wd!r})"


def data_lines(values: dict[str, Any]) -> list[str]:
    if values.get("data"):
        return usercode.data_lines(values)
    fn = DATA_FN[values["dataset"]]
    call = (
        f"{fn}()"
        if fn == "load_digits_arrays"
        else f"{fn}({values['size']}, {values['noise']!r}, {values['seed']})"
    )
    names = feature_names(values)
    crosses = [f"x = add_features(x, {names!r})  # TF Playground's feature crosses"] if names else []
    return [
        f"x, y = {call}",
        *crosses,
        f"x_train, y_train, x_val, y_val = split(x, y, {values.get('val_fraction', 0.2)!r}, {values['seed']})",
        "n_classes = int(y.max()) + 1",
        "x_train, y_train, x_val, y_val = (torch.from_numpy(a).to(device) for a in (x_train, y_train, x_val, y_val))",
    ]


def definitions(values: dict[str, Any]) -> str:
    parts = [
        *([] if values.get("data") else [definition("data", DATA_FN[values["dataset"]])]),
        *([definition("data", "add_features")] if feature_names(values) else []),
        definition("data", "split"),
        *([] if values.get("model_spec") else [definition("models", MODEL_CLASS[values["model"]])]),
        definition("train", "evaluate"),
        *([definition("train", "penalty")] if regularization(values) else []),
        *(usercode.definitions(values) if usercode.is_custom(values) else []),
    ]
    return "\n\n\n".join(parts)


def device_line(values: dict[str, Any]) -> str:
    spec = values["device"]
    return f"device = {_AUTO_DEVICE}" if spec == "auto" else f"device = {spec!r}"


def training_script(values: dict[str, Any], title: str = "training") -> str:
    """A complete, runnable script: data, model, optimizer, the loop, one line per epoch."""
    amp = values.get("amp", "off")
    seed, bs = values["seed"], values["batch_size"]
    custom = usercode.is_custom(values)
    key = values.get("output_key", "")
    loss_line = (
        f"loss = task_loss(model(xb), yb, task, {key!r})"
        if custom
        else "loss = F.cross_entropy(model(xb), yb)"
    )
    step_lines = [loss_line]
    if amp != "off":
        dtype = "torch.bfloat16" if amp == "bf16" else "torch.float16"
        step_lines = [f"with torch.autocast(torch.device(device).type, dtype={dtype}):", "    " + loss_line]
    objective = "loss"
    reg = regularization(values)
    if reg:  # the penalty joins the loss that is minimised; the printed loss stays the data loss
        step_lines.append(f"objective = loss + penalty(model, {reg[0]!r}, {reg[1]!r})  # not weight_decay")
        objective = "objective"
    if amp == "fp16":
        update = [
            "optimizer.zero_grad(set_to_none=True)",
            f"scaler.scale({objective}).backward()",
            "scaler.step(optimizer)  # skipped when a gradient is inf or nan",
            "scaler.update()  # and then the scale is halved",
        ]
    else:
        update = ["optimizer.zero_grad(set_to_none=True)", f"{objective}.backward()", "optimizer.step()"]
    body = "\n".join("        " + line for line in step_lines + update)
    threads = f"torch.set_num_threads({values['threads']})\n" if values.get("threads") else ""
    scaler = 'scaler = torch.amp.GradScaler("cuda")\n' if amp == "fp16" else ""
    make_model = (
        "\n".join(usercode.model_lines(values))
        if values.get("model_spec")
        else f"model = {model_call(values)}.to(device)"
    )
    data_text = chr(10).join(data_lines(values))
    if usercode.is_synthetic(values):  # random inputs from a probe of the person's model
        data_text, bs = usercode.synthetic_lines(values)
        make_model = usercode.model_lines(values)[-1]  # the file is imported once, above
    task_line = (
        ""
        if values.get("data") or not custom
        else 'task = "classification"  # the built-in sets hold classes\n'
    )
    evaluate_line = (
        f"evaluate_task(model, x_val, y_val, task, {key!r})" if custom else "evaluate(model, x_val, y_val)"
    )
    # Regression has no accuracy: the custom script prints it only when there is one.
    acc = "{'' if val_acc is None else f' val_acc {val_acc:.4f}'}" if custom else " val_acc {val_acc:.4f}"
    return f'''"""{title}: the plain PyTorch that pttui runs for these values.

Made by `pttui run {title} --export-script`; run it with `python` and compare the losses.
"""

{usercode.imports(values) if custom else ""}import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


{definitions(values)}


{threads}{device_line(values)}
{data_text}
{task_line}
torch.manual_seed({seed})  # the same initial weights on every run
{make_model}
optimizer = {optimizer_call(values)}
{scaler}generator = torch.Generator().manual_seed({seed})  # the same shuffles on every run
batch_size = {bs}

for epoch in range({values["epochs"]}):
    model.train()
    losses = []
    order = torch.randperm(len(x_train), generator=generator).to(device)
    for i in range(0, len(x_train), batch_size):
        idx = order[i : i + batch_size]
        xb, yb = x_train[idx], y_train[idx]
{body}
        losses.append(loss.item())
    val_loss, val_acc = {evaluate_line}
    train_loss = sum(losses) / len(losses)
    print(f"epoch {{epoch + 1}}: train_loss {{train_loss:.8f}} val_loss {{val_loss:.8f}}{acc}")
'''


_SAVE_HELPER = '''


def save_atomically(obj, path):
    """Write a temporary file, fsync it, then rename it over `path`: never half a checkpoint."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)'''


def add_save_helper(script: str, extra_imports: str = "import os\n") -> str:
    """The script with `save_atomically` after the copied definitions, and its imports."""
    evaluate = definition("train", "evaluate")
    assert evaluate in script and "import numpy as np\n" in script, "training_script changed its shape"
    script = script.replace("import numpy as np\n", extra_imports + "\nimport numpy as np\n", 1)
    return script.replace(evaluate, evaluate + _SAVE_HELPER, 1)


def with_checkpoints(script: str, values: dict[str, Any]) -> str:
    """A training script plus `--resume` (before the loop) and `--save` (at each epoch's end).

    The keys are the engine's, so the script resumes from a file that `pttui run training
    --save` wrote, restoring the same RNG states, and this run's lr wins as in the engine.
    """
    save, resume = values.get("save"), values.get("resume")
    epochs = values["epochs"]
    loop = f"for epoch in range({epochs}):\n"
    if resume:
        assert loop in script, "training_script changed its shape"
        fp16 = values.get("amp") == "fp16"
        lines = [
            f'checkpoint = torch.load({resume!r}, map_location="cpu", weights_only=True)',
            'model.load_state_dict(checkpoint["model"])',
            'optimizer.load_state_dict(checkpoint["optimizer"])',
            *(['scaler.load_state_dict(checkpoint["scaler"])'] if fp16 else []),
            "for group in optimizer.param_groups:  # this run's values win over the saved ones",
            f"    group.update(lr={values['lr']!r}, weight_decay={values['weight_decay']!r})",
            'torch.set_rng_state(checkpoint["rng"]["torch"])  # the same random numbers as before',
            'generator.set_state(checkpoint["rng"]["batches"])  # the same shuffles as before',
        ]
        head = "\n".join(lines) + "\n\n"
        script = script.replace(loop, head + f'for epoch in range(checkpoint["epoch"], {epochs}):\n', 1)
    if save:
        scaler = "scaler.state_dict()" if values.get("amp") == "fp16" else "None"
        script = add_save_helper(script).rstrip("\n") + "\n"
        # The script ends inside the epoch loop (its print), so these lines run every epoch.
        script += "\n".join(
            [
                "    checkpoint = {",
                '        "format": "pttui-training-checkpoint",',
                '        "version": 1,',
                '        "epoch": epoch + 1,',
                '        "step": (epoch + 1) * -(-len(x_train) // batch_size),',
                '        "model": model.state_dict(),',
                '        "optimizer": optimizer.state_dict(),',
                f'        "scaler": {scaler},',
                '        "rng": {"torch": torch.get_rng_state(), "batches": generator.get_state()},',
                "    }",
                f"    save_atomically(checkpoint, {save!r})",
                "",
            ]
        )
    return script


def one_line(text: str) -> str:
    """An expression as one line of Python (comments and line breaks dropped), or as typed."""
    try:
        return ast.unparse(ast.parse(text.strip(), mode="eval"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return text.strip().replace("\n", " ")


def speed_threads_line(values: dict[str, Any]) -> str:
    """The speed labs' thread choice as a script line (see pttui.engine.devices.speed_thread_count)."""
    if values.get("threads"):
        return f"torch.set_num_threads({values['threads']})\n"
    return (
        "# pttui's auto: 1 thread on machines with at most 4 CPUs, where more make timings swing\n"
        "if (__import__('os').cpu_count() or 1) <= 4:\n    torch.set_num_threads(1)\n"
    )
