"""The quantization variants of a float model, and the quiet room they are made in.

Each variant is one classic recipe: dynamic int8 (`quantize_dynamic`), static post-training
int8 (QuantStub/DeQuantStub, the active engine's qconfig, prepare, calibrate, convert), and
torchao's int8 weight-only `quantize_` where torchao is installed. `upscale` and `QuantReady`
are self-contained because the code view copies them into the exported script.

`torch.ao.quantization` warns that it is deprecated, and importing torchao prints messages
from its C extensions straight to file descriptor 2: every step that can print runs inside
`captured()` (pttui.engine.quiet), and the lab shows one note.
"""

from __future__ import annotations

import copy
import itertools
import os

import torch
import torch.nn.functional as F
from torch import nn


def upscale(x, side):
    """8x8 digits (rows of 64 values) resized to side x side, flattened: 28 gives MNIST's 784."""
    images = torch.from_numpy(x).view(-1, 1, 8, 8)
    return F.interpolate(images, size=(side, side), mode="bilinear", align_corners=False).flatten(1).numpy()


class QuantReady(nn.Module):
    """The float model between a QuantStub and a DeQuantStub: where int8 begins and ends."""

    def __init__(self, model):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.model = model
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.model(self.quant(x)))


def dynamic_int8(model: nn.Module) -> nn.Module:
    """Weights stored in int8; activations quantized on the fly, batch by batch."""
    return torch.ao.quantization.quantize_dynamic(
        copy.deepcopy(model), {nn.Linear, nn.LSTM}, dtype=torch.qint8
    )


def has_dynamic_layers(model: nn.Module) -> bool:
    """Whether quantize_dynamic has anything to convert (nn.Linear or LSTM layers)."""
    return any(isinstance(m, (nn.Linear, nn.LSTM)) for m in model.modules())


def check_runs(model: nn.Module, x: torch.Tensor, output_key: str = "") -> None:
    """One forward of a converted model; raises what it raises (quantized tensors meet the
    model's own float ops), and a TypeError when no tensor comes out."""
    from pttui.engine.usermodel import prediction

    if prediction(model(x), output_key) is None:
        raise TypeError("the converted model returns no tensor")


def static_refusal(exc: BaseException) -> str:
    """Why eager static int8 could not run on a person's model, in one line."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return (
        f"eager-mode static int8 needs QuantStub/DeQuantStub inside the model's forward and ops that take "
        f"quantized tensors; wrapped from outside, this model failed ({type(exc).__name__}: {first})"
    )


def relu_pairs(model: nn.Module, prefix: str = "") -> list[list[str]]:
    """Names of each Linear directly followed by a ReLU (fused into one int8 op)."""
    pairs = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (a, first), (b, second) in itertools.pairwise(children):
                if isinstance(first, nn.Linear) and isinstance(second, nn.ReLU):
                    base = f"{prefix}{name}." if name else prefix
                    pairs.append([base + a, base + b])
    return pairs


def static_int8(model: nn.Module, engine: str, calibration) -> nn.Module:
    """The eager-mode recipe: stubs, fuse, qconfig, prepare (observers), calibrate, convert."""
    q = torch.ao.quantization
    ready = QuantReady(copy.deepcopy(model)).eval()
    pairs = relu_pairs(ready.model, "model.")
    if pairs:
        q.fuse_modules(ready, pairs, inplace=True)
    ready.qconfig = q.get_default_qconfig(engine)
    q.prepare(ready, inplace=True)
    with torch.inference_mode():
        for xb in calibration:  # the observers record each activation's range
            ready(xb)
    return q.convert(ready, inplace=True)


def torchao_int8_weight_only(model: nn.Module) -> nn.Module:
    """torchao's successor API: int8 weights as a tensor subclass, activations in float."""
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    quantized = copy.deepcopy(model)
    quantize_(quantized, Int8WeightOnlyConfig())
    return quantized


def torchao_version() -> str | None:
    """torchao's version when it imports here, else None (the import itself prints: capture it)."""
    try:
        import torchao
    except Exception:  # not installed, or built for another torch
        return None
    return getattr(torchao, "__version__", "?")


def size_mb(model: nn.Module, folder: str, name: str) -> float:
    """Size on disk of the model's saved state_dict, in MB of 2^20 bytes (MiB), as every `_mb` figure
    of pttui is (engine.numbers scales them so)."""
    # Always model.pt, in a folder per variant: torch.save names the zip's entries after the
    # file, so the name would change the size (by ~20 bytes per tensor) and no longer agree
    # with the exported script's, which saves to model.pt.
    os.makedirs(os.path.join(folder, name), exist_ok=True)
    path = os.path.join(folder, name, "model.pt")
    torch.save(model.state_dict(), path)
    return os.path.getsize(path) / 2**20
