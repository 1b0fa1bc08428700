"""The training loop topic: loss, optimizer, zero_grad / backward / step, epochs."""

from __future__ import annotations

import time
from typing import Any

from pttui.engine import common
from pttui.engine.codegen import training_script
from pttui.engine.lab import Lab

PARAMS = (
    common.TRAIN_PARAMS
    + common.USER_MODEL_PARAMS
    + common.USER_DATA_PARAMS
    + common.PLAYGROUND_PARAMS
    + common.CHECKPOINT_PARAMS
    + (common.PACE,)
    + common.INSIDE_PARAMS
)


def run(values: dict[str, Any], ctx) -> dict[str, Any]:
    import torch

    from pttui.engine import checkpoint, devices, recipe, train
    from pttui.engine.inside import Inside

    devices.set_threads(values["threads"])
    available = devices.Available.probe()
    device = devices.choose_device(values["device"], available)
    amp = devices.choose_amp(values["amp"], device, available, common.AMP.choices)
    ctx.start(device)
    r = recipe.prepare(values, device)
    recipe.report_custom(ctx, values, r)
    scaler = torch.amp.GradScaler("cuda") if values["amp"] == "fp16" else None
    state, hooks = checkpoint.prepare_training(values, r, scaler, ctx)
    inside = Inside(values, r, ctx, device)
    reg = values["regularization"]
    started = time.perf_counter()
    with recipe.blamed(values, r):
        metrics = train.fit(
            r.model,
            r.optimizer,
            r.batches,
            (r.x_val, r.y_val),
            ctx,
            values["epochs"],
            device,
            getattr(torch, amp) if amp else None,
            scaler,
            hooks=train.HookList(hooks, inside.hooks),
            state=state,
            regularization=None if reg == "none" else (reg, values["reg_rate"]),
            loss_fn=r.loss_fn,
            evaluator=r.evaluator,
        )
    cost = inside.finish(state.step, time.perf_counter() - started)
    n_params = sum(p.numel() for p in r.model.parameters())
    return {
        **metrics,
        "steps": state.step,
        "epochs_done": state.epoch,
        # The run end to end, as the status line and the Log count it (the events' clock):
        # importing torch, the data, evaluation, pace and pauses included. train_seconds
        # (from fit) is the training steps' own time, which samples_per_s divides by.
        "wall_seconds": ctx.now(),
        "device": device,
        "params": n_params,
        **cost,
        "task": r.data.task,
        **checkpoint.saved(hooks),  # where --save wrote, so a person finds the file
    }


LAB = Lab(
    name="training",
    title="Training loop",
    summary="loss, optimizer, zero_grad/backward/step over epochs, with a live loss chart",
    order=5,
    params=PARAMS,
    run=run,
    code=lambda values: training_script(values, "training"),
    pausable=True,
)
