"""The dynamic-graphs topic: PyTorch records a new graph on every call (define-by-run).

The classic `DynamicModel` decides with plain Python whether `linear2` runs, and a loop model
applies one layer `repeat` times. The lab shows the graph of this call, which parameters got
gradients (`linear2` gets none when it was skipped), and the same module called with the
other choice: a different graph, from the same module, built per call.

A person's own model (`--model-spec`) has no such switch to flip, so for it the lab does what
still applies: one forward/backward of random inputs of `--input-shape`, the graph, which of
its parameters got gradients (a frozen or unused one gets none), and a second call on fresh
random inputs, whose graph and gradients differ only where its forward decides by the input.
"""

from __future__ import annotations

from typing import Any

from pttui.engine import common, numbers
from pttui.engine.lab import Lab
from pttui.engine.params import Param, ParamError

MODEL = Param(
    "model",
    "choice",
    "dynamic",
    "dynamic: DynamicModel, linear2 used or not; loop: one Linear applied `repeat` times",
    ("dynamic", "loop"),
)
USE_SECOND = Param("use_second_layer", "bool", True, "DynamicModel: run linear2 in this call")
# Freeing an autograd graph this deep recurses in C++: 17,500 passes crashed the engine thread
# with SIGSEGV here (torch 2.13, 8 MiB thread stack); 15,000 passed. 10,000 keeps a margin.
MAX_REPEAT = 10_000
REPEAT = Param(
    "repeat", "int", 3, "loop model: how many times the layer runs in this call", low=0, high=MAX_REPEAT
)
BATCH = Param("batch", "int", 2, "rows in the random input", low=1, high=4096)
PARAMS = (
    MODEL,
    USE_SECOND,
    REPEAT,
    BATCH,
    *common.USER_MODEL_PARAMS,
    *common.SYNTHETIC_PARAMS,
    common.DOT,
    common.SEED,
)


def _other(values: dict[str, Any]) -> dict[str, Any]:
    """The other choice for the comparison call."""
    if values["model"] == "dynamic":
        return {"use_second_layer": not values["use_second_layer"]}
    repeat = values["repeat"]
    return {"repeat": repeat + 1 if repeat < REPEAT.high else repeat - 1}


def _call(model, x, values: dict[str, Any], choice: dict[str, Any]):
    if values["model"] == "dynamic":
        return model(x, use_second_layer=choice["use_second_layer"])
    return model(x, repeat=choice["repeat"])


def _describe(choice: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in choice.items())


def run(values: dict[str, Any], ctx) -> dict[str, Any]:
    import torch

    from pttui.engine import graph, models

    if values["model_spec"]:
        return run_user(values, ctx)  # without it, --input-shape was refused (common.NEEDS)
    ctx.start("cpu")
    torch.manual_seed(values["seed"])
    model = models.build(values["model"], 10, 3)
    x = torch.randn(values["batch"], 10)
    names = {"x": x, **dict(model.named_parameters())}
    key = "use_second_layer" if values["model"] == "dynamic" else "repeat"
    choice = {key: values[key]}

    out = _call(model, x, values, choice)
    loss = out.sum()
    if not loss.requires_grad:  # repeat=0: the input came straight back
        ctx.text(
            "graph", "nothing ran that has parameters (repeat=0): no graph was recorded", level="warning"
        )
        return {"nodes": 0, "grad_params": [], "no_grad_params": list(dict(model.named_parameters()))}
    g = graph.walk(loss, names, output_name="loss")
    ctx.tree(f"graph of model(x, {_describe(choice)}).sum()", graph.to_tree(g))
    if values["dot"]:
        path = graph.save_dot(g, values["dot"], f"{type(model).__name__}(x, {_describe(choice)}).sum()")
        ctx.text("DOT", f"wrote {path}; render it with: dot -Tsvg {path} -o graph.svg")
    loss.backward()
    rows, got, missing = [], [], []
    for name, p in model.named_parameters():
        if p.grad is None:
            missing.append(name)
            rows.append([name, numbers.shape(p.shape), "no grad (None): not used in this call", ""])
        else:
            got.append(name)
            rows.append([name, numbers.shape(p.shape), "grad", round(float(p.grad.norm()), 6)])
    ctx.table("parameters after backward()", ["parameter", "shape", "grad", "grad norm"], rows)

    # The same module, called again with the other choice: another graph, built for that call.
    model.zero_grad(set_to_none=True)
    other = _other(values)
    other_loss = _call(model, x, values, other).sum()
    other_graph = graph.walk(other_loss, names) if other_loss.requires_grad else None
    other_nodes = len(other_graph.nodes) if other_graph else 0
    other_counts = other_graph.counts() if other_graph else {}
    ctx.table(
        "graphs are built per call (same module, same weights)",
        ["call", "graph nodes", "grad_fn classes"],
        [
            [f"model(x, {_describe(choice)})", len(g.nodes), _classes(g.counts())],
            [f"model(x, {_describe(other)})", other_nodes, _classes(other_counts)],
        ],
    )
    return {
        "model": values["model"],
        "choice": choice,
        "nodes": len(g.nodes),
        "fn_nodes": g.fn_count,
        "node_counts": g.counts(),
        "grad_params": got,
        "no_grad_params": missing,
        "loss": loss.item(),
        "other_call": {"choice": other, "nodes": other_nodes},
    }


# The exported scripts' node count (the lab's own count is graph.walk's, which agrees with it).
COUNT_NODES = '''def count_nodes(fn):
    """grad_fn nodes reachable from `fn` (each once), walked with a stack, not recursion."""
    seen, stack = set(), [fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return len(seen)'''
NO_GRAD = "no grad (None): not reached from the output in this call"
FROZEN = "frozen (requires_grad=False)"


def _user_inputs(values: dict[str, Any]):
    from pttui.engine.summary import parse_shapes

    if not values["input_shape"].strip():
        from pttui.engine.early import no_input_shape

        raise no_input_shape(values["model_spec"], "2,4")
    return parse_shapes(values["input_shape"])


def _grads(model) -> tuple[list[list[Any]], list[str], list[str], list[str]]:
    """(table rows, names with a grad, names without one, frozen names) after a backward."""
    rows, got, missing, frozen = [], [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            frozen.append(name)
            rows.append([name, numbers.shape(p.shape), FROZEN, ""])
        elif p.grad is None:
            missing.append(name)
            rows.append([name, numbers.shape(p.shape), NO_GRAD, ""])
        else:
            got.append(name)
            rows.append([name, numbers.shape(p.shape), "grad", round(float(p.grad.norm()), 6)])
    return rows, got, missing, frozen


def run_user(values: dict[str, Any], ctx) -> dict[str, Any]:
    """The lab for a person's model: two calls on random inputs, each graph and its gradients."""
    import torch

    from pttui.engine import graph, usermodel

    shapes = _user_inputs(values)
    ctx.start("cpu")
    torch.manual_seed(values["seed"])  # before the import, as the exported script does
    model, printed = usermodel.load(values["model_spec"], values["model_kwargs"])
    if printed.strip():
        ctx.text("printed by your model file", printed.rstrip())
    file = usermodel.split_spec(values["model_spec"])[0]
    dtype, high, why = usermodel.input_dtype(model, values["input_dtype"], values["input_high"])
    key = values["output_key"]
    cls = type(model).__name__
    ctx.text(
        "model",
        f"{cls} from {values['model_spec']} (--model-spec wins over --model, --use-second-layer and "
        "--repeat, which choose inside the built-in models): called twice on random inputs",
    )
    calls = []
    for n in (1, 2):  # a fresh graph per call: forward decides, with the input it is given
        inputs = usermodel.make_inputs(shapes, dtype, high)
        given = usermodel.describe_inputs(inputs, f"--input-shape {values['input_shape']}, {why}")
        with usermodel.blamed(file, f"forward (call {n})", given):
            output = model(*inputs)
        usermodel.check_key(output, key)
        pred = usermodel.prediction(output, key)
        if pred is None:
            raise ParamError(
                "output_key", key, f"the key of a tensor in the output (it returned {type(output).__name__})"
            )
        loss = pred.sum()
        names = {f"x{i}" if len(inputs) > 1 else "x": x for i, x in enumerate(inputs)}
        names.update(model.named_parameters())  # after the forward: lazy modules exist now
        g = graph.walk(loss, names, output_name="loss") if loss.grad_fn is not None else None
        if g is not None:
            with usermodel.blamed(file, f"backward (call {n})", given):
                loss.backward()
        rows, got, missing, frozen = _grads(model)
        calls.append({"graph": g, "rows": rows, "got": got, "missing": missing, "frozen": frozen,
                      "loss": float(loss.detach().float()), "given": given})  # fmt: skip
        model.zero_grad(set_to_none=True)
    first, second = calls
    call = f"{cls}(x).sum()" if key == "" else f"{cls}(x)[{key!r}].sum()"
    if first["graph"] is None:
        ctx.text("graph", f"the prediction does not depend on a parameter that requires grad: "
                 f"no graph was recorded for {call}", level="warning")  # fmt: skip
    else:
        ctx.tree(f"graph of {call}, call 1, input {first['given']}", graph.to_tree(first["graph"]))
        if values["dot"]:
            path = graph.save_dot(first["graph"], values["dot"], call)
            ctx.text("DOT", f"wrote {path}; render it with: dot -Tsvg {path} -o graph.svg")
    ctx.table(
        "parameters after backward() (call 1)", ["parameter", "shape", "grad", "grad norm"], first["rows"]
    )

    def nodes(c):
        return len(c["graph"].nodes) if c["graph"] else 0

    def classes(c):
        return _classes(c["graph"].counts()) if c["graph"] else ""

    same = (
        nodes(first) == nodes(second) and classes(first) == classes(second) and first["got"] == second["got"]
    )
    ctx.table(
        "graphs are built per call (same module, same weights, new random input)",
        ["call", "graph nodes", "grad_fn classes", "parameters with a grad"],
        [[f"{cls}(x) #{i}", nodes(c), classes(c), len(c["got"])] for i, c in enumerate(calls, 1)],
        note="the same graph both times: this forward's control flow does not depend on its input"
        if same
        else "the graphs differ: this forward decides by its input, so each call records its own graph",
    )
    return {
        "model": "custom",
        "class": cls,
        "params": sum(p.numel() for p in model.parameters()),
        "nodes": nodes(first),
        "fn_nodes": first["graph"].fn_count if first["graph"] else 0,
        "node_counts": first["graph"].counts() if first["graph"] else {},
        "grad_params": first["got"],
        "no_grad_params": first["missing"],
        "frozen_params": first["frozen"],
        "grad_norms": {row[0]: row[3] for row in first["rows"] if row[2] == "grad"},
        "loss": first["loss"],
        "other_call": {"nodes": nodes(second), "grad_params": second["got"], "loss": second["loss"]},
        "same_graph": same,
    }


def code_user(values: dict[str, Any]) -> str:
    """The plain PyTorch for a person's model: the same two calls, printing what the lab reports."""
    from pttui.engine import usercode
    from pttui.engine.source import definition

    try:
        shapes = _user_inputs(values)
    except ParamError:
        shapes = [(2, 4)]
    copied = "\n\n\n".join(definition("usermodel", n) for n in ("first_leaf", "first_embedding", "input_dtype",
                                                                "make_inputs", "prediction"))  # fmt: skip
    return f'''"""dynamic: the plain PyTorch that pttui runs for these values (your model)."""

{usercode.imports(values)}
import torch
from torch import nn


{copied}


{COUNT_NODES}


device = "cpu"
torch.manual_seed({values["seed"]})
{chr(10).join(usercode.model_lines(values))}
dtype, high, why = input_dtype(model, {values["input_dtype"]!r}, {values["input_high"]})
for call in (1, 2):  # the same module, a new random input: the graph is recorded per call
    inputs = make_inputs({shapes!r}, dtype, high, device)
    loss = prediction(model(*inputs), {values["output_key"]!r}).sum()
    print(f"call {{call}} loss {{loss.item():.6f}}")
    if loss.grad_fn is not None:
        print(f"call {{call}} grad_fn nodes {{count_nodes(loss.grad_fn)}}")
        loss.backward()
    for name, p in model.named_parameters():
        print(f"call {{call}}", name, "frozen" if not p.requires_grad else "no grad" if p.grad is None
              else f"grad norm {{p.grad.norm():.6f}}")
    model.zero_grad(set_to_none=True)
'''


def _classes(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" if v > 1 else k for k, v in counts.items())


def code(values: dict[str, Any]) -> str:
    from pttui.engine.catalogue import class_name, constructor_call
    from pttui.engine.source import definition

    if values["model_spec"]:
        return code_user(values)

    dynamic = values["model"] == "dynamic"
    cls = class_name(values["model"])
    make = constructor_call(values["model"], 10, 3)
    call = (
        f"model(x, use_second_layer={values['use_second_layer']})"
        if dynamic
        else f"model(x, repeat={values['repeat']})"
    )
    return f'''"""dynamic: the plain PyTorch that pttui runs for these values."""

import torch
import torch.nn.functional as F
from torch import nn


{definition("models", cls)}


{COUNT_NODES}


torch.manual_seed({values["seed"]})
model = {make}
x = torch.randn({values["batch"]}, 10)
loss = {call}.sum()  # the graph is recorded while this line runs
if loss.grad_fn is not None:
    print("grad_fn nodes:", count_nodes(loss.grad_fn))
    loss.backward()
for name, p in model.named_parameters():
    print(name, "no grad" if p.grad is None else f"grad norm {{p.grad.norm():.6f}}")
'''


LAB = Lab(
    name="dynamic",
    title="Dynamic graphs",
    summary="define-by-run: Python control flow decides the graph, built anew on every call",
    order=8,
    params=PARAMS,
    run=run,
    code=code,
)
