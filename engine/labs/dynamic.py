"""The dynamic-graphs topic: PyTorch records a new graph on every call (define-by-run).

The classic `DynamicModel` decides with plain Python whether `linear2` runs, and a loop model
applies one layer `repeat` times. The lab shows the graph of this call, which parameters got
gradients (`linear2` gets none when it was skipped), and the same module called with the
other choice: a different graph, from the same module, built per call.
"""

from __future__ import annotations

from typing import Any

from pttui.engine import common
from pttui.engine.lab import Lab
from pttui.engine.params import Param

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
PARAMS = (MODEL, USE_SECOND, REPEAT, BATCH, common.DOT, common.SEED)


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
            rows.append([name, str(tuple(p.shape)), "no grad (None): not used in this call", ""])
        else:
            got.append(name)
            rows.append([name, str(tuple(p.shape)), "grad", round(float(p.grad.norm()), 6)])
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


def _classes(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" if v > 1 else k for k, v in counts.items())


def code(values: dict[str, Any]) -> str:
    from pttui.engine.catalogue import class_name, constructor_call
    from pttui.engine.source import definition

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


def count_nodes(fn):
    """grad_fn nodes reachable from `fn` (each once), walked with a stack, not recursion."""
    seen, stack = set(), [fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return len(seen)


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
