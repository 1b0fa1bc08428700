"""Writes the plain PyTorch scripts equivalent to the training labs' values.

A script copies the engine's own definitions by source (see `pttui.engine.source`): the data,
the model class, `Batches`, and the loop itself (`train.fit` with its `Hooks`, `TrainState`,
`evaluate` and `_flush`). It then calls `fit` as the lab does, with a `Report` that prints
one line per epoch where the engine emits events, so `python script.py` prints the engine's
own per-epoch losses. Torch-free: the app calls it for its code view on every edit.
"""

from __future__ import annotations

import ast
from typing import Any

from pttui.engine import usercode
from pttui.engine.catalogue import Code, class_name, constructor_call
from pttui.engine.source import definition, definitions

DATA_FN = {
    "digits": "load_digits_arrays",
    "spiral": "make_spiral",
    "moons": "make_moons",
    "circles": "make_circles",
    "xor": "make_xor",
    "blobs": "make_blobs",
}
_AUTO_DEVICE = (
    '"cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")'
)
# The loop, copied from the engine: what every training script runs.
LOOP = (
    ("data", "Batches"),
    ("train", "Hooks"),
    ("train", "TrainState"),
    ("train", "evaluate"),
    ("train", "fit"),
    ("train", "_flush"),
    ("codegen", "Report"),
)
# What the copied loop needs (its annotations stay strings: they are never evaluated).
STDLIB = ("contextlib", "functools", "time")
THIRD_PARTY = """import numpy as np
import torch
import torch.nn.functional as F
from torch import nn"""


def imports(*stdlib: str) -> str:
    """The script's imports: what the copied loop needs, plus `stdlib` modules."""
    modules = "\n".join(f"import {m}" for m in sorted(set(STDLIB + stdlib)))
    return (
        f"from __future__ import annotations\n\n{modules}\nfrom dataclasses import dataclass\n\n{THIRD_PARTY}"
    )


class Report:
    """Where `fit` reports in an exported script: one printed line per epoch.

    In pttui, `fit` reports to the run's context (events for the chart and the recorder);
    a script has only this. Nothing sets `stopped`: Ctrl-C stops a script.
    """

    stopped = False
    held_s = 0.0  # seconds the loop was held (paused or paced): a script never is

    def proceed(self, hold=None):
        return True  # pttui pauses, steps and paces the loop here; a script just runs

    def step(self, step, epoch, loss, series="train", rank=None):
        pass  # the per-step losses are the chart's; the script prints epochs

    def epoch(self, epoch, epochs, metrics, series="train", rank=None, **_):
        who = ("" if rank is None else f"rank {rank} ") + ("" if series == "train" else f"{series} ")
        line = (
            f"{who}epoch {epoch + 1}: train_loss {metrics['train_loss']:.8f} "
            f"val_loss {metrics['val_loss']:.8f}"
            + ("" if metrics.get("val_acc") is None else f" val_acc {metrics['val_acc']:.4f}")
        )
        # One write with its newline: ranks share stdout, and print's separate write of `end`
        # (unbuffered, python -u) let another rank's line land mid-line ("0.3833rank 1 ...").
        print(line + "\n", end="", flush=True)


def model_call(values: dict[str, Any], in_features: str = "x_train.shape[1]") -> str:
    """The constructor call of the catalogue (`pttui.engine.catalogue`) for a training lab's
    model, in terms of the script's data (`x_train`, `n_classes`)."""
    side: Any = 8
    if values.get("data"):  # a person's data: any sample shape, the classes it holds
        in_features, side = "int(np.prod(x_train.shape[1:]))", Code("x_train.shape[-1]")
    return constructor_call(
        values["model"],
        Code(in_features),
        Code("n_classes"),
        values["hidden"],
        values["activation"],
        side,
        values.get("dropout", 0.0),
    )


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


def data_call(values: dict[str, Any]) -> str:
    fn = DATA_FN[values["dataset"]]
    if fn == "load_digits_arrays":
        return f"{fn}()"
    return f"{fn}({values['size']}, {values['noise']!r}, {values['seed']})"


def data_lines(values: dict[str, Any]) -> list[str]:
    if values.get("data"):
        return usercode.data_lines(values)
    names = feature_names(values)
    crosses = [f"x = add_features(x, {names!r})  # TF Playground's feature crosses"] if names else []
    return [
        f"x, y = {data_call(values)}",
        *crosses,
        f"x_train, y_train, x_val, y_val = split(x, y, {values.get('val_fraction', 0.2)!r}, {values['seed']})",
        "n_classes = int(y.max()) + 1",
        "x_train, y_train, x_val, y_val = (torch.from_numpy(a).to(device) for a in (x_train, y_train, x_val, y_val))",
    ]


def data_definitions(values: dict[str, Any]) -> str:
    """The data set's maker and `split`, copied from pttui.engine.data."""
    maker = [] if values.get("data") else [("data", DATA_FN[values["dataset"]])]
    crosses = [("data", "add_features")] if feature_names(values) else []
    return definitions(*maker, *crosses, ("data", "split"))


def model_definitions(values: dict[str, Any]) -> str:
    """The data, the model's class and the loop, copied from the engine."""
    parts = [data_definitions(values)]
    if not values.get("model_spec"):
        parts.append(definition("models", class_name(values["model"])))
    parts.append(definitions(*LOOP, *([("train", "penalty")] if regularization(values) else [])))
    if usercode.is_custom(values):
        parts += usercode.definitions(values)
    return "\n\n\n".join(parts)


def device_line(values: dict[str, Any]) -> str:
    spec = values["device"]
    return f"device = {_AUTO_DEVICE}" if spec == "auto" else f"device = {spec!r}"


def threads_line(values: dict[str, Any]) -> str:
    return f"torch.set_num_threads({values['threads']})\n" if values.get("threads") else ""


def build_lines(
    values: dict[str, Any], batch_size: int | None = None, model_line: str | None = None
) -> list[str]:
    """Model, optimizer and batches, in the order `pttui.engine.recipe.prepare` makes them.

    `model_line` builds the model where the script imported a person's file already."""
    seed = values["seed"]
    if model_line is not None:
        model = [model_line]
    elif values.get("model_spec"):
        model = usercode.model_lines(values)
    else:
        model = [f"model = {model_call(values)}.to(device)"]
    return [
        f"torch.manual_seed({seed})  # the same initial weights on every run",
        *model,
        f"optimizer = {optimizer_call(values)}",
        f"generator = torch.Generator().manual_seed({seed})  # the same shuffles on every run",
        f"batches = Batches(x_train, y_train, {batch_size or values['batch_size']}, generator)",
    ]


def task_lines(values: dict[str, Any]) -> list[str]:
    """`task` for a person's model on a built-in set (their data and random data say their own)."""
    if usercode.is_custom(values) and not values.get("data") and not usercode.is_synthetic(values):
        return ['task = "classification"  # the built-in sets hold classes']
    return []


def task_arguments(values: dict[str, Any]) -> str:
    """`fit`'s loss and evaluation for a person's model or data (the engine's `recipe` picks the
    same), as extra keyword arguments; empty for the built-ins (cross-entropy on logits)."""
    if not usercode.is_custom(values):
        return ""
    key = values.get("output_key", "")
    return (
        f", loss_fn=functools.partial(task_loss, task=task, output_key={key!r}), "
        f"evaluator=functools.partial(evaluate_task, task=task, output_key={key!r})"
    )


def training_script(values: dict[str, Any], title: str = "training", more=(), tail: str = "") -> str:
    """A complete, runnable script: data, model, optimizer, and the engine's own `fit`, which
    prints one line per epoch (with `--save` / `--resume` when the values hold them).

    `more`: further (module, name) definitions to copy; `tail`: code run after training."""
    amp = values.get("amp", "off")
    dtype = {"off": "None", "bf16": "torch.bfloat16", "fp16": "torch.float16"}[amp]
    scaler = 'torch.amp.GradScaler("cuda")' if amp == "fp16" else "None"
    save, resume = values.get("save"), values.get("resume")
    more = list(more)
    if save:
        more += [
            ("checkpoint", "FORMAT"),
            ("checkpoint", "FORMAT_VERSION"),
            ("codegen", "save"),
            ("checkpoint", "_rng_states"),
            ("checkpoint", "training_checkpoint"),
            ("checkpoint", "SaveEveryEpoch"),
        ]
    extra = "\n\n\n" + definitions(*dict.fromkeys(more)) if more else ""
    stdlib = tuple(line.split()[1] for line in usercode.imports(values).splitlines())
    stdlib += ("os",) if ("codegen", "save") in more else ()
    data_block, batch_size, model_line = "\n".join(data_lines(values)), None, None
    if usercode.is_synthetic(values):  # random inputs from a probe of the person's model
        data_block, batch_size = usercode.synthetic_lines(values)
        model_line = usercode.model_lines(values)[-1]  # the file is imported once, above
    lines = [*build_lines(values, batch_size, model_line), f"scaler = {scaler}", "state = TrainState()"]
    lines += task_lines(values)
    task = task_arguments(values)
    if resume:
        lines += _resume_lines(values)
    hooks = "None"
    if save:
        lines.append(f"values = {_plain(values)!r}  # saved with the checkpoint: --resume checks them")
        lines.append(f"hooks = SaveEveryEpoch({save!r}, values, model, optimizer, scaler, state, generator)")
        hooks = "hooks"
    lines.append(
        f"fit(model, optimizer, batches, (x_val, y_val), Report(), {values['epochs']}, device, "
        f"{dtype}, scaler, hooks={hooks}, state=state"
        + (f", regularization={regularization(values)!r}" if regularization(values) else "")
        + f"{task})"
    )
    return f'''"""{title}: the plain PyTorch that pttui runs for these values.

Made by `pttui run {title} --export-script`; run it with `python` and compare the losses.
The functions below are pttui's own (`fit` is pttui.engine.train's loop), copied as they are.
"""

{imports(*stdlib)}


{model_definitions(values)}{extra}


{threads_line(values)}{device_line(values)}
{data_block}

{chr(10).join(lines)}
{tail}'''


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}


def _resume_lines(values: dict[str, Any]) -> list[str]:
    """What `pttui.engine.checkpoint.restore_training` does, without its checks."""
    return [
        f'checkpoint = torch.load({values["resume"]!r}, map_location="cpu", weights_only=True)',
        'model.load_state_dict(checkpoint["model"])',
        'optimizer.load_state_dict(checkpoint["optimizer"])',
        "for group in optimizer.param_groups:  # this run's values win over the saved ones",
        f"    group.update(lr={values['lr']!r}, weight_decay={values['weight_decay']!r})",
        '    if "momentum" in group:',
        f"        group['momentum'] = {values['momentum']!r}",
        'if scaler is not None and checkpoint.get("scaler"):',
        '    scaler.load_state_dict(checkpoint["scaler"])',
        'torch.set_rng_state(checkpoint["rng"]["torch"])  # the same random numbers as before',
        'generator.set_state(checkpoint["rng"]["batches"])  # the same shuffles as before',
        'if "cuda" in checkpoint["rng"] and torch.cuda.is_available():',
        '    torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])',
        'state = TrainState(epoch=checkpoint["epoch"], step=checkpoint["step"])',
    ]


def save(obj, path, field="save"):
    """torch.save to a temporary file, fsync, then rename over `path`: never half a file.

    The exported scripts' stand-in for `pttui.engine.checkpoint.save` (same signature, so the
    engine's `SaveEveryEpoch` runs unchanged in them); pttui's also sweeps stale temporary
    files and turns failures into parameter errors. Returns the file's size in bytes.
    """
    import os

    import torch

    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return os.path.getsize(path)


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
