"""The nn.Module topic: what a model is made of, layer by layer, and how many parameters.

Classic models (SimpleNet's one Linear, an MLP, a CNN, DynamicModel, an LSTM classifier) or
the person's own file. The totals come from `model.parameters()`; torchsummary's table is
shown too, with one line saying where it cannot cope or miscounts (see pttui.engine.summary).
"""

from __future__ import annotations

from typing import Any

from pttui.engine import common, numbers, usermodel
from pttui.engine.lab import Lab
from pttui.engine.params import Param, ParamError

MODEL_NAMES = ("simplenet", "mlp", "cnn", "dynamic", "lstm", "custom")
# The built-in models are sized for MNIST's 28x28 images; this is the input each takes by default.
DEFAULT_INPUT = {
    "simplenet": "1,784",
    "mlp": "1,784",
    "cnn": "1,1,28,28",
    "dynamic": "1,10",
    "lstm": "1,28,28",  # 28 steps of 28 features: an image read row by row
}
# The catalogue's arguments (pttui.engine.catalogue) for these sizes, the hidden widths aside.
SIZES = {"in_features": 784, "n_classes": 10, "activation": "relu", "side": 28}

MODEL = Param(
    "model",
    "choice",
    "simplenet",
    "which model: the classic SimpleNet (Linear 784->10), mlp, cnn, dynamic, lstm, or custom (--model-spec)",
    MODEL_NAMES,
)
MODEL_SPEC = common.MODEL_SPEC
INPUT_SHAPE = common.INPUT_SHAPE
PARAMS = (
    MODEL,
    common.HIDDEN,
    MODEL_SPEC,
    common.MODEL_KWARGS,
    INPUT_SHAPE,
    common.INPUT_DTYPE,
    common.INPUT_HIGH,
    common.DEVICE,
    common.SEED,
)


def chosen(values: dict[str, Any]) -> str:
    """The model actually used: a --model-spec means the custom model whatever --model says."""
    return "custom" if values["model_spec"] else values["model"]


def constructor(values: dict[str, Any]) -> str:
    """The built-in model's constructor call (the lstm's width is the last of --hidden)."""
    from pttui.engine.catalogue import constructor_call

    return constructor_call(chosen(values), hidden=values["hidden"], **SIZES)


def build(values: dict[str, Any]):
    """(model, what the user's file printed) for these values; torch is imported by the caller."""
    from pttui.engine import models

    name = chosen(values)
    if name == "custom":
        if not values["model_spec"]:
            raise ParamError("model_spec", "", "FILE.py:NAME for the custom model")
        return usermodel.load(values["model_spec"], values["model_kwargs"])
    hidden, side = tuple(values["hidden"]), SIZES["side"]

    def make():
        return models.build(
            name, SIZES["in_features"], SIZES["n_classes"], hidden, SIZES["activation"], (1, side, side)
        )

    if name == "mlp":  # the one built-in whose size a flag sets: checked on the meta device first
        from pttui.engine.bounds import check_training_memory

        check_training_memory({"hidden": hidden, "batch_size": 1, "optimizer": "sgd", "momentum": 0.0},
                              make, [SIZES["in_features"], *hidden, SIZES["n_classes"]])  # fmt: skip
    return make(), ""


def input_text(values: dict[str, Any]) -> str:
    name = chosen(values)
    if values["input_shape"].strip():
        return values["input_shape"]
    if name == "custom":
        from pttui.engine.early import no_input_shape

        raise no_input_shape(values["model_spec"])
    return DEFAULT_INPUT[name]


def run(values: dict[str, Any], ctx) -> dict[str, Any]:
    import torch

    from pttui.engine import devices, summary

    if values["model"] == "custom" and not values["model_spec"]:
        raise ParamError("model_spec", "", "FILE.py:NAME for the custom model")
    text = input_text(values)
    shapes = summary.parse_shapes(text)
    device = devices.resolve(values["device"])
    ctx.start(device)
    torch.manual_seed(values["seed"])
    model, printed = build(values)
    if printed.strip():
        ctx.text("printed by your model file", printed.rstrip())
    model = model.to(device)
    file = usermodel.split_spec(values["model_spec"])[0] if chosen(values) == "custom" else None
    dtype, high, why = usermodel.input_dtype(model, values["input_dtype"], values["input_high"])
    inputs = usermodel.make_inputs(shapes, dtype, high, device)
    given = usermodel.describe_inputs(inputs, f"--input-shape {text}, {why}")
    if usermodel.materialize(model, inputs, file, given):
        ctx.text("lazy modules", f"materialised by one dry forward with {given} before counting")
    try:
        with usermodel.blamed(file, "forward", given):
            s = summary.summarize(model, shapes, device, inputs)
    except usermodel.UserModelError:
        raise
    except Exception as exc:  # a built-in model rejects these input sizes: say which, with its words
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParamError("input_shape", text, f"sizes the model accepts ({message})") from None
    for message in s.warnings:
        ctx.warn(message)
    if s.torchsummary_text:
        ctx.text("torchsummary", s.torchsummary_text.rstrip(), pane="summary")
    if s.problem:
        ctx.text("torchsummary", s.problem, level="warning")
    ctx.table(
        "layers (forward hooks, in call order)",
        ["layer", "type", "output shape", "params", "trainable", "note"],
        [[x.name, x.kind, x.output, x.params, x.trainable, x.note] for x in s.layers],
        note=f"input {numbers.shape(shapes)} on {device}; each parameter in one row: "
        f"the rows sum to {sum(x.params for x in s.layers):,} of {s.total_params:,}",
    )
    ctx.table("totals (from model.parameters())", ["", "value"], s.totals_rows())
    ctx.tree(f"{type(model).__name__} modules", module_tree(model))
    return {
        **s.result(),
        "model": chosen(values),
        "class": type(model).__name__,
        "input_shape": [list(x) for x in shapes],
        "device": device,
    }


def module_tree(model, max_nodes: int = 400) -> dict[str, Any]:
    """named_modules as a tree, each node with its parameter count (iterative, bounded)."""

    def node(name: str, module) -> dict[str, Any]:
        n = sum(p.numel() for p in module.parameters())
        return {"label": f"{name} ({type(module).__name__})", "detail": f"{n:,} params", "children": []}

    root = node(type(model).__name__, model)
    root["label"] = type(model).__name__
    count, stack = 1, [(model, root)]
    while stack:
        module, out = stack.pop()
        for name, child in module.named_children():
            if count >= max_nodes:
                out["children"].append({"label": "…", "detail": "more modules not shown", "children": []})
                break
            entry = node(name, child)
            out["children"].append(entry)
            count += 1
            stack.append((child, entry))
    return root


def code(values: dict[str, Any]) -> str:
    from pttui.engine.catalogue import class_name
    from pttui.engine.codegen import device_line
    from pttui.engine.source import definition

    name = chosen(values)
    try:
        shapes_text = input_text(values)
    except ParamError:
        shapes_text = "1,784"
    try:
        from pttui.engine.summary import parse_shapes

        shapes = parse_shapes(shapes_text)
    except ParamError:
        shapes = [(1, 784)]
    sizes = [tuple(s[1:]) for s in shapes]
    size_arg = repr(sizes[0]) if len(sizes) == 1 else repr(sizes)
    path, _, attr = values["model_spec"].rpartition(":")
    if name == "custom" and not (path and attr.isidentifier()):
        definitions = ""
        make = 'raise SystemExit("the custom model needs --model-spec FILE.py:NAME")'
    elif name == "custom":
        from pttui.engine import usercode

        names = ("first_leaf", "first_embedding", "input_dtype", "make_inputs")
        definitions = "\n\n\n".join(definition("usermodel", n) for n in names) + "\n\n\n"
        make = "\n".join([usercode.imports(values).rstrip(), "", *usercode.model_lines(values)])
    else:
        definitions = definition("models", class_name(name)) + "\n\n\n"
        make = f"model = {constructor(values)}.to(device)"
    inputs = ", ".join(f"torch.rand(*{s!r}, device=device)" for s in shapes)
    if name == "custom" and path and attr.isidentifier():  # --input-dtype: auto follows the model
        make += (
            f"\ndtype, high, why = input_dtype(model, {values['input_dtype']!r}, {values['input_high']})"
            f"  # {'int64 indices for an Embedding first, else the parameters dtype' if values['input_dtype'] == 'auto' else ''}"
            f"\ninputs = make_inputs({shapes!r}, dtype, high, device)"
            "\nprint('inputs:', [(tuple(x.shape), x.dtype) for x in inputs], why)"
        )
        inputs = "*inputs"
    return f'''"""modules: the plain PyTorch that pttui runs for these values."""

import torch
import torch.nn.functional as F
from torch import nn
from torchsummary import summary


{definitions}{device_line(values)}
torch.manual_seed({values["seed"]})
{make}
print(model)

total = sum(p.numel() for p in model.parameters())
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
print(f"total params {{total:,}}, trainable {{trainable:,}}")

# Output shapes from forward hooks, which cope with tuple and dict outputs.
hooks = [m.register_forward_hook(lambda m, i, o: print(type(m).__name__, getattr(o, "shape", type(o))))
         for m in model.modules()]
with torch.no_grad():
    model.eval()
    model({inputs})
for h in hooks:
    h.remove()

# torchsummary defaults to device="cuda": give it the model's device. It counts only
# parameters named weight/bias, and fails on tuple outputs (LSTM).
try:
    summary(model, {size_arg}, device=torch.device(device).type)
except Exception as exc:
    print("torchsummary cannot summarise this model:", exc)
'''


LAB = Lab(
    name="modules",
    title="nn.Module",
    summary="a model's layers, output shapes and parameter counts; torchsummary's table",
    order=3,
    params=PARAMS,
    run=run,
    code=code,
)
