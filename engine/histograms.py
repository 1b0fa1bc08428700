"""Inside the network: each layer's weights and gradients as histograms, and its health.

TensorBoard's histograms, plus the two figures Karpathy's "recipe" checks by hand: each
layer's gradient norm and its update/weight ratio (|lr * update| / |w|, healthy near 1e-3).
The ratio needs the weights before an update: they are copied one step before a histogram
is due, so no hook inside the optimizer step is needed.
"""

from __future__ import annotations

import time

import torch

from pttui.engine import events as ev
from pttui.engine.train import Hooks

BINS = 24
MIN_INTERVAL_S = 1.0  # whatever N is, at most one set a second
BYTES_PER_S = 6_500  # and at most ~0.4 MB a minute of them in the run record (deep models: rarer sets)


def layers(model: torch.nn.Module) -> list[tuple[str, list[torch.nn.Parameter]]]:
    """(name, own parameters) of every module that holds parameters itself, in model order. A
    parameter shared by two modules (tied weights) is counted in the first, as parameters() does."""
    found = []
    seen: set[int] = set()
    for name, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad and id(p) not in seen]
        seen.update(id(p) for p in own)
        if own:
            found.append((name or type(module).__name__, own))
    return found


def histogram(values: torch.Tensor, bins: int = BINS) -> dict[str, list]:
    """{"edges": bins + 1 floats, "counts": bins ints} spanning min..max; counts sum to numel."""
    values = values.detach().float()
    finite = values[torch.isfinite(values)]
    if finite.numel() == 0:
        return {"edges": [0.0, 1.0], "counts": [0]}
    lo, hi = finite.min().item(), finite.max().item()
    if hi <= lo:  # all equal (a zero-initialised bias): one bin around the value
        lo, hi = lo - 0.5, hi + 0.5
    counts = torch.histc(finite, bins=bins, min=lo, max=hi)
    edges = torch.linspace(lo, hi, bins + 1)
    return {"edges": [float(f"{e:.5g}") for e in edges.tolist()], "counts": [int(c) for c in counts.tolist()]}


def layer_events(
    model, step: int, t: float, before: dict[str, torch.Tensor] | None = None
) -> list[ev.Histogram]:
    """One `histogram` event per layer; `before` (layer -> flat weights one update earlier)
    gives the update/weight ratio."""
    out = []
    for name, params in layers(model):
        flat = torch.cat([p.detach().reshape(-1) for p in params])
        grads = [p.grad.detach().reshape(-1) for p in params if p.grad is not None]
        g = torch.cat(grads) if grads else None
        ratio = None
        if before is not None and name in before:
            norm = flat.float().norm().item()
            ratio = (flat.float() - before[name]).norm().item() / norm if norm > 0 else None
        out.append(
            ev.Histogram(
                t,
                name,
                step,
                flat.numel(),
                histogram(flat),
                histogram(g) if g is not None else None,
                g.float().norm().item() if g is not None else None,
                ratio,
            )
        )
    return out


def _flat_weights(model) -> dict[str, torch.Tensor]:
    return {
        name: torch.cat([p.detach().reshape(-1) for p in params]).float().clone()
        for name, params in layers(model)
    }


class HistogramHook(Hooks):
    """Every `every` steps (and at most once per MIN_INTERVAL_S), a set of layer histograms,
    and the trained network's own set at `final_step`, so even a short run shows where it ended.

    A set needs the weights from one update earlier for its update/weight ratio, so the hook
    copies them at the step before a set is due (a multiple of `every` once the throttle
    allows, or `final_step`) and sends the set at the next step: every set carries its ratio.
    """

    def __init__(self, ctx, model, every: int, writer=None, final_step: int | None = None):
        self.ctx, self.model, self.every, self.writer = ctx, model, every, writer
        self.final_step = final_step  # the run's last step when it runs to the end
        self.next_at = -1e9  # perf_counter time when the next set may come
        self.before: tuple[int, dict[str, torch.Tensor]] | None = None  # (step, weights then)
        self.sets = 0
        self.last_step = -1  # the step of the last set sent
        self.seconds = 0.0

    def on_step_end(self, step: int, loss: torch.Tensor) -> None:
        started = time.perf_counter()
        if self.before is not None and self.before[0] == step - 1:  # a set is due now
            before, self.before = self.before[1], None
            size = self._send(step, before)
            self.next_at = started + max(MIN_INTERVAL_S, size / BYTES_PER_S)
        if (
            (step + 1) % self.every == 0 and time.perf_counter() >= self.next_at
        ) or step + 1 == self.final_step:
            self.before = (step, _flat_weights(self.model))  # the next step's set measures its update
        self.seconds += time.perf_counter() - started

    def finish(self, step: int) -> None:
        """The set of the trained network at its last `step`, unless it was just sent (a run
        stopped early: without the ratio, the weights before that update were not kept). One
        set a run, outside the throttle: the record grows by one set's bytes, not a rate."""
        if step <= 0 or step == self.last_step:
            return
        started = time.perf_counter()
        self._send(step, None)
        self.seconds += time.perf_counter() - started

    def _send(self, step: int, before: dict[str, torch.Tensor] | None) -> int:
        """Emits one set (one event per layer); returns its size in the record, in bytes."""
        events = layer_events(self.model, step, self.ctx.now(), before)
        size = 0
        for event in events:
            self.ctx.emit(event)
            size += len(event.to_json()) + 1
        if self.writer is not None:
            write_tensorboard(self.writer, self.model, events)
        self.sets += 1
        self.last_step = step
        return size


def write_tensorboard(writer, model, events: list[ev.Histogram]) -> None:
    """The same figures as TensorBoard histograms and scalars (torch.utils.tensorboard)."""
    params = dict(layers(model))
    for e in events:
        flat = torch.cat([p.detach().reshape(-1) for p in params[e.layer]]).float().cpu()
        writer.add_histogram(f"{e.layer}/weights", flat, e.step)
        grads = [p.grad.detach().reshape(-1) for p in params[e.layer] if p.grad is not None]
        if grads:
            writer.add_histogram(f"{e.layer}/grads", torch.cat(grads).float().cpu(), e.step)
        if e.grad_norm is not None:
            writer.add_scalar(f"{e.layer}/grad_norm", e.grad_norm, e.step)
        if e.update_ratio is not None:
            writer.add_scalar(f"{e.layer}/update_ratio", e.update_ratio, e.step)
