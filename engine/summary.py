"""What a model is made of: parameter totals, a per-layer shape trace, and torchsummary's table.

The totals always come from `model.parameters()`, because torchsummary's do not: it counts
only attributes named `weight` and `bias` of submodules, so an LSTM's `weight_ih_l0` or a
custom `nn.Parameter` on the model itself are missed. The shape trace uses forward hooks and
copes with tuple and dict outputs. torchsummary's own table is kept (people know it) but it
defaults to CUDA and prints to stdout, so it is called with the model's device and its
output is captured; where it fails or miscounts, `problem` says so in one line.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from pttui.engine.params import ParamError

MiB = 1 << 20


@dataclass
class Layer:
    name: str
    kind: str  # the module's class
    output: str  # shapes of what it returned: "(1, 10)", "((1, 5, 32), ((1, 1, 32), (1, 1, 32)))"
    params: int  # its own parameters (not its children's)
    leaf: bool
    plain: bool = True  # returned one tensor (torchsummary copes with nothing else)


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
            ["params size (MB)", round(self.param_bytes / MiB, 4)],
            ["buffers size (MB)", round(self.buffer_bytes / MiB, 4)],
            ["input size (MB)", round(self.input_bytes / MiB, 4)],
            ["activations, forward (MB)", round(self.activation_bytes / MiB, 4)],
            ["forward/backward pass (MB)", round(2 * self.activation_bytes / MiB, 4)],
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
        items = [i for i in re.split(r"[,\sx×]+", part.strip()) if i]
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
        dims = tuple(value.shape)
        return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"
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
    """Run one forward pass with a hook on every module: (layers in call order, bytes, output)."""
    import torch

    layers: list[Layer] = []
    activation = 0
    names = {m: n for n, m in model.named_modules()}
    handles = []

    def hook(module, _inputs, output):
        nonlocal activation
        leaf = not any(True for _ in module.children())
        own = sum(p.numel() for p in module.parameters(recurse=False))
        name = names.get(module, "?") or type(module).__name__
        plain = isinstance(output, torch.Tensor)
        layers.append(Layer(name, type(module).__name__, describe(output), own, leaf, plain))
        if leaf:
            activation += _tensor_bytes(output)

    for module in model.modules():
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
    return layers, activation, describe(output)


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
        text, problem = torchsummary_report(model, shapes, device, total, layers)
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


def torchsummary_report(model, shapes, device: str, total: int, layers: list[Layer]) -> tuple[str, str]:
    """torchsummary's printed table (captured) and a one-line problem, or "" when it is right."""
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
    match = re.search(r"Total params: ([\d,]+)", text)
    counted = int(match.group(1).replace(",", "")) if match else None
    if counted is not None and counted != total:
        return text, (
            f"torchsummary counts {counted:,} parameters but the model has {total:,}: it counts only "
            "submodules' `weight` and `bias` (each time a module runs); the totals here come from model.parameters()"
        )
    return text, ""
