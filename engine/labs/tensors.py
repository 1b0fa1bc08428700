"""The tensors topic: what a tensor is made of (shape, dtype, device, strides, memory).

A person types a tensor expression; it is evaluated over an allow-list (engine.safe_eval),
never with eval(), because the app may be served to a browser. The lab shows the result's
anatomy, how the shapes in an operation broadcast, and what a `.to(dtype, device)` costs.
"""

from __future__ import annotations

import time
from typing import Any

from pttui.engine import common, numbers
from pttui.engine.lab import Lab
from pttui.engine.params import DEVICE_WORDS, Param, is_device

DTYPES = (
    "keep",
    "float32",
    "float64",
    "float16",
    "bfloat16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
    "complex64",
    "complex128",
)

EXPR = Param(
    "expr",
    "str",
    "torch.tensor([1., 2., 3.]) + torch.tensor([4., 5., 6.])",
    "a tensor expression: torch functions, tensor methods, numbers, lists, arithmetic, indexing",
    max_len=2000,
)
DTYPE = Param(
    "dtype", "choice", "keep", "convert the result to this dtype with .to() (keep: no change)", DTYPES
)
TARGET = Param(
    "device",
    "str",
    "keep",
    "move the result to this device with .to() (keep: no move)",
    max_len=10,
    check=lambda v: None if is_device(v.strip().lower(), "keep") else "keep, " + DEVICE_WORDS,
)
PARAMS = (EXPR, DTYPE, TARGET, common.MAX_MB, common.SEED)


def run(values: dict[str, Any], ctx) -> dict[str, Any]:
    import torch

    from pttui.engine import devices, safe_eval

    target = values["device"].strip().lower()
    if target != "keep":
        target = devices.choose_device(target, devices.Available.probe())  # ParamError lists what is here
    ctx.start("cpu" if target == "keep" else target)
    torch.manual_seed(values["seed"])  # torch.randn(...) gives the same values as the script
    from pttui.engine.bounds import capped_limit

    evaluator = safe_eval.Evaluator(limit=capped_limit(values["max_mb"], ctx.warn))
    try:
        result = evaluator.evaluate(values["expr"])
    except safe_eval.ExpressionError as exc:
        raise safe_eval.param_error("expr", values["expr"], str(exc)) from None
    for message in evaluator.warnings:
        ctx.warn(message)
    if evaluator.broadcasts:
        _show_broadcasts(ctx, evaluator.broadcasts)
    if not isinstance(result, torch.Tensor):
        ctx.text("result", f"{result!r}  (a Python {type(result).__name__}, not a tensor)", pane="summary")
        return {
            "type": type(result).__name__,
            "value": repr(result),
            "shape": None,
            "dtype": None,
            "device": None,
        }

    ctx.table("tensor", ["property", "value"], _anatomy(result))
    ctx.text("values", _preview(result), pane="summary")
    out = {**_facts(result), "broadcasts": [_broadcast_dict(b) for b in evaluator.broadcasts]}
    if values["dtype"] != "keep" or target != "keep":
        converted, conversion = _convert(result, values["dtype"], target, evaluator, ctx)
        out.update(_facts(converted))
        out["conversion"] = conversion
        ctx.text("values after .to()", _preview(converted), pane="summary")
    return out


def _facts(t) -> dict[str, Any]:
    return {
        "shape": list(t.shape),
        "dtype": str(t.dtype),
        "device": str(t.device),
        "strides": list(t.stride()),
        "contiguous": t.is_contiguous(),
        "numel": t.numel(),
        "bytes": t.numel() * t.element_size(),
        "requires_grad": t.requires_grad,
    }


def _anatomy(t) -> list[list[Any]]:
    storage = t.untyped_storage().nbytes()
    own = t.numel() * t.element_size()
    rows = [
        ["shape", numbers.shape(t.shape)],
        ["dtype", str(t.dtype)],
        ["device", str(t.device)],
        ["strides", numbers.shape(t.stride())],
        ["contiguous", t.is_contiguous()],
        ["numel", t.numel()],
        ["element size (bytes)", t.element_size()],
        ["bytes (numel × element size)", own],
        ["storage bytes", storage if storage == own else f"{storage:,} (shared with a view or base)"],
        ["requires_grad", t.requires_grad],
        ["is_leaf", t.is_leaf],
        ["grad_fn", type(t.grad_fn).__name__ if t.grad_fn is not None else "None"],
    ]
    return rows


def _preview(t) -> str:
    import torch

    with torch._tensor_str.printoptions(threshold=200, edgeitems=3, precision=4, linewidth=100):
        return str(t.detach())


def _broadcast_dict(b) -> dict[str, Any]:
    return {"op": b.text, "shapes": [list(s) for s in b.shapes], "result": list(b.result)}


def _show_broadcasts(ctx, broadcasts) -> None:
    rows = []
    for b in broadcasts:
        shapes = " & ".join(numbers.shape(s) for s in b.shapes)
        aligned = " & ".join(numbers.shape(s) for s in b.aligned())
        rows.append([b.text, shapes, aligned, numbers.shape(b.result)])
    ctx.table(
        "broadcasting",
        ["operation", "shapes", "lined up from the right (1s added)", "result"],
        rows,
        note="dimensions of size 1 stretch to match; other sizes must be equal",
    )


def _convert(t, dtype_name: str, device: str, evaluator, ctx):
    import torch

    from pttui.engine import safe_eval

    dtype = t.dtype if dtype_name == "keep" else getattr(torch, dtype_name)
    dev = t.device if device == "keep" else torch.device(device)
    after_bytes = t.numel() * torch.empty((), dtype=dtype).element_size()
    same = dtype == t.dtype and dev == t.device
    if not same and evaluator.allocated + after_bytes > evaluator.limit:
        field = "dtype" if dtype_name != "keep" else "device"
        raise safe_eval.param_error(
            field,
            dtype_name if field == "dtype" else device,
            f"the converted tensor would take {safe_eval.human_bytes(after_bytes)}; "
            f"the limit is {safe_eval.human_bytes(evaluator.limit)}",
        )
    start = time.perf_counter()
    converted = t.to(dtype=dtype, device=dev)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - start
    copied = converted.data_ptr() != t.data_ptr() or converted.device != t.device
    rows = [
        ["dtype", str(t.dtype), str(converted.dtype)],
        ["device", str(t.device), str(converted.device)],
        ["element size", t.element_size(), converted.element_size()],
        ["bytes", t.numel() * t.element_size(), converted.numel() * converted.element_size()],
    ]
    change = _max_change(t, converted)
    if change is not None:
        rows.append(["largest change in a value", "", change])
    note = (
        f"copied in {numbers.quantity(seconds, 's')}" if copied else ".to() returned the same tensor: no copy"
    )
    ctx.table("conversion with .to()", ["", "before", "after"], rows, note=note)
    return converted, {"seconds": seconds, "copied": copied, "max_change": change}


def _max_change(before, after) -> float | None:
    """How much the values moved (rounding, truncation, overflow): back-converted and compared."""
    import torch

    if before.numel() == 0 or before.numel() > 10_000_000 or before.is_complex() or after.is_complex():
        return None
    try:
        back = after.to(device=before.device, dtype=torch.float64)
        diff = (back - before.detach().to(torch.float64)).abs()
        value = float(diff.max())
    except RuntimeError:
        return None
    return value if value == value else None  # NaN in, NaN out: no figure


def code(values: dict[str, Any]) -> str:
    from pttui.engine.codegen import one_line

    expr = one_line(values["expr"])
    lines = [
        '"""tensors: the plain PyTorch that pttui runs for these values."""',
        "",
        "import time",
        "",
        "import torch",
        "import torch.nn.functional as F",
        "",
        f"torch.manual_seed({values['seed']})",
        f"result = {expr}",
        "print(result)",
        "if torch.is_tensor(result):",
        '    print("shape", list(result.shape))',
        '    print("dtype", result.dtype)',
        '    print("device", result.device)',
        '    print("strides", list(result.stride()), "contiguous", result.is_contiguous())',
        '    print("numel", result.numel(), "bytes", result.numel() * result.element_size())',
    ]
    target = values["device"].strip().lower()
    if values["dtype"] != "keep" or target != "keep":
        args = []
        if values["dtype"] != "keep":
            args.append(f"dtype=torch.{values['dtype']}")
        if target != "keep":
            args.append(f"device={target!r}")
        lines += [
            "    start = time.perf_counter()",
            f"    converted = result.to({', '.join(args)})",
            "    seconds = time.perf_counter() - start",
            '    print("after .to():", "dtype", converted.dtype, "device", converted.device,',
            '          "bytes", converted.numel() * converted.element_size(), f"in {seconds * 1e6:.0f} µs")',
        ]
    return "\n".join(lines) + "\n"


LAB = Lab(
    name="tensors",
    title="Tensors",
    summary="shape, dtype, device, strides and memory of a tensor expression; broadcasting; .to()",
    order=1,
    params=PARAMS,
    run=run,
    code=code,
    # The supervisor's backstop: bound checks refuse what would run long, this ends the rest.
    time_limit_s=300.0,
)
