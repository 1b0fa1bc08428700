"""The save/load topic: state_dict vs whole model vs safetensors, and inspecting a checkpoint.

Without `--load` it trains a small model, saves it each way, loads each file into a fresh
model and shows that the outputs match exactly, with file sizes and load times. With
`--load PATH` it inspects a user's file (keys, shapes, dtypes, parameter count), reading it
with `weights_only=True` unless `--trust` is given.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

from pttui.engine import common, numbers
from pttui.engine.codegen import model_call, training_script
from pttui.engine.lab import Lab
from pttui.engine.params import Param, readable_file, writable_folder
from pttui.engine.source import definition

LOAD = Param(
    "load",
    "path",
    "",
    "inspect this checkpoint file instead of training (empty: train and save)",
    check=readable_file,  # there and readable: refused before torch loads
)
TRUST = Param(
    "trust", "bool", False, "load --load with weights_only=False: only for a file you made or trust"
)
FOLDER = Param(
    "folder",
    "path",
    "",
    "keep the saved files in this folder (empty: a temporary one, removed)",
    check=writable_folder,
)
EPOCHS = dataclasses.replace(common.EPOCHS, default=5)
PARAMS = (
    common.DATA_PARAMS
    + common.MODEL_PARAMS
    + common.USER_MODEL_PARAMS
    + common.USER_DATA_PARAMS
    + common.OPTIM_PARAMS
    + (
        common.BATCH_SIZE,
        EPOCHS,
        common.DEVICE,
        common.SEED,
        common.THREADS,
        LOAD,
        TRUST,
        FOLDER,
        common.PACE,
    )
)
MAX_ROWS = 200  # a big model's every tensor would drown the Tables tab

EXPLAIN = """\
torch.save(model.state_dict(), path) saves only tensors, keyed by parameter name. To load it you
build the model in your own code and call load_state_dict; torch.load(path, weights_only=True)
reads it without running anything from the file.

torch.save(model, path) pickles the object itself. The file names its classes by import path
({classes}), so it loads only where that code is importable under the same names, and a pickle
may name any function to call while loading: a whole-model file you did not make can run
someone else's code. weights_only=True refuses it; it loads only with weights_only=False, which
pttui allows only with --trust.

safetensors stores the tensors and a JSON header and no pickle at all: safe to load from anyone.

A training checkpoint adds what resuming needs: the optimizer's state (Adam keeps two more
tensors per parameter), the epoch and step, and the random generators' states. It is still
tensors and plain containers, so it loads with weights_only=True (pttui run training --save,
then --resume)."""


def run(values: dict[str, Any], ctx) -> dict[str, Any]:
    if values["load"]:
        return inspect(values, ctx)
    return compare_formats(values, ctx)


def inspect(values: dict[str, Any], ctx) -> dict[str, Any]:
    import torch

    from pttui.engine import checkpoint

    ctx.start("cpu")
    path = values["load"]
    warning = checkpoint.version_warning()
    if warning:
        ctx.warn(warning)
    if values["trust"]:
        ctx.warn(f"--trust: reading {path} with weights_only=False runs whatever code its pickle names")
    loaded = checkpoint.load(path, trust=values["trust"], field="load")
    for message in loaded.warnings:
        ctx.warn(message)
    obj = loaded.obj
    from pttui.engine import checkpoint_contents

    contents = checkpoint_contents.count(obj)
    rows = [[r.key, "x".join(map(str, r.shape)) or "scalar", r.dtype, r.numel, r.bytes, r.role]
            for r in contents.rows]  # fmt: skip
    note = f"first {MAX_ROWS} of {len(rows)}" if len(rows) > MAX_ROWS else ""
    ctx.table(
        f"tensors in {Path(path).name}",
        ["key", "shape", "dtype", "numel", "bytes", "counted as"],
        rows[:MAX_ROWS],
        note,
    )
    others = [(k, v) for k, v in checkpoint.walk(obj, path=path) if not isinstance(v, torch.Tensor)]
    if others:
        shown = [[k, _short(v)] for k, v in others[:MAX_ROWS]]
        ctx.table("other entries", ["key", "value"], shown)
    c = contents
    layout = ", ".join(f"{role} under {key!r}" for role, key in c.layout.items()) or "none recognised"
    ctx.table(
        "what the file holds (each tensor once)",
        ["", "value"],
        [
            ["parameters", c.parameters],
            ["buffers", c.buffers],
            ["optimizer state" + (f" ({c.optimizer})" if c.optimizer else ""), c.optimizer_state],
            ["other tensors", c.other_tensors],
            ["tensor bytes (logical)", c.tensor_bytes],
            ["stored bytes (storages in the file)", c.stored_bytes],
            ["layout", layout],
            [
                "parameters vs buffers",
                "by the model's class" if c.split == "class" else "inferred from names",
            ],
        ],
    )
    for message in c.notes:
        ctx.text("checkpoint", message)
    checked = loaded.format == "torch zip"  # only the zip format carries a CRC-32 per entry
    if not checked:
        ctx.text(
            "checkpoint",
            f"{path}: the {loaded.format} format carries no checksums, so damaged bytes in its "
            "tensors load without an error and could not be detected here"
            + (
                "; re-save it with torch.save to get a zip whose entries have CRC-32s"
                if loaded.format == "torch legacy"
                else ""
            ),
            level="warning",
        )
    ctx.text(
        "checkpoint",
        f"{path}: {c.kind}, {loaded.format} format, {len(rows)} tensors, {c.parameters:,} parameters, "
        f"{c.buffers:,} buffer values, {c.optimizer_state:,} optimizer state values"
        + (f" ({c.optimizer})" if c.optimizer else "")
        + f", {c.other_tensors:,} other tensor values; {numbers.quantity(c.tensor_bytes, 'B')} of tensor data in "
        f"{numbers.quantity(c.stored_bytes, 'B')} of storage, read in {numbers.quantity(loaded.seconds, 's')} "
        f"with weights_only={not values['trust']}.",
        pane="summary",
    )
    return {
        "file": str(path),
        "format": loaded.format,
        "checksums": "crc32 checked" if checked else "none in this format",
        "kind": c.kind,
        "tensors": len(rows),
        **c.result(),
        "file_bytes": Path(path).expanduser().stat().st_size,
        "load_s": loaded.seconds,
    }


def check_folder(folder: str) -> None:
    """`--folder` must be a folder that can be made and written to (not /dev/null, not a file)."""
    from pttui.engine import checkpoint
    from pttui.engine.params import ParamError

    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise ParamError("folder", folder, "a folder to keep the files in; this is a file or a device")
    checkpoint.check_writable(path / "model_state_dict.pt", field="folder")


def _short(value: Any, width: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def compare_formats(values: dict[str, Any], ctx) -> dict[str, Any]:
    import tempfile

    import torch

    from pttui.engine import checkpoint, devices, recipe, train

    devices.set_threads(values["threads"])
    device = devices.choose_device(values["device"], devices.Available.probe())
    ctx.start(device)
    if values["folder"]:
        check_folder(values["folder"])  # before training: a bad --folder fails now, named
    r = recipe.prepare(values, device)
    from pttui.engine.recipe import report_custom
    from pttui.engine.usermodel import prediction

    report_custom(ctx, values, r)
    key = values.get("output_key", "")
    state = train.TrainState()
    with recipe.blamed(values, r):
        metrics = train.fit(
            r.model, r.optimizer, r.batches, (r.x_val, r.y_val), ctx, values["epochs"], device, state=state,
            loss_fn=r.loss_fn, evaluator=r.evaluator,
        )  # fmt: skip
    if ctx.stopped:
        return {**metrics, "epochs_done": state.epoch}
    r.model.eval()
    with torch.no_grad():
        reference = prediction(r.model(r.x_val), key)

    def fresh_model():
        return recipe.build_model(values, r.data).to(device)

    def check(model) -> float:
        model.eval()
        with torch.no_grad():
            return (prediction(model(r.x_val), key) - reference).abs().max().item()

    def state_dict_way(path):
        size = checkpoint.save(r.model.state_dict(), path, field="folder")
        loaded = checkpoint.load(path, map_location=device)
        model = fresh_model()
        model.load_state_dict(loaded.obj)
        return size, loaded, model

    def whole_way(path):
        size = checkpoint.save(r.model, path, field="folder")
        # This run wrote the file a moment ago, so it is trusted: the one weights_only=False here.
        loaded = checkpoint.load(path, trust=True, map_location=device)
        return size, loaded, loaded.obj

    def safetensors_way(path):
        size = checkpoint.save_safetensors(r.model.state_dict(), path, field="folder")
        loaded = checkpoint.load(path, map_location=device)
        model = fresh_model()
        model.load_state_dict(loaded.obj)
        return size, loaded, model

    def training_way(path):
        ck = checkpoint.training_checkpoint(r.model, r.optimizer, None, state, r.generator, values)
        size = checkpoint.save(ck, path, field="folder")
        loaded = checkpoint.load(path, map_location="cpu")
        model = fresh_model()
        model.load_state_dict(loaded.obj["model"])
        return size, loaded, model

    ways = [  # name, file, how, safe to load from a stranger?
        ("state_dict", "model_state_dict.pt", state_dict_way, "yes: weights_only"),
        ("whole model", "model_whole.pt", whole_way, "no: --trust"),
        ("safetensors", "model.safetensors", safetensors_way, "yes: no pickle"),
        ("training checkpoint", "training_checkpoint.pt", training_way, "yes: weights_only"),
    ]
    if not _has_safetensors():
        ctx.warn("safetensors is not installed (pip install 'pttui[safetensors]'): that format is skipped")
        ways = [w for w in ways if w[0] != "safetensors"]

    keep = values["folder"]
    scratch = None if keep else tempfile.TemporaryDirectory(prefix="pttui-checkpoint-")
    folder = Path(keep).expanduser() if keep else Path(scratch.name)
    rows, diffs, sizes, load_times, save_times = [], {}, {}, {}, {}
    classes = "?"
    try:
        for name, filename, way, safe in ways:
            path = folder / filename
            started = time.perf_counter()
            size, loaded, model = way(path)
            total = time.perf_counter() - started
            for message in loaded.warnings:
                ctx.warn(f"{name}: {message}")
            if name == "whole model":
                classes = ", ".join(checkpoint.unsafe_globals(path)) or "?"
            diffs[name] = check(model)
            sizes[name] = size
            load_times[name] = loaded.seconds
            save_times[name] = total - loaded.seconds
            rows.append([name, size, save_times[name] * 1e3, loaded.seconds * 1e3, diffs[name], safe])
    finally:
        if scratch is not None:
            scratch.cleanup()
    ctx.table(
        "save and load, each way",
        ["format", "bytes", "save ms", "load ms", "max diff", "safe load"],
        rows,
        note=f"files kept in {folder}" if keep else "written to a temporary folder, now removed",
    )
    # One line per paragraph: the app and the terminal wrap it to their own width.
    explain = re.sub(r"(?<!\n)\n(?!\n)", " ", EXPLAIN.format(classes=classes))
    ctx.text("state_dict vs whole model", explain, pane="summary")
    return {
        **metrics,
        "params": sum(p.numel() for p in r.model.parameters()),
        "identical": all(d == 0.0 for d in diffs.values()),
        "max_abs_diff": diffs,
        "file_bytes": sizes,
        "load_s": load_times,
        "save_s": save_times,
        **({"folder": str(folder)} if keep else {}),
    }


def _has_safetensors() -> bool:
    import importlib.util

    return importlib.util.find_spec("safetensors") is not None


# --- the code view ---------------------------------------------------------------------------


def code(values: dict[str, Any]) -> str:
    if values["load"]:
        return _inspect_script(values)
    folder = values["folder"] or "checkpoints"
    build = model_call(values)
    out = "model(x_val)"
    if values.get("model_spec"):  # the training script imported the person's file as user_model
        name = values["model_spec"].strip().rpartition(":")[2]
        kwargs = values.get("model_kwargs", "").strip()
        build = f"user_model.{name}(" + (f"**json.loads({kwargs!r})" if kwargs else "") + ")"
    if values.get("model_spec") or values.get("data"):
        out = f"prediction(model(x_val), {values.get('output_key', '')!r})"
    return training_script(
        values,
        "checkpoint",
        more=[("codegen", "save")],
        tail=f"""
# --- save, then load into a fresh model: the outputs must match exactly ------------------------
folder = {folder!r}
os.makedirs(folder, exist_ok=True)
model.eval()
with torch.no_grad():
    reference = {out}


def report(name, path, fresh, seconds):
    fresh.eval()
    with torch.no_grad():
        diff = ({out.replace("model(", "fresh(")} - reference).abs().max().item()
    print(f"{{name}}: {{os.path.getsize(path)}} bytes, loaded in {{seconds * 1e3:.1f}} ms, max abs diff {{diff}}")


# 1. the state_dict: tensors only. You build the model; loading runs nothing from the file.
path = os.path.join(folder, "model_state_dict.pt")
save(model.state_dict(), path)
started = time.perf_counter()
fresh = {build}.to(device)
fresh.load_state_dict(torch.load(path, map_location=device, weights_only=True))
report("state_dict", path, fresh, time.perf_counter() - started)

# 2. the whole model: a pickle of the object. It needs the class importable under the same
#    name, and a pickle can run code while loading: weights_only=False only for files you trust.
path = os.path.join(folder, "model_whole.pt")
save(model, path)
started = time.perf_counter()
whole = torch.load(path, map_location=device, weights_only=False)  # we wrote it a moment ago
report("whole model", path, whole, time.perf_counter() - started)

# 3. safetensors (pip install safetensors): tensors and a JSON header, no pickle at all.
try:
    from safetensors.torch import load_file, save_file
except ImportError:
    print("safetensors: not installed")
else:
    path = os.path.join(folder, "model.safetensors")
    save_file({{k: v.contiguous() for k, v in model.state_dict().items()}}, path)
    started = time.perf_counter()
    fresh = {build}.to(device)
    fresh.load_state_dict(load_file(path, device=str(device)))
    report("safetensors", path, fresh, time.perf_counter() - started)
""",
    )


def _inspect_script(values: dict[str, Any]) -> str:
    path = values["load"]
    if path.endswith(".safetensors"):
        read = f"from safetensors.torch import load_file\n\ncheckpoint = load_file({path!r})"
    elif values["trust"]:
        read = f"# weights_only=False runs whatever code the file's pickle names: only for files you trust\ncheckpoint = torch.load({path!r}, map_location='cpu', weights_only=False)"
    else:
        read = f"# weights_only=True: tensors and plain containers only; anything else is refused\ncheckpoint = torch.load({path!r}, map_location='cpu', weights_only=True)"
    return f'''"""Inspect a checkpoint: the plain PyTorch that `pttui run checkpoint --load` runs."""

import torch

{read}


# Iterative, each shared object once, bounded: a crafted file cannot hang or exhaust the walk.
{definition("hardened", "walk")}


if isinstance(checkpoint, torch.nn.Module):
    checkpoint = checkpoint.state_dict()
# pttui's rules (engine/checkpoint_contents.py), shortened: the model's weights sit at the top
# or under a key such as model_state_dict; a tensor reached by two keys (tied weights) counts
# once; standard buffer names and integer dtypes are buffers, not parameters.
BUFFER_NAMES = {{"running_mean", "running_var", "num_batches_tracked", "scale", "zero_point"}}
MODEL_KEYS = ("model_state_dict", "state_dict", "model", "net", "ema")
weights = checkpoint
if isinstance(checkpoint, dict):
    weights = next((checkpoint[k] for k in MODEL_KEYS if isinstance(checkpoint.get(k), dict)), checkpoint)
parameters = buffers = 0
seen = set()
for key, value in walk(weights):
    if isinstance(value, torch.Tensor):
        print(f"{{key:50}} {{tuple(value.shape)!s:20}} {{value.dtype}}")
        same = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape), value.dtype)
        if same in seen:
            continue
        seen.add(same)
        numeric = value.is_floating_point() or value.is_complex() or value.is_quantized
        if key.split(".")[-1] in BUFFER_NAMES or not numeric:
            buffers += value.numel()
        else:
            parameters += value.numel()
    else:
        print(f"{{key:50}} {{value!r:.60}}")
print(f"{{parameters:,}} parameters, {{buffers:,}} buffer values")
'''


LAB = Lab(
    name="checkpoint",
    title="Save and load",
    summary="state_dict vs whole model vs safetensors, safe loading, atomic saves, inspecting a file",
    order=6,
    params=PARAMS,
    run=run,
    code=code,
    pausable=True,
)
