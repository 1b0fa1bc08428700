"""The one training loop every training-like lab uses: straight and readable, like nanoGPT's.

What differs between labs (autocast, a GradScaler, a DistributedSampler's epoch, saving a
checkpoint) comes in through arguments and `Hooks`, never through copies of this loop.
Losses stay on the device and are read back in one batch about ten times a second, so the
loop never syncs per step.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from pttui.engine.context import Context
from pttui.engine.usermodel import prediction


class Hooks:
    """Points where a lab joins the loop. Each does nothing unless a lab overrides it."""

    def on_epoch_start(self, epoch: int) -> None:
        """Before the epoch's first batch (a DistributedSampler's `set_epoch` goes here)."""

    def on_step_end(self, step: int, loss: torch.Tensor) -> None:
        """After `optimizer.step()`; `loss` is still on the device (do not sync here)."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        """After validation, with the epoch's figures (checkpoints are saved here)."""


class HookList(Hooks):
    """Several hooks as one, called in order (a lab's checkpoints plus the views inside)."""

    def __init__(self, *hooks: Hooks | None):
        self.hooks = [h for h in hooks if h is not None]

    def on_epoch_start(self, epoch: int) -> None:
        for h in self.hooks:
            h.on_epoch_start(epoch)

    def on_step_end(self, step: int, loss: torch.Tensor) -> None:
        for h in self.hooks:
            h.on_step_end(step, loss)

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        for h in self.hooks:
            h.on_epoch_end(epoch, metrics)


def penalty(model, kind, rate):
    """TF Playground's regularization: a term added to the loss over the weights (not biases).

    l1: rate * sum |w|; l2: rate * sum w^2 / 2. Unlike Adam's weight_decay (added to the
    gradient, then rescaled by Adam's step size), this is part of the loss itself.
    """
    weights = [p for p in model.parameters() if p.dim() > 1]
    if kind == "l1":
        return rate * sum(w.abs().sum() for w in weights)
    return rate * 0.5 * sum((w * w).sum() for w in weights)


@dataclass
class TrainState:
    """Where training stands: epochs completed and optimizer steps taken (saved on resume)."""

    epoch: int = 0
    step: int = 0


def make_optimizer(name: str, params: Any, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


@torch.no_grad()
def evaluate(model, x, y, chunk=4096):
    """Mean cross-entropy and accuracy over (x, y), in chunks so big sets fit in memory."""
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(x), chunk):
        logits = model(x[i : i + chunk]).float()
        loss_sum += F.cross_entropy(logits, y[i : i + chunk], reduction="sum").item()
        correct += (logits.argmax(1) == y[i : i + chunk]).sum().item()
    model.train()
    return loss_sum / len(x), correct / len(x)


def task_loss(output, target, task="classification", output_key=""):
    """The loss of a model's output (see `prediction`): cross-entropy on class indices for
    classification, MSE on float targets for regression (targets take the prediction's shape
    when they hold as many numbers: (N, 1) targets for an (N,) prediction)."""
    pred = prediction(output, output_key)
    if task == "regression":
        if pred.shape != target.shape and pred.numel() == target.numel():
            target = target.reshape(pred.shape)
        return F.mse_loss(pred.float(), target)
    return F.cross_entropy(pred, target)


@torch.no_grad()
def evaluate_task(model, x, y, task="classification", output_key="", chunk=4096):
    """Mean loss over (x, y), and accuracy for classification (None for regression), in chunks."""
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(x), chunk):
        pred = prediction(model(x[i : i + chunk]), output_key).float()
        yb = y[i : i + chunk]
        if task == "regression":
            loss_sum += task_loss(pred, yb, task).item() * yb.numel()
        else:
            loss_sum += F.cross_entropy(pred, yb, reduction="sum").item()
            correct += (pred.argmax(1) == yb).sum().item()
    model.train()
    if task == "regression":
        return loss_sum / y.numel(), None
    return loss_sum / len(x), correct / len(x)


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Any,
    val: tuple[torch.Tensor, torch.Tensor],
    ctx: Context,
    epochs: int,
    device: str = "cpu",
    autocast_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    hooks: Hooks | None = None,
    state: TrainState | None = None,
    series: str = "train",
    rank: int | None = None,
    emit_every_s: float = 0.1,
    max_steps: int | None = None,
    regularization: tuple[str, float] | None = None,
    loss_fn: Any = None,
    evaluator: Any = None,
) -> dict[str, float]:
    """Train for `epochs` (from `state.epoch`), emitting step and epoch events; returns the
    last epoch's losses and accuracy, with the whole run's speed: `samples_per_s` (samples
    trained / `train_seconds`, None when no step ran) and `train_seconds` (the training loop's
    time in all: evaluation, pauses and pace excluded). Each epoch event carries that epoch's
    own speed and time (`samples_per_s`, `seconds`). Stops at the next step once `ctx.stopped` is set, and after
    `max_steps` optimizer steps in all when given (that last, short epoch is still evaluated
    and reported: the run ended there on purpose). Holds between steps while the run is paused
    or paced (`Context.proceed`).

    `regularization` ("l1" or "l2", rate) adds `penalty` to the loss that is minimised; the
    step events still report the data loss, which is what val_loss compares with.

    `loss_fn(output, target)` and `evaluator(model, x, y)` default to cross-entropy and
    `evaluate` (the built-ins); a person's data or model brings `task_loss` and `evaluate_task`."""
    hooks = hooks or Hooks()
    state = state or TrainState()
    device_type = torch.device(device).type
    metrics: dict[str, float] = {}
    batch_count = len(batches)
    steps_total = batch_count * epochs if max_steps is None else min(batch_count * epochs, max_steps)
    run_seen, run_seconds = 0, 0.0
    for epoch in range(state.epoch, epochs):
        hooks.on_epoch_start(epoch)
        model.train()
        pending: list[tuple[int, torch.Tensor]] = []
        losses: list[float] = []
        seen = 0
        started = last_emit = time.perf_counter()
        held_before = ctx.held_s
        hold = functools.partial(_flush, ctx, pending, losses, epoch, series, rank)  # before a pause

        for xb, yb in batches:
            # Stop, pause, single step and pace all act here, between two optimizer steps.
            if not ctx.proceed(hold):
                break
            autocast = (
                torch.autocast(device_type, dtype=autocast_dtype)
                if autocast_dtype is not None
                else contextlib.nullcontext()
            )
            with autocast:
                loss = loss_fn(model(xb), yb) if loss_fn is not None else F.cross_entropy(model(xb), yb)
            objective = loss if regularization is None else loss + penalty(model, *regularization)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(objective).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                objective.backward()
                optimizer.step()
            state.step += 1
            seen += len(xb)
            pending.append((state.step, loss.detach()))
            hooks.on_step_end(state.step, loss)
            now = time.perf_counter()
            if now - last_emit >= emit_every_s:
                _flush(ctx, pending, losses, epoch, series, rank)
                last_emit = now
            if max_steps is not None and state.step >= max_steps:
                break
        _flush(ctx, pending, losses, epoch, series, rank)
        # Time held by a pause or a pace is not training time: samples/s stays the loop's own.
        seconds = time.perf_counter() - started - (ctx.held_s - held_before)
        run_seen, run_seconds = run_seen + seen, run_seconds + seconds
        if ctx.stopped and len(losses) < batch_count:
            break  # a partial epoch is not reported as an epoch
        val_loss, val_acc = (evaluator or evaluate)(model, *val)
        metrics = {
            "train_loss": sum(losses) / max(len(losses), 1),
            "val_loss": val_loss,
            **({"val_acc": val_acc} if val_acc is not None else {}),  # none for regression
            "samples_per_s": seen / seconds if seconds > 0 else 0.0,
            "seconds": seconds,
        }
        state.epoch = epoch + 1
        ctx.epoch(epoch, epochs, metrics, series=series, steps_total=steps_total, rank=rank)
        hooks.on_epoch_end(epoch, metrics)
        if ctx.stopped or (max_steps is not None and state.step >= max_steps):
            break
    # The run's speed, not its last epoch's: a stopped run's partial epoch counts too.
    speed = run_seen / run_seconds if run_seen and run_seconds > 0 else None
    epoch_only = {k: v for k, v in metrics.items() if k != "seconds"}  # one epoch's: not the run's
    return {**epoch_only, "samples_per_s": speed, "train_seconds": run_seconds}


def _flush(ctx, pending, losses, epoch, series, rank) -> None:
    """Read the pending losses back in one transfer and emit a step event for each."""
    if pending:
        values = torch.stack([loss for _, loss in pending]).tolist()
        for (step, _), value in zip(pending, values, strict=True):
            ctx.step(step, epoch, value, series, rank)
        losses.extend(values)
        pending.clear()
