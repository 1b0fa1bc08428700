"""Writes the plain PyTorch training script equivalent to a training lab's values.

The script copies the engine's data, model and evaluation definitions verbatim (see
`pttui.engine.source`) and spells the loop out, so `python script.py` prints the engine's own
per-epoch losses. Torch-free: the app calls it for its code view on every edit.
"""

from __future__ import annotations

from typing import Any

from pttui.engine.source import definition

_DATA_FN = {
    "digits": "load_digits_arrays",
    "spiral": "make_spiral",
    "moons": "make_moons",
    "circles": "make_circles",
    "xor": "make_xor",
    "blobs": "make_blobs",
}
_MODEL_CLASS = {"mlp": "MLP", "simplenet": "SimpleNet", "cnn": "CNN"}
_AUTO_DEVICE = (
    '"cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")'
)


def model_call(values: dict[str, Any], in_features: str = "x_train.shape[1]") -> str:
    name = values["model"]
    if name == "simplenet":
        return f"SimpleNet({in_features}, n_classes)"
    if name == "cnn":
        return "CNN(n_classes, side=8)"
    return f"MLP({in_features}, {tuple(values['hidden'])!r}, n_classes, {values['activation']!r})"


def optimizer_call(values: dict[str, Any]) -> str:
    lr, wd = values["lr"], values["weight_decay"]
    if values["optimizer"] == "sgd":
        return f"torch.optim.SGD(model.parameters(), lr={lr!r}, momentum={values['momentum']!r}, weight_decay={wd!r})"
    cls = "AdamW" if values["optimizer"] == "adamw" else "Adam"
    return f"torch.optim.{cls}(model.parameters(), lr={lr!r}, weight_decay={wd!r})"


def data_lines(values: dict[str, Any]) -> list[str]:
    fn = _DATA_FN[values["dataset"]]
    call = (
        f"{fn}()"
        if fn == "load_digits_arrays"
        else f"{fn}({values['size']}, {values['noise']!r}, {values['seed']})"
    )
    return [
        f"x, y = {call}",
        f"x_train, y_train, x_val, y_val = split(x, y, 0.2, {values['seed']})",
        "n_classes = int(y.max()) + 1",
        "x_train, y_train, x_val, y_val = (torch.from_numpy(a).to(device) for a in (x_train, y_train, x_val, y_val))",
    ]


def definitions(values: dict[str, Any]) -> str:
    parts = [
        definition("data", _DATA_FN[values["dataset"]]),
        definition("data", "split"),
        definition("models", _MODEL_CLASS[values["model"]]),
        definition("train", "evaluate"),
    ]
    return "\n\n\n".join(parts)


def device_line(values: dict[str, Any]) -> str:
    spec = values["device"]
    return f"device = {_AUTO_DEVICE}" if spec == "auto" else f"device = {spec!r}"


def training_script(values: dict[str, Any], title: str = "training") -> str:
    """A complete, runnable script: data, model, optimizer, the loop, one line per epoch."""
    amp = values.get("amp", "off")
    seed, bs = values["seed"], values["batch_size"]
    step_lines = ["loss = F.cross_entropy(model(xb), yb)"]
    if amp != "off":
        dtype = "torch.bfloat16" if amp == "bf16" else "torch.float16"
        step_lines = [
            f"with torch.autocast(torch.device(device).type, dtype={dtype}):",
            "    loss = F.cross_entropy(model(xb), yb)",
        ]
    if amp == "fp16":
        update = [
            "optimizer.zero_grad(set_to_none=True)",
            "scaler.scale(loss).backward()",
            "scaler.step(optimizer)  # skipped when a gradient is inf or nan",
            "scaler.update()  # and then the scale is halved",
        ]
    else:
        update = ["optimizer.zero_grad(set_to_none=True)", "loss.backward()", "optimizer.step()"]
    body = "\n".join("        " + line for line in step_lines + update)
    threads = f"torch.set_num_threads({values['threads']})\n" if values.get("threads") else ""
    scaler = 'scaler = torch.amp.GradScaler("cuda")\n' if amp == "fp16" else ""
    return f'''"""{title}: the plain PyTorch that pttui runs for these values.

Made by `pttui run {title} --export-script`; run it with `python` and compare the losses.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


{definitions(values)}


{threads}{device_line(values)}
{chr(10).join(data_lines(values))}

torch.manual_seed({seed})  # the same initial weights on every run
model = {model_call(values)}.to(device)
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
    val_loss, val_acc = evaluate(model, x_val, y_val)
    train_loss = sum(losses) / len(losses)
    print(f"epoch {{epoch + 1}}: train_loss {{train_loss:.8f}} val_loss {{val_loss:.8f}} val_acc {{val_acc:.4f}}")
'''
