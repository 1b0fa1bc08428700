"""What a model is made of: parameter totals, a per-layer shape trace, and torchsummary's table.

The totals always come from `model.parameters()`, because torchsummary's do not: it counts
only attributes named `weight` and `bias` of submodules, so an LSTM's `weight_ih_l0` or a
custom `nn.Parameter` on the model itself are missed, and it calls a layer trainable when its
`weight` is, whatever its bias. The shape trace uses forward hooks and copes with tuple and
dict outputs. torchsummary's own table is kept (people know it) but it defaults to CUDA and
prints to stdout, so it is called with the model's device and its output is captured; it is
called right only when its total, trainable and non-trainable counts all agree with
`model.parameters()`, and otherwise `problem` says which figures it got wrong.

The rows agree with `model.parameters()` as torchinfo's do: every parameter is in exactly one
row (the first module call that owns it; a tied weight once), and parameters no module's own
forward touched (MultiheadAttention's `out_proj`, used inside its parent's forward) get a row
that says so. So the rows always sum to the total.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from pttui.engine import numbers
from pttui.engine.params import ParamError

MiB = 1 << 20


@dataclass
class Layer:
    name: str
    kind: str  # the module's class
    output: str  # shapes of what it returned: "(1, 10)", "((1, 5, 32), ((1, 1, 32), (1, 1, 32)))"
    params: int  # its own parameters (not its children's), counted once over all rows
    leaf: bool  # no submodule ran inside this call: its output counts as an activation
    plain: bool = True  # returned one tensor (torchsummary copes with nothing else)
    trainable: int = 0  # of `params`, those with requires_grad
    note: str = ""  # why a row's count is not simply its own parameters ("" when it is)


@dataclass
class Summary:
    total_params: int
    trainable_params: int
    param_bytes: int
    buffer_bytes: int
    input_bytes: int
    activation_bytes: int  # outputs of the leaf modules in one forward pass
    layers: list[Layer] = field(default_factory=list)
    output: str = ""
    torchsummary_text: str = ""
    problem: str = ""  # why torchsummary's table is missing or wrong; "" when it is right
    warnings: list[str] = field(default_factory=list)

    def totals_rows(self) -> list[list[Any]]:
        return [
            ["total params", self.total_params],
            ["trainable params", self.trainable_params],
            ["non-trainable params", self.total_params - self.trainable_params],
            ["params size", numbers.quantity(self.param_bytes, "B")],
            ["buffers size", numbers.quantity(self.buffer_bytes, "B")],
            ["input size", numbers.quantity(self.input_bytes, "B")],
            ["activations, forward", numbers.quantity(self.activation_bytes, "B")],
            ["forward/backward pass", numbers.quantity(2 * self.activation_bytes, "B")],
        ]

    def result(self) -> dict[str, Any]:
        return {
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "param_mb": self.param_bytes / MiB,
            "activation_mb": self.activation_bytes / MiB,
            "output": self.output,
            "torchsummary": "ok" if not self.problem else self.problem,
        }


def parse_shapes(text: str, field_name: str = "input_shape") -> list[tuple[int, ...]]:
    """`1,784` -> [(1, 784)]; `1,10; 1,5` -> two inputs. Batch first; every size at least 1."""
    shapes = []
    for part in [p for p in re.split(r"[;|]", text) if p.strip()]:
        items = re.split(r"\s*[,x×]\s*|\s+", part.strip())  # "1,,784" is a typo: its empty item is refused
        if not items or not all(re.fullmatch(r"\d{1,9}", i) for i in items) or len(items) > 8:
            raise ParamError(field_name, text, "sizes like 1,784 (batch first); several inputs as 1,10; 1,5")
        shape = tuple(int(i) for i in items)
        if min(shape) < 1:
            raise ParamError(field_name, text, "sizes of at least 1")
        shapes.append(shape)
    if not shapes:
        raise ParamError(field_name, text, "sizes like 1,784 (batch first); several inputs as 1,10; 1,5")
    numel = sum(_prod(s) for s in shapes)
    if numel > 50_000_000:
        raise ParamError(field_name, text, "inputs of at most 50,000,000 numbers in all")
    return shapes


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def describe(value: Any) -> str:
    """Shapes inside whatever a module returned (tensors, tuples, lists, dicts)."""
    import torch

    if isinstance(value, torch.Tensor):
        return numbers.shape(value.shape)  # a tuple of outputs stays "(...)" around them
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(describe(v) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    return type(value).__name__


def _tensor_bytes(value: Any) -> int:
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def trace(model, inputs: list[Any]) -> tuple[list[Layer], int, str]:
    """Run one forward pass with hooks on every module: (rows in call order, bytes, output).

    Rows are module calls, in the order they returned, then one row per module whose
    parameters no call counted. Each parameter is counted in exactly one row, so the rows'
    `params` sum to `sum(p.numel() for p in model.parameters())`. Activation bytes are the
    outputs of calls inside which no submodule ran (leaves, and parents such as
    MultiheadAttention whose children are used functionally).
    """
    import torch

    layers: list[Layer] = []
    activation = 0
    names: dict[Any, str] = {}
    for n, m in model.named_modules():
        names.setdefault(m, n)
    counted: dict[int, str] = {}  # id(parameter) -> the row that counted it
    calls: list[list[bool]] = []  # one frame per module call in progress: [a child ran]
    ran: set[str] = set()
    handles = []

    def pre_hook(module, _inputs):
        if calls:
            calls[-1][0] = True
        calls.append([False])

    def hook(module, _inputs, output):
        nonlocal activation
        child_ran = calls.pop()[0] if calls else False
        key = names.get(module, "?")
        name = key or type(module).__name__
        own = trainable = 0
        shared = []
        for p in module.parameters(recurse=False):
            if id(p) in counted:
                shared.append(counted[id(p)])
                continue
            counted[id(p)] = name
            own += p.numel()
            trainable += p.numel() if p.requires_grad else 0
        note = ""
        if key in ran and any(True for _ in module.parameters(recurse=False)):
            note = "called again: its parameters are counted at its first call"
        elif shared:
            note = f"shares parameters with {', '.join(sorted(set(shared)))}: counted there"
        ran.add(key)
        plain = isinstance(output, torch.Tensor)
        layers.append(
            Layer(name, type(module).__name__, describe(output), own, not child_ran, plain, trainable, note)
        )
        if not child_ran:
            activation += _tensor_bytes(output)

    for module in model.modules():
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()  # batch 1 through BatchNorm would fail in training mode
    try:
        with torch.no_grad():
            output = model(*inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    layers.extend(_uncalled_rows(model, counted, ran))
    return layers, activation, describe(output)


def _uncalled_rows(model, counted: dict[int, str], ran: set[str]) -> list[Layer]:
    """Rows for parameters of modules whose own forward never ran (counted into `counted`)."""
    rows = []
    for name, module in model.named_modules():
        own = trainable = 0
        for p in module.parameters(recurse=False):
            if id(p) not in counted:
                counted[id(p)] = name
                own += p.numel()
                trainable += p.numel() if p.requires_grad else 0
        if not own:
            continue
        parts = name.split(".")
        users = [".".join(parts[:i]) for i in range(len(parts) - 1, -1, -1)]
        user = next((u for u in users if u in ran), None)
        if user is not None:
            shown = user or type(model).__name__
            note = f"not called itself: its parameters, if used at all, are used inside {shown}'s forward"
        else:
            note = "not called in this forward pass"
        rows.append(
            Layer(name or type(model).__name__, type(module).__name__, "-", own, True, True, trainable, note)
        )
    return rows


def _first_param_device(model) -> str:
    for p in model.parameters():
        return str(p.device)
    return "cpu"


def summarize(
    model, shapes: list[tuple[int, ...]], device: str | None = None, inputs: list[Any] | None = None
) -> Summary:
    """Totals from the parameters, the hook trace, and torchsummary's table where it copes.

    `inputs` are the tensors to trace with (default: uniform floats of `shapes`)."""
    import torch

    device = device or _first_param_device(model)
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    param_bytes = sum(p.numel() * p.element_size() for p in params)
    buffer_bytes = sum(b.numel() * b.element_size() for b in model.buffers())
    if inputs is None:
        inputs = [torch.rand(*s, device=device) for s in shapes]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layers, activation, output = trace(model, inputs)
        text, problem = torchsummary_report(model, shapes, device, total, layers, trainable)
    summary = Summary(
        total,
        trainable,
        param_bytes,
        buffer_bytes,
        sum(t.numel() * t.element_size() for t in inputs),
        activation,
        layers,
        output,
        text,
        problem,
    )
    summary.warnings = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return summary


def torchsummary_report(
    model, shapes, device: str, total: int, layers: list[Layer], trainable: int | None = None
) -> tuple[str, str]:
    """torchsummary's printed table (captured) and a one-line problem, or "" when it is right.

    Right means its total, trainable and non-trainable counts all equal those of
    `model.parameters()` (`total`, `trainable`; `trainable` defaults to `total`). When one
    differs, the table comes back with a last line saying which, and `problem` names them.
    """
    trainable = total if trainable is None else trainable
    kind = str(device).split(":")[0]
    if kind not in ("cpu", "cuda"):
        return (
            "",
            f"torchsummary runs only on cpu or cuda, not {kind}: the totals come from model.parameters()",
        )
    try:
        from torchsummary import summary as ts_summary
    except ImportError:
        return "", "torchsummary is not installed: the totals come from model.parameters()"
    odd = [layer for layer in layers if not layer.plain]
    sizes = [tuple(s[1:]) for s in shapes]
    out = io.StringIO()
    # torchsummary removes its hooks only when it succeeds: keep the model's own to put back.
    hooks = {m: dict(m._forward_hooks) for m in model.modules()}
    try:
        with contextlib.redirect_stdout(out):
            ts_summary(model, sizes[0] if len(sizes) == 1 else sizes, device=kind)
    except Exception as exc:
        for module, own in hooks.items():
            module._forward_hooks.clear()
            module._forward_hooks.update(own)
        if odd:
            reason = f"{odd[0].name} ({odd[0].kind}) returns {odd[0].output}: it handles only tensor outputs"
        elif len(shapes) > 1:
            reason = "it does not cope with several inputs"
        else:
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        return (
            "",
            f"torchsummary cannot summarise this model ({reason}); the totals come from model.parameters()",
        )
    text = out.getvalue()
    got = _torchsummary_counts(text)
    want = {"total": total, "trainable": trainable, "non-trainable": total - trainable}
    wrong = [name for name in want if got.get(name) is not None and got[name] != want[name]]
    if not wrong:
        rows = _torchsummary_rows(text)
        named = {name for name, _ in model.named_modules() if name}
        # its rows, in call order, against pttui's (each parameter once): equal totals can hide a
        # layer counted at each of two calls and another layer it never saw
        ours = [layer.params for layer in layers if layer.name in named and layer.output != "-"]
        unseen = sum(layer.params for layer in layers if layer.output == "-")
        if rows is None or ([n for n in rows if n] == [n for n in ours if n] and not unseen):
            return text, ""
        footer = (
            "\npttui: torchsummary's total is right here only by chance: its rows count a layer at "
            "every call and miss layers that never ran. The rows shown by pttui count each parameter once."
        )
        return text.rstrip() + "\n" + footer, (
            "torchsummary's totals agree, but its rows do not: it counts a layer at every call and "
            "misses layers that never ran"
        )
    said = ", ".join(f"{name} params {got[name]:,} (model.parameters(): {want[name]:,})" for name in wrong)
    why = (
        "it counts only submodules' `weight` and `bias`, each time a module runs"
        if "total" in wrong
        else "it calls a layer trainable or frozen by its `weight` alone"
    )
    footer = f"\npttui: torchsummary is wrong here: {said}. The totals shown by pttui come from model.parameters()."
    return text.rstrip() + "\n" + footer, f"torchsummary is wrong: {said}; {why}"


def _torchsummary_rows(text: str) -> list[int] | None:
    """The Param # of each row of torchsummary's table, in its order; None when none is found."""
    rows = [
        int(m.group(1).replace(",", ""))
        for m in re.finditer(r"^\s+\S+-\d+\s+.*?\s(-?[\d,]+)\s*$", text, re.MULTILINE)
    ]
    return rows or None


def _torchsummary_counts(text: str) -> dict[str, int]:
    """The three counts torchsummary printed: {"total", "trainable", "non-trainable"}."""
    found = {}
    for name, label in (("total", "Total"), ("trainable", "Trainable"), ("non-trainable", "Non-trainable")):
        match = re.search(rf"^{label} params: (-?[\d,]+)", text, re.MULTILINE)
        if match:
            found[name] = int(match.group(1).replace(",", ""))
    return found
