"""The autograd topic: the graph PyTorch records while it computes, and what backward() does.

The classic example (`y = x * 2; z = y.sum(); z.backward()` gives `x.grad = [2, 2, 2]`) with
any expression over named leaf tensors: the graph is shown as a tree of `grad_fn` nodes (the
node set torchviz draws), optionally written as Graphviz DOT, and the leaves' gradients.
Expressions and leaf values go through the allow-list evaluator (engine.safe_eval).
"""

from __future__ import annotations

import ast
from typing import Any

from pttui.engine import common, numbers
from pttui.engine.lab import Lab
from pttui.engine.params import Param

EXPR = Param(
    "expr",
    "str",
    "(x * 2).sum()",
    "the output, an expression over the leaves (torch functions, tensor methods, arithmetic)",
    max_len=2000,
)
LEAVES = Param(
    "leaves",
    "str",
    "x = [1.0, 2.0, 3.0]",
    "the leaf tensors: `name = value`, one per line or separated by ';' (value: a list or a torch expression)",
    max_len=2000,
)
REQUIRES_GRAD = Param(
    "requires_grad", "bool", True, "make the leaves require grad (autograd records their graph)"
)
PARAMS = (EXPR, LEAVES, REQUIRES_GRAD, common.SHOW_SAVED, common.DOT, common.MAX_MB, common.SEED)
_RESERVED = {"torch", "F", "out", "abs", "len", "float", "int", "bool", "round", "complex"}


def parse_leaves(text: str) -> list[tuple[str, str, bool]]:
    """[(name, value text, is a plain literal)] from `x = [1.0, 2.0]; w = torch.randn(3)`.

    Parsing only: nothing runs here. Raises ParamError (field `leaves`) with the rule.
    """
    from pttui.engine.safe_eval import param_error

    rule = "write each leaf as `name = value`, one per line or separated by ';'"
    try:
        tree = ast.parse(text, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise param_error("leaves", text, f"{rule} ({getattr(exc, 'msg', exc)})") from None
    leaves = []
    for stmt in tree.body:
        if not (
            isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        ):
            raise param_error("leaves", text, f"{rule}; `{ast.unparse(stmt)[:60]}` is not one")
        name = stmt.targets[0].id
        if name.startswith("_") or name in _RESERVED:
            raise param_error("leaves", text, f"{name!r} cannot name a leaf; choose another name")
        if name in (n for n, _, _ in leaves):
            raise param_error("leaves", text, f"the leaf {name!r} is given twice")
        leaves.append((name, ast.get_source_segment(text, stmt.value) or "", _is_literal(stmt.value)))
    return leaves


def _is_literal(node: ast.AST) -> bool:
    allowed = (ast.Constant, ast.List, ast.Tuple, ast.UnaryOp, ast.USub, ast.UAdd, ast.Load)
    return all(isinstance(n, allowed) for n in ast.walk(node))


def _has_float(node_text: str) -> bool:
    node = ast.parse(node_text, mode="eval")
    return any(isinstance(n, ast.Constant) and isinstance(n.value, (float, complex)) for n in ast.walk(node))


def run(values: dict[str, Any], ctx) -> dict[str, Any]:
    import torch

    from pttui.engine import graph, safe_eval

    expr, requires_grad = values["expr"].strip(), values["requires_grad"]
    specs = parse_leaves(values["leaves"])
    ctx.start("cpu")
    torch.manual_seed(values["seed"])
    from pttui.engine.bounds import capped_limit

    limit = capped_limit(values["max_mb"], ctx.warn)
    leaves: dict[str, Any] = {}
    allocated = 0
    for name, text, _ in specs:
        evaluator = safe_eval.Evaluator(limit=limit, allocated=allocated)
        try:
            value = evaluator.evaluate(text)
        except safe_eval.ExpressionError as exc:
            raise safe_eval.param_error("leaves", values["leaves"], f"{name}: {exc}") from None
        allocated = evaluator.allocated
        if isinstance(value, torch.Tensor):
            # The leaf is cloned dense (an expanded view becomes its full size) and backward makes
            # a gradient of that size too: both are charged before the clone.
            full = value.numel() * value.element_size() * (2 if requires_grad else 1)
            if allocated + full > limit:
                raise safe_eval.param_error(
                    "leaves",
                    values["leaves"],
                    f"{name}: the leaf {text} becomes {safe_eval.human_bytes(full)} as a dense tensor"
                    + (" and its gradient" if requires_grad else "")
                    + f"; the limit (--max-mb) is {safe_eval.human_bytes(limit)}, so it was refused "
                    "before anything was allocated",
                )
            allocated += full
        leaves[name] = _to_leaf(name, value, requires_grad, values["leaves"])

    evaluator = safe_eval.Evaluator(names=leaves, limit=limit, allocated=allocated)
    try:
        out = evaluator.evaluate(expr)
    except safe_eval.ExpressionError as exc:
        raise safe_eval.param_error("expr", expr, str(exc)) from None
    for message in evaluator.warnings:
        ctx.warn(message)
    _check_output(out, leaves, values)

    g = graph.walk(out, leaves, show_saved=values["show_saved"], output_name="out")
    ctx.tree(f"autograd graph of out = {expr}", graph.to_tree(g))
    counts = g.counts()
    tensors = len(g.nodes) - g.fn_count
    ctx.table(
        "graph nodes",
        ["grad_fn class", "count"],
        [[k, v] for k, v in counts.items()],
        note=f"backward (grad_fn) nodes only: {g.fn_count}; the graph also has {tensors} tensor node(s) "
        f"(leaves, the output, saved tensors), {len(g.nodes)} in all",
    )
    dot_path = None
    if values["dot"]:
        dot_path = graph.save_dot(g, values["dot"], f"out = {expr}")
        ctx.text("DOT", f"wrote {dot_path}; render it with: dot -Tsvg {dot_path} -o graph.svg")

    if out.dim() > 0:
        ctx.text(
            "backward",
            f"out has shape {numbers.shape(out.shape)}, not a scalar: backpropagated with "
            "out.backward(torch.ones_like(out)), as torchviz's example does",
        )
    try:
        out.backward(torch.ones_like(out))
    except RuntimeError as exc:
        raise safe_eval.param_error("expr", expr, f"backward() failed: {safe_eval.first_line(exc)}") from None

    grads: dict[str, Any] = {}
    rows = []
    for name, leaf in leaves.items():
        grad = leaf.grad
        grads[name] = (
            None if grad is None else (grad.tolist() if grad.numel() <= 10_000 else "too large to list")
        )
        shown = "None (out does not use it)" if grad is None else _short(grad)
        rows.append([name, numbers.shape(leaf.shape), _short(leaf.detach()), shown])
    ctx.table("gradients", ["leaf", "shape", "value", "grad"], rows)
    return {
        "grads": grads,
        "output": out.detach().tolist() if out.numel() <= 10_000 else None,
        "output_shape": list(out.shape),
        "root": type(out.grad_fn).__name__ if out.grad_fn is not None else None,
        "nodes": len(g.nodes),  # every node the DOT draws: grad_fn nodes and tensors
        "grad_fn_nodes": g.fn_count,
        "tensor_nodes": len(g.nodes) - g.fn_count,
        "node_counts": counts,
        "dot": dot_path,
    }


def _to_leaf(name: str, value: Any, requires_grad: bool, text: str):
    import torch

    from pttui.engine.safe_eval import param_error

    if isinstance(value, torch.Tensor):
        t = value.detach().clone()
        if requires_grad and not (t.is_floating_point() or t.is_complex()):
            raise param_error(
                "leaves",
                text,
                f"{name} is {str(t.dtype).replace('torch.', '')}: only floating point or complex "
                "tensors can require gradients (add .float(), or write 1.0 rather than 1)",
            )
    else:
        try:
            t = torch.tensor(value)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise param_error("leaves", text, f"{name}: not numbers ({exc})") from None
        if not (t.is_floating_point() or t.is_complex()):
            t = t.to(torch.get_default_dtype())  # [1, 2, 3] means floats here, as in the script
    return t.requires_grad_(requires_grad)


def _check_output(out, leaves: dict[str, Any], values: dict[str, Any]) -> None:
    import torch

    from pttui.engine.safe_eval import param_error

    expr = values["expr"]
    if not isinstance(out, torch.Tensor):
        raise param_error("expr", expr, f"the output must be one tensor; this gives a {type(out).__name__}")
    if out.requires_grad:
        return
    if not leaves:
        raise param_error(
            "leaves", values["leaves"], "no leaf is given: name at least one, e.g. x = [1.0, 2.0]"
        )
    if not values["requires_grad"]:
        raise param_error(
            "requires_grad", False, "no leaf requires grad, so autograd recorded no graph: set it to true"
        )
    if not (out.is_floating_point() or out.is_complex()):
        raise param_error(
            "expr",
            expr,
            f"the output is {str(out.dtype).replace('torch.', '')}: the op that made it is not "
            "differentiable (argmax, comparisons, integer results), so there is no graph",
        )
    raise param_error(
        "expr",
        expr,
        "the output does not depend on any leaf that requires grad "
        "(it uses none of them, or only through .detach() / .data)",
    )


def _short(t) -> str:
    import torch

    with torch._tensor_str.printoptions(threshold=12, edgeitems=2, precision=4, linewidth=80):
        text = str(t)
    return " ".join(text.split())


def leaf_lines(values: dict[str, Any]) -> list[str]:
    """The leaves as plain PyTorch, converted the way `run` converts them."""
    try:
        specs = parse_leaves(values["leaves"])
    except ValueError as exc:
        return [f"# {exc}"]
    lines = []
    grad = ", requires_grad=True" if values["requires_grad"] else ""
    for name, text, literal in specs:
        value = " ".join(text.split())
        if literal:
            dtype = "" if _has_float(text) else ", dtype=torch.float32"
            lines.append(f"{name} = torch.tensor({value}{dtype}{grad})")
        else:
            req = ".requires_grad_(True)" if values["requires_grad"] else ""
            lines.append(f"{name} = ({value}).detach().clone(){req}")
    return lines


def code(values: dict[str, Any]) -> str:
    from pttui.engine.codegen import one_line

    try:
        names = [n for n, _, _ in parse_leaves(values["leaves"])]
    except ValueError:
        names = []
    params = ", ".join(f"{n!r}: {n}" for n in names)
    grads = "\n".join(f'print("{n}.grad =", {n}.grad)' for n in names)
    return f'''"""autograd: the plain PyTorch that pttui runs for these values."""

import torch
import torch.nn.functional as F


def show(fn, depth=0, seen=None):
    """Print the graph under `fn` as an indented tree, each node once (pttui's Graph tab)."""
    seen = set() if seen is None else seen
    pad = "  " * depth
    if fn in seen:
        print(pad + type(fn).__name__ + " (drawn above)")
        return
    seen.add(fn)
    print(pad + type(fn).__name__)
    if hasattr(fn, "variable"):  # AccumulateGrad: the leaf whose .grad it fills
        print(pad + "  leaf", tuple(fn.variable.shape))
    for next_fn, _ in fn.next_functions:
        if next_fn is not None:
            show(next_fn, depth + 1, seen)


torch.manual_seed({values["seed"]})
{chr(10).join(leaf_lines(values))}
out = {one_line(values["expr"])}
if out.grad_fn is not None:
    show(out.grad_fn)
out.backward(torch.ones_like(out))  # a non-scalar output needs a gradient to start from
{grads}
# To draw it: pip install torchviz, then
# from torchviz import make_dot; make_dot(out, params={{{params}}}).render("graph")
'''


LAB = Lab(
    name="autograd",
    title="Autograd",
    summary="the graph of grad_fn nodes behind a tensor, backward(), and the leaves' gradients",
    order=2,
    params=PARAMS,
    run=run,
    code=code,
)
