"""The mixed-precision topic: the same model from the same seed, trained in fp32 and under autocast.

Both variants go through `pttui.engine.train.fit` and `pttui.engine.recipe.prepare`, so the only thing that
differs is the autocast dtype (and a GradScaler where fp16 needs one). They take turns epoch by
epoch, so that noise from the rest of the machine hits both alike; each epoch after the first
(a warm-up, when there are two or more) is a round, and the speed-up is the median of the
rounds' ratios, with their spread; rounds that disagree make it `noisy` (see `pttui.engine.timing`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pttui.engine import common, numbers
from pttui.engine.lab import Lab
from pttui.engine.params import Param, ParamError

AMP = dataclasses.replace(
    common.AMP,
    default="auto",
    choices=("auto", "bf16", "fp16"),
    help="autocast dtype to compare with fp32: auto takes bf16 on the CPU and on GPUs that have it, "
    "else fp16",
)
SCALER = Param(
    "scaler",
    "choice",
    "auto",
    "GradScaler: auto uses one with fp16 only; on also with bf16 (to watch it work on a CPU)",
    ("auto", "on", "off"),
)
INJECT_INF = Param(
    "inject_inf",
    "int",
    0,
    "make the gradients inf at this step of the autocast run (0: never), to watch the scaler skip it",
    low=0,
    high=10_000_000,
)
BATCH_SIZE = dataclasses.replace(common.BATCH_SIZE, default=256)
PARAMS = (
    *common.DATA_PARAMS,
    common.MODEL,
    *common.USER_MODEL_PARAMS,
    *common.USER_DATA_PARAMS,
    *common.SYNTHETIC_PARAMS,
    dataclasses.replace(common.HIDDEN, default=(512, 512)),
    common.ACTIVATION,
    *common.OPTIM_PARAMS,
    BATCH_SIZE,
    dataclasses.replace(common.EPOCHS, default=8, help="epochs per variant; the first is a warm-up"),
    common.DEVICE,
    AMP,
    SCALER,
    INJECT_INF,
    common.SEED,
    common.SPEED_THREADS,
)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the low-precision run uses: its label (bf16/fp16), torch dtype name, and a scaler."""

    label: str
    dtype: str
    scaler: bool
    why: str


def autocast_choice(amp, scaler, device_type, cuda_bf16):
    """(bf16 or fp16, whether a GradScaler runs) for `--amp` and `--scaler` on a device type.

    `auto` takes bf16 on the CPU and on GPUs that have it, fp16 on GPUs without; `--scaler
    auto` runs a GradScaler with fp16 only. The lab decides with it and the exported script
    carries a copy, so the script decides the same on whatever machine runs it.
    """
    label = amp
    if amp == "auto":
        label = "fp16" if device_type == "cuda" and not cuda_bf16 else "bf16"
    return label, scaler == "on" or (scaler == "auto" and label == "fp16")


def plan(amp: str, scaler: str, device: str, available) -> Plan:
    """The autocast dtype and scaler for `amp` on `device`; pure, so CUDA cases test on a CPU."""
    from pttui.engine import devices

    kind = device.split(":")[0]
    if kind == "mps":
        raise ParamError("device", device, "cpu or cuda: this lab's autocast comparison needs one of them")
    label, use_scaler = autocast_choice(amp, scaler, kind, available.cuda_bf16)
    dtype = devices.choose_amp(label, device, available, AMP.choices)
    if label == "fp16":
        why = (
            "fp16 keeps 5 exponent bits: gradients below about 6e-8 underflow to zero, so a GradScaler "
            "multiplies the loss before backward and divides the gradients before the step"
        )
        if not use_scaler:
            why += " (switched off here: small gradients may vanish)"
    else:
        why = "bf16 keeps fp32's 8 exponent bits, so gradients do not underflow and need no scaler"
        if use_scaler:
            why += " (one is on here anyway, to show how it skips steps)"
    if kind == "cuda" and amp == "auto":
        why = ("this GPU has bf16: " if label == "bf16" else "this GPU has no bf16: ") + why
    return Plan(label, dtype, use_scaler, why)


def run(values: dict[str, Any], ctx) -> dict[str, Any]:
    from pttui.engine import devices

    with devices.speed_threads(values["threads"]) as (threads, threads_words):
        result = _run(values, ctx, threads_words)
    result["threads"] = threads
    return result


def _run(values: dict[str, Any], ctx, threads_words: str) -> dict[str, Any]:
    import time

    import torch

    from pttui.engine import devices, recipe, train
    from pttui.engine.timing import UNRELIABLE_ADVICE, rates, round_ratios, speedup_words, summarize

    available = devices.Available.probe()
    device = devices.choose_device(values["device"], available)
    p = plan(values["amp"], values["scaler"], device, available)
    if values["inject_inf"] and not p.scaler:
        raise ParamError(
            "inject_inf", values["inject_inf"], "0 unless a GradScaler is on (--scaler on, or fp16)"
        )
    ctx.start(device)
    device_type = torch.device(device).type
    cuda = device_type == "cuda"
    ctx.text("precision", f"{device}: fp32 against {p.label} autocast. {p.why}.", pane="summary")
    if not cuda:
        ctx.text("threads", threads_words)

    variants = []
    loaded = None
    for name, dtype, use_scaler in (("fp32", None, False), (p.label, getattr(torch, p.dtype), p.scaler)):
        # same seed: same data, weights and shuffles
        r = recipe.prepare(values, device, loaded, batch_default=BATCH_SIZE.default)
        if loaded is None:
            from pttui.engine.recipe import report_custom

            report_custom(ctx, values, r)
        loaded = r.data
        scaler = torch.amp.GradScaler(device_type) if use_scaler else None
        hooks = ScalerWatch(r.model, scaler, values["inject_inf"]) if scaler is not None else train.Hooks()
        variants.append(_Variant(name, dtype, r, scaler, hooks, train.TrainState()))

    epochs = values["epochs"]
    steps_per_epoch = len(variants[0].recipe.batches)
    shared = _TotalEpochs(ctx, epochs, steps_per_epoch)
    # On the CPU with one intra-op thread every kernel runs on this thread, so its CPU time is
    # the epoch's cost, and time the scheduler gives other processes on a shared machine is left
    # out (at load 12 on 2 cores the wall-clock rounds disagreed by 20%; CPU time by a few).
    cpu_clock = not cuda and torch.get_num_threads() == 1
    clock_name = "thread CPU time" if cpu_clock else "wall-clock"
    for epoch in range(epochs):  # the variants take turns, one epoch each
        for v in variants:
            if ctx.stopped:
                break
            if cuda:
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
                resident = torch.cuda.memory_allocated(device)
            r = v.recipe
            cpu_started = time.thread_time()
            with recipe.blamed(values, r, f"training ({v.name}: forward or backward)"):
                metrics = train.fit(
                    r.model, r.optimizer, r.batches, (r.x_val, r.y_val), shared, epoch + 1, device,
                    v.dtype, v.scaler, hooks=v.hooks, state=v.state, series=v.name,
                    loss_fn=r.loss_fn, evaluator=r.evaluator,
                )  # fmt: skip
            if v.state.epoch == epoch + 1:  # the epoch completed (not stopped half-way)
                v.metrics = metrics
                v.seconds.append(time.thread_time() - cpu_started if cpu_clock else metrics["train_seconds"])
                if cuda and (epoch > 0 or epochs == 1):  # the warm-up epoch also allocates
                    # the optimizer's state and the cuBLAS workspace, once, for whoever goes first
                    v.peak_mb = max(
                        v.peak_mb or 0.0, (torch.cuda.max_memory_allocated(device) - resident) / 2**20
                    )
        if ctx.stopped:
            break

    result: dict[str, Any] = {"device": device, "dtype": p.label, "scaler": p.scaler}
    result["epochs_done"] = min(v.state.epoch for v in variants)
    done = [v for v in variants if v.seconds]
    if len(done) == 2:
        n = min(len(v.seconds) for v in done)  # a stop may leave the second one an epoch behind
        timings = [summarize(v.seconds[:n], warmup=1) for v in done]
        samples = len(done[0].recipe.x_train)
        ratio = round_ratios(timings[0], timings[1])
        speeds = [rates(samples, t) for t in timings]
        fp32, low = done
        rows = []
        for v, t, speed in zip(done, timings, speeds, strict=True):
            m = v.metrics
            rows.append([
                v.name, "float32" if v.dtype is None else str(v.dtype).removeprefix("torch."),
                round(speed.median, 1), speed.iqr_words("{:,.0f}"),
                "baseline" if v is fp32 else speedup_words(round_ratios(timings[0], t)),
                m["train_loss"], m["val_loss"], m.get("val_acc", "-"),
                numbers.field("peak_mb", v.peak_mb),
                len(v.hooks.skipped) if isinstance(v.hooks, ScalerWatch) else "-",
            ])  # fmt: skip
        timed = len(timings[0].seconds)
        if timings[0].warmup:
            how = f"the median of {timed} epoch(s) after a warm-up epoch"
        else:
            how = (
                f"{timed} epoch(s) with no warm-up epoch before (--epochs {values['epochs']}: the first "
                "epoch also pays for allocation and kernel selection)"
            )
        ctx.table(
            f"fp32 vs {p.label} autocast on {device}",
            ["variant", "dtype", "samples/s", "IQR", "vs fp32", "train loss", "val loss",
             "val acc", "peak extra", "skipped steps"],
            rows,
            note=f"samples/s ({clock_name}): {how}; each timed epoch is a round, the variants took turns epoch by "
            f"epoch, and the speed-up is the median of the rounds' ratios. Peak memory: CUDA only, the "
            "most allocated above what was resident before each timed epoch (activations and temporaries).",
        )  # fmt: skip
        accuracy = (
            f"Final val loss {numbers.number(low.metrics['val_loss'])} vs "
            f"{numbers.number(fp32.metrics['val_loss'])} in fp32; "
            + (
                f"val acc {numbers.number(low.metrics['val_acc'])} vs {numbers.number(fp32.metrics['val_acc'])}."
                if "val_acc" in low.metrics and "val_acc" in fp32.metrics
                else "no accuracy for regression."
            )
        )
        if ratio.noisy:
            ctx.text(
                "speed-up",
                f"{p.label} autocast against fp32 on {device}: unreliable ({ratio.noisy_reason}; the "
                f"rounds' speed-ups: {ratio.range_words()}): {UNRELIABLE_ADVICE}. " + accuracy,
                pane="summary",
                level="warning",
            )
        else:
            ctx.text(
                "speed-up",
                f"{p.label} autocast against fp32 on {device}: {speedup_words(ratio)} "
                f"({numbers.number(rows[1][2])} vs {numbers.number(rows[0][2])} samples/s of {clock_name}, "
                f"{how}). " + accuracy,
                pane="summary",
            )
        result.update(
            speedup=ratio.median,
            speedup_spread=ratio.to_dict(),
            noisy=ratio.noisy,
            fp32_samples_per_s=speeds[0].median,
            amp_samples_per_s=speeds[1].median,
            samples_per_s_spread={v.name: sp.to_dict(1) for v, sp in zip(done, speeds, strict=True)},
            epochs_timed=timed,
            warmup_epochs=timings[0].warmup,
            clock=clock_name,
            peak_mb={v.name: v.peak_mb for v in done} if cuda else None,
        )
    elif ctx.stopped:
        ctx.text("speed-up", "stopped before both variants finished an epoch: no comparison", pane="summary")
    measured = dict(zip([v.name for v in done], speeds, strict=True)) if len(done) == 2 else {}
    for v in variants:
        # fit's own samples/s and seconds time the last epoch alone, by the wall clock: a speed
        # figure without a spread that can contradict the headline. Each variant gets its median
        # over the timed rounds, with their spread, or none when nothing was compared.
        metrics = {k: val for k, val in v.metrics.items() if k not in ("samples_per_s", "train_seconds")}
        if v.name in measured:
            metrics["samples_per_s"] = measured[v.name].median
            metrics["samples_per_s_spread"] = measured[v.name].to_dict(1)
        result[v.name] = metrics
        result[f"{v.name}_steps"] = v.state.step
    watch = variants[1].hooks
    if isinstance(watch, ScalerWatch):
        watch.read_back()
        result.update(
            skipped_steps=list(watch.skipped), scale_final=watch.scales[-1] if watch.scales else None
        )
        _report_scaler(ctx, watch, values["inject_inf"], variants[1].state.step)
    return result


@dataclasses.dataclass
class _Variant:
    name: str
    dtype: Any
    recipe: Any
    scaler: Any
    hooks: Any
    state: Any
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    seconds: list[float] = dataclasses.field(default_factory=list)
    peak_mb: float | None = None


class _TotalEpochs:
    """What `fit` reports to: it is called for one epoch at a time (the variants take turns), so
    its epoch events get the run's real totals here before they reach the chart."""

    def __init__(self, ctx, epochs: int, steps_per_epoch: int):
        self._ctx = ctx
        self._epochs = epochs
        self._steps_total = epochs * steps_per_epoch

    @property
    def stopped(self) -> bool:
        return self._ctx.stopped

    def proceed(self, hold=None) -> bool:
        return self._ctx.proceed(hold)

    @property
    def held_s(self) -> float:
        return self._ctx.held_s

    def step(self, *args, **kw) -> None:
        self._ctx.step(*args, **kw)

    def epoch(self, epoch, _epochs, metrics, **kw) -> None:
        self._ctx.epoch(epoch, self._epochs, metrics, **{**kw, "steps_total": self._steps_total})


class ScalerWatch:
    """Follows a GradScaler's scale step by step, and can make one step's gradients inf.

    It has `pttui.engine.train.Hooks`' three methods without subclassing it: that module imports torch,
    which a lab module must not do when it is imported.
    """

    def __init__(self, model, scaler, inject_step: int = 0):
        self.scaler = scaler
        self.initial = scaler.get_scale()
        self.inject_step = inject_step
        self.next_step = 1
        self.pending: list[Any] = []  # scale tensors, still on the device
        self.scales: list[float] = []  # the scale after each step's update()
        self.skipped: list[int] = []
        if inject_step:
            first = next(p for p in model.parameters() if p.requires_grad)
            first.register_hook(self._maybe_inf)

    def _maybe_inf(self, grad):
        # A tensor hook runs during backward and may replace the gradient it is given.
        import torch

        return torch.full_like(grad, float("inf")) if self.next_step == self.inject_step else grad

    def on_epoch_start(self, epoch: int) -> None:
        pass

    def on_step_end(self, step: int, loss) -> None:
        self.next_step = step + 1
        # A copy of the scale tensor, read back once per epoch: get_scale() would sync a GPU at
        # every step. `_scale` is private, but it has held GradScaler's scale since torch 1.6.
        self.pending.append(self.scaler._scale.detach().clone())

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self.read_back()

    def read_back(self) -> None:
        import torch

        if not self.pending:
            return
        values = torch.stack(self.pending).float().cpu().tolist()  # one transfer, one sync
        self.pending.clear()
        for value in values:
            before = self.scales[-1] if self.scales else self.initial
            self.scales.append(value)
            if value < before:  # update() halves the scale after a step with inf/nan gradients
                self.skipped.append(len(self.scales))


def _report_scaler(ctx, watch, inject_step: int, steps: int) -> None:
    rows, before = [], watch.initial
    for step, scale in enumerate(watch.scales, start=1):
        if scale < before:
            what = "skipped: inf/nan gradients, scale halved"
        elif scale > before:
            what = f"grew: {watch.scaler.get_growth_interval()} steps without inf"
        elif step in (1, len(watch.scales)):
            what = "first step" if step == 1 else "last step"
        else:
            what = ""
        if what:
            rows.append([step, scale, what])
        before = scale
    ctx.table("GradScaler scale over time", ["step", "scale after update()", "what happened"], rows)
    if watch.skipped:
        steps_text = ", ".join(str(s) for s in watch.skipped[:20])
        ctx.text(
            "scaler",
            f"skipped {len(watch.skipped)} optimizer step(s) ({steps_text}): the gradients held inf or nan, "
            f"so scaler.step() left the weights alone and update() halved the scale (now {watch.scales[-1]:g}).",
            pane="summary",
            level="warning",
        )
    else:
        ctx.text(
            "scaler",
            f"no skipped steps; scale {watch.scales[-1] if watch.scales else watch.initial:g}",
            pane="summary",
        )
    if inject_step and inject_step > steps:
        ctx.warn(f"inject_inf {inject_step} is past the last step ({steps}): nothing was injected")


def code(values: dict[str, Any]) -> str:
    from pttui.engine import usercode
    from pttui.engine.codegen import (
        build_lines,
        data_lines,
        device_line,
        imports,
        model_definitions,
        speed_threads_line,
        task_arguments,
        task_lines,
    )
    from pttui.engine.source import definitions

    data_block, batch_size, model_line = "\n".join(data_lines(values)), values["batch_size"], None
    if values.get("model_spec"):
        lines = usercode.model_lines(values)
        model_line = lines[-1]  # the file is imported once, here; each variant builds its model
        if usercode.is_synthetic(values):
            data_block, batch_size = usercode.synthetic_lines(values)
        else:
            data_block += "\n" + "\n".join(lines[:-1])
    build = "\n".join("    " + line for line in build_lines(values, batch_size, model_line))
    stdlib = [line.split()[1] for line in usercode.imports(values).splitlines()]
    return f'''"""amp: fp32 against {values["amp"]} autocast, the same model from the same seed.

Made by `pttui run amp --export-script`. The functions below are pttui's own, copied as they
are: `fit` is its training loop, `autocast_choice` the decision its amp lab makes. Older
tutorials write torch.cuda.amp.autocast() and torch.cuda.amp.GradScaler(): those names are
deprecated; torch.amp.autocast(device_type, dtype=...) and torch.amp.GradScaler(device_type)
replace them and work on the CPU too.
"""

{imports("statistics", *stdlib)}


{model_definitions(values)}


{definitions(("labs.amp", "autocast_choice"), ("labs.amp", "ScalerWatch"))}


{speed_threads_line(values)}{device_line(values)}
device_type = torch.device(device).type
{data_block}
{chr(10).join(task_lines(values))}
cuda_bf16 = device_type == "cuda" and torch.cuda.is_bf16_supported()
label, use_scaler = autocast_choice({values["amp"]!r}, {values["scaler"]!r}, device_type, cuda_bf16)
print(f"{{device}}: fp32 against {{label}} autocast" + (" with a GradScaler" if use_scaler else ""))


def variant(use_scaler):
    """Model, optimizer, batches, scaler and hooks, from the same seed for both variants."""
{build}
    scaler = torch.amp.GradScaler(device_type) if use_scaler else None
    hooks = ScalerWatch(model, scaler, {values["inject_inf"]}) if use_scaler else Hooks()
    return model, optimizer, batches, scaler, hooks, TrainState()


variants = {{
    "fp32": (None, variant(False)),
    label: ({{"bf16": torch.bfloat16, "fp16": torch.float16}}[label], variant(use_scaler)),
}}
report, seconds = Report(), {{name: [] for name in variants}}
for epoch in range({values["epochs"]}):  # the variants take turns, one epoch each
    for name, (dtype, (model, optimizer, batches, scaler, hooks, state)) in variants.items():
        metrics = fit(
            model, optimizer, batches, (x_val, y_val), report, epoch + 1, device,
            dtype, scaler, hooks=hooks, state=state, series=name{task_arguments(values)},
        )
        seconds[name].append(metrics["train_seconds"])
rate = {{name: len(x_train) / statistics.median(s[1:] or s) for name, s in seconds.items()}}
print(f"fp32 {{rate['fp32']:.0f}} samples/s, {{label}} {{rate[label]:.0f}} samples/s: {{rate[label] / rate['fp32']:.2f}}x")
hooks = variants[label][1][4]
if use_scaler:
    hooks.read_back()
    print(f"skipped steps: {{hooks.skipped}}, scale {{hooks.scales[-1] if hooks.scales else hooks.initial:g}}")
'''


LAB = Lab(
    name="amp",
    title="Mixed precision",
    summary="fp32 vs autocast (bf16, or fp16 with GradScaler): speed, loss and accuracy side by side",
    order=9,
    params=PARAMS,
    run=run,
    code=code,
    no_pause="amp does not pause: a pause would falsify the timings it measures",
)
