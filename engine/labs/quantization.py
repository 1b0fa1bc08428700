"""The quantization topic: a float model and its int8 variants, side by side in one table.

It trains an MLP on the digits (resized to 28x28 by default: MNIST's 784 inputs, as in the
classic tutorials), quantizes it with each recipe in `pttui.engine.quantize`, and measures for every
variant its size on disk, its latency at batch 1 and 64 (interleaved, median after a warm-up:
see `pttui.engine.timing`), its accuracy, and how far its logits moved from fp32's. Int8 kernels run
on the CPU, so this lab does too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pttui.engine import common, numbers
from pttui.engine.lab import Lab
from pttui.engine.params import Param, ParamError

ENGINES = ("auto", "x86", "fbgemm", "qnnpack", "onednn")

SIDE = Param(
    "side",
    "int",
    28,
    "the 8x8 digits are resized to side x side first (28: MNIST's 784 inputs, as tutorials use)",
    low=8,
    high=64,
)
CALIBRATION = Param(
    "calibration_batches", "int", 8, "batches of 64 that calibrate static int8's observers", low=1, high=1000
)
QENGINE = Param(
    "qengine",
    "choice",
    "auto",
    "quantized engine (torch.backends.quantized.engine): auto keeps the active one",
    ENGINES,
)
TORCHAO = Param("torchao", "bool", True, "add torchao's int8 weight-only quantize_ when torchao is installed")
# Calibration (pyperf's idea): at least --rounds rounds, then more while the speed-ups disagree,
# until this many seconds per batch size have been spent timing.
CALIBRATION_BUDGET_S = 6.0
ROUNDS = Param(
    "rounds",
    "int",
    5,
    f"timed rounds per latency, at least (more while they disagree, up to {CALIBRATION_BUDGET_S:g} s "
    "per batch size); the median and its spread are reported",
    low=1,
    high=1000,
)
PARAMS = (
    dataclasses.replace(common.HIDDEN, default=(1024, 1024)),
    SIDE,
    *common.USER_MODEL_PARAMS,
    *common.USER_DATA_PARAMS,
    *common.SYNTHETIC_PARAMS,
    dataclasses.replace(common.SIZE, help="random inputs to make for --model-spec without --data"),
    dataclasses.replace(common.EPOCHS, default=3, help="epochs to train the float model first"),
    common.BATCH_SIZE,
    dataclasses.replace(common.LR, default=0.001),
    CALIBRATION,
    QENGINE,
    TORCHAO,
    ROUNDS,
    common.SEED,
    common.SPEED_THREADS,
)

COLUMNS = [
    "variant", "size", "latency b1", "latency b64", "speed-up b1", "speed-up b64",
    "val acc", "max abs logit diff", "argmax agreement",
]  # fmt: skip


def choose_engine(spec: str, supported: list[str], active: str) -> str:
    """The quantized engine to use; one this torch build lacks is a parameter error."""
    if spec == "auto":
        return active
    if spec not in supported:
        # Only declared choices: torch also lists "none", which --qengine does not take.
        here = ", ".join(e for e in ENGINES if e == "auto" or e in supported)
        raise ParamError("qengine", spec, f"one this torch build supports: {here}")
    return spec


def run(values: dict[str, Any], ctx) -> dict[str, Any]:
    from pttui.engine import devices

    with devices.speed_threads(values["threads"]) as (_, threads_words):
        return _run(values, ctx, threads_words)


def _run(values: dict[str, Any], ctx, threads_words: str) -> dict[str, Any]:
    import torch

    from pttui.engine import quantize, quiet, recipe, train
    from pttui.engine.timing import UNRELIABLE_ADVICE, autorange, interleave, speedup_words

    backends = torch.backends.quantized
    engine = choose_engine(values["qengine"], list(backends.supported_engines), backends.engine)
    ctx.start("cpu")
    ctx.text("threads", threads_words)
    noise = quiet.Captured()
    previous_engine = backends.engine
    try:
        backends.engine = engine
        rv = _recipe_values(values)
        custom = recipe.is_custom(rv)
        d = None if custom else _digits(values["side"], values["seed"])
        r = recipe.prepare(rv, "cpu", d, batch_default=common.BATCH_SIZE.default)
        if custom:
            from pttui.engine.recipe import report_custom

            report_custom(ctx, rv, r)
            ctx.text("model", f"training the float model for {values['epochs']} epoch(s) first, on {engine}")
        else:
            ctx.text("model", f"MLP {r.data.n_features}-{'-'.join(map(str, values['hidden']))}-10 on {engine}; "
                     f"training the float model for {values['epochs']} epoch(s) first")  # fmt: skip
        with recipe.blamed(rv, r):
            train.fit(
                r.model, r.optimizer, r.batches, (r.x_val, r.y_val), ctx, values["epochs"], series="fp32",
                loss_fn=r.loss_fn, evaluator=r.evaluator,
            )  # fmt: skip
        if ctx.stopped:
            return {"engine": engine, "variants": {}}
        fp32 = r.model.eval()
        calibration = [r.x_train[i : i + 64] for i in range(0, 64 * values["calibration_batches"], 64)]
        calibration = [xb for xb in calibration if len(xb)]
        variants: dict[str, Any] = {"fp32": fp32}
        skipped: dict[str, str] = {}  # variant -> why it could not run on this model
        with quiet.captured(noise):
            variants["dynamic int8"] = quantize.dynamic_int8(fp32)
            if not quantize.has_dynamic_layers(fp32):
                skipped["dynamic int8"] = "the model has no nn.Linear or LSTM layers: nothing was quantized"
            try:
                variants["static int8"] = quantize.static_int8(fp32, engine, calibration)
                if custom:  # the stubs wrap the whole model: its own ops must take quantized tensors
                    with torch.inference_mode():
                        quantize.check_runs(variants["static int8"], r.x_val[:2], rv.get("output_key", ""))
            except Exception as exc:  # eager static int8 needs the model's cooperation
                variants.pop("static int8", None)
                skipped["static int8"] = quantize.static_refusal(exc)
        tao = None
        if values["torchao"]:
            with quiet.captured(noise):
                tao = quantize.torchao_version()
                if tao is not None:
                    variants["torchao int8 weight-only"] = quantize.torchao_int8_weight_only(fp32)
            if tao is None:
                ctx.text(
                    "torchao", "torchao is not installed here: its row is left out (pip install torchao)"
                )
        figures = _measure(
            variants,
            r,
            values["rounds"],
            noise,
            ctx,
            quantize,
            autorange,
            interleave,
            rv.get("output_key", ""),
        )
    finally:
        backends.engine = previous_engine
    if figures is None:
        return {"engine": engine, "variants": {}}
    base = figures["fp32"]
    rows = []
    figures_skipped: dict[str, dict[str, Any]] = {}
    spreads = figures.pop("_spreads")
    clock_name = figures.pop("_clock")
    for name, f in figures.items():
        for key in ("b1", "b64"):
            ratio = spreads[key][name]
            f[f"speedup_{key}"] = ratio.median
            f[f"speedup_{key}_spread"] = ratio.to_dict()
        rows.append([
            name, numbers.field("size_mb", f["size_mb"]), numbers.field("latency_b1_ms", f["latency_b1_ms"]),
            numbers.field("latency_b64_ms", f["latency_b64_ms"]),
            "baseline" if name == "fp32" else speedup_words(spreads["b1"][name]),
            "baseline" if name == "fp32" else speedup_words(spreads["b64"][name]),
            "-" if f["val_acc"] is None else round(f["val_acc"], 4), f["max_abs_logit_diff"],
            "-" if f["argmax_agreement"] is None else round(f["argmax_agreement"], 4),
        ])  # fmt: skip
    for name, why in skipped.items():
        ctx.text("quantization", f"{name}: {why}", level="warning")
        if name not in figures:
            rows.append([name, *["-"] * (len(COLUMNS) - 2), f"could not run: {why}"])
            figures_skipped[name] = {"ran": False, "why": why}
        else:
            figures[name]["note"] = why
    threads = torch.get_num_threads()
    rounds_taken = {key: len(next(iter(spreads[key].values())).values) for key in spreads}
    ctx.table(
        f"fp32 and int8 on the CPU ({engine} engine, {numbers.count(threads, 'thread')})",
        COLUMNS,
        rows,
        note=f"latency ({clock_name}): median of {rounds_taken['b1']} (batch 1) and {rounds_taken['b64']} (batch 64) "
        "interleaved rounds after a warm-up, per forward pass; speed-up: the median of the rounds' "
        "ratios to fp32, with their IQR; size: the saved state_dict; logit diff and agreement against "
        "fp32 on the validation set",
    )
    if noise.messages:
        hint = ""
        if any("torch.ao.quantization is deprecated" in m for m in noise.messages):
            hint = (
                "\ntorch.ao.quantization's eager recipe still runs in this torch; torchao's quantize_ "
                "is its successor."
            )
        ctx.text("captured warnings", noise.note() + hint)
    lines = []
    noisy = []
    for name, f in figures.items():
        if name == "fp32":
            continue
        shaky = [f"batch {k[1:]}" for k in ("b1", "b64") if spreads[k][name].noisy]
        noisy += [f"{name} at {k}" for k in shaky]
        speed = (
            f"batch 1 {speedup_words(spreads['b1'][name])}, batch 64 {speedup_words(spreads['b64'][name])}"
        )
        lines.append(
            f"{name}: {numbers.field('size_mb', base['size_mb'])} -> {numbers.field('size_mb', f['size_mb'])}, {speed}, "
            f"val acc {f['val_acc']:.3f} (fp32 {base['val_acc']:.3f})"
        )
    if noisy:
        lines.append(
            f"Speed-ups unreliable for {', '.join(noisy)}: the middle half of the rounds spans more "
            f"than {next(iter(spreads['b1'].values())).threshold:.0%} of the median even after "
            f"up to {CALIBRATION_BUDGET_S:g} s of extra rounds; {UNRELIABLE_ADVICE}."
        )
    ctx.text("int8 against fp32", "\n".join(lines), pane="summary", level="warning" if noisy else "info")
    dyn = figures.get("dynamic int8", {})
    return {
        "engine": engine,
        "threads": threads,
        "torchao": tao,
        "variants": {**figures, **figures_skipped},
        "size_ratio": base["size_mb"] / dyn["size_mb"] if dyn else None,
        "int8_speedup_b1": dyn.get("speedup_b1"),
        "int8_speedup_b64": dyn.get("speedup_b64"),
        "noisy": bool(noisy),
        "clock": clock_name,
    }


def _measure(variants, r, rounds, noise, ctx, quantize, autorange, interleave, key=""):
    """Size, accuracy, logit drift and latency of every variant; None when stopped.

    figures["_spreads"][batch key][variant] is the Spread of its per-round speed-ups over fp32.
    """
    import tempfile
    import time
    import warnings

    import torch

    from pttui.engine import quiet
    from pttui.engine.timing import round_ratios, spread
    from pttui.engine.usermodel import prediction

    x_val, y_val = r.x_val, r.y_val
    batches = {"b1": x_val[:1], "b64": x_val[:64]}
    figures: dict[str, dict[str, Any]] = {}
    spreads: dict[str, dict[str, Any]] = {}
    # The first forward passes may warn (once); the timed ones then run with warnings ignored, as
    # recording every repeat's warning would grow without bound.
    with quiet.captured(noise), tempfile.TemporaryDirectory() as folder:
        for name, model in variants.items():  # outside inference mode: torchao's weights refuse it
            figures[name] = {"size_mb": quantize.size_mb(model, folder, name.replace(" ", "_"))}
    with torch.inference_mode(), quiet.captured(noise):
        reference = prediction(variants["fp32"](x_val), key).float()
        classes = r.data.task == "classification"
        for name, model in variants.items():
            logits = prediction(model(x_val), key).float()
            figures[name] |= {
                "val_acc": (logits.argmax(1) == y_val).float().mean().item() if classes else None,
                "max_abs_logit_diff": (logits - reference).abs().max().item(),
                "argmax_agreement": (
                    (logits.argmax(1) == reference.argmax(1)).float().mean().item() if classes else None
                ),
            }
    # With one intra-op thread every kernel runs on this thread: its CPU time is the variant's
    # cost, and time the scheduler gives other processes (a shared machine) is left out.
    clock = time.thread_time if torch.get_num_threads() == 1 else time.perf_counter
    figures["_clock"] = "thread CPU time" if clock is time.thread_time else "wall-clock"
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, xb in batches.items():
            if ctx.stopped:
                return None
            calls = {name: (lambda m=model, x=xb: m(x)) for name, model in variants.items()}
            number = {name: autorange(fn, 0.02) for name, fn in calls.items()}
            timings = interleave(
                calls, rounds=rounds, warmup=3, number=number, budget_s=CALIBRATION_BUDGET_S,
                stop=lambda: ctx.stopped, clock=clock,
            )  # fmt: skip
            if ctx.stopped:
                return None
            for name, t in timings.items():
                figures[name][f"latency_{key}_ms"] = t.median * 1e3
                # every speed figure carries its rounds' spread, latencies as well as speed-ups
                figures[name][f"latency_{key}_ms_spread"] = spread([s * 1e3 for s in t.seconds]).to_dict(6)
                spreads.setdefault(key, {})[name] = round_ratios(timings["fp32"], t)
    figures["_spreads"] = spreads
    return figures


def _digits(side: int, seed: int):
    """The digits, split as every lab splits them, resized to side x side."""
    from pttui.engine import data
    from pttui.engine.quantize import upscale

    d = data.load(data.DataSpec("digits", seed=seed))
    if side == 8:
        return d
    return dataclasses.replace(
        d, x_train=upscale(d.x_train, side), x_val=upscale(d.x_val, side), image_shape=(1, side, side)
    )


def _recipe_values(values: dict[str, Any]) -> dict[str, Any]:
    """The float model's training values in the form `pttui.engine.recipe.prepare` reads: the
    common parameters' defaults (an MLP on the digits, Adam, no amp), with this lab's own."""
    own = {k: values[k] for k in (*USER_NAMES, "size") if k in values}
    defaults = {p.name: p.default for p in common.TRAIN_PARAMS}
    mine = {k: values[k] for k in ("seed", "hidden", "lr", "batch_size", "epochs")}
    return {**defaults, **mine, "device": "cpu", **own}


USER_NAMES = tuple(
    p.name for p in common.USER_MODEL_PARAMS + common.USER_DATA_PARAMS + common.SYNTHETIC_PARAMS
)


def _custom_code(values: dict[str, Any]) -> str:
    """A person's model (and data, or random inputs): the training script, then dynamic int8 and
    the sizes of both saved state_dicts. Static int8 is left out: eager mode needs stubs inside
    the model's own forward (the lab's table says whether wrapping it from outside ran)."""
    from pttui.engine.codegen import training_script

    script = training_script({**_recipe_values(values), "epochs": values["epochs"]}, "quantization")
    return (
        script.rstrip("\n")
        + """


# Dynamic int8: the nn.Linear / LSTM weights stored in int8, activations quantized on the fly.
import copy
import os
import tempfile

model.eval()
dynamic = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).cpu(), {nn.Linear, nn.LSTM}, dtype=torch.qint8)


def size_mb(m):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.pt")
        torch.save(m.state_dict(), path)
        return os.path.getsize(path) / 2**20


print(f"fp32 {size_mb(model):.6f} MB, dynamic int8 {size_mb(dynamic):.6f} MB")
"""
    )


def code(values: dict[str, Any]) -> str:
    if values.get("model_spec") or values.get("data"):
        return _custom_code(values)
    return _builtin_code(values)


def _builtin_code(values: dict[str, Any]) -> str:
    from pttui.engine.codegen import build_lines, imports, model_definitions, speed_threads_line
    from pttui.engine.source import definitions

    recipe_values = _recipe_values(values)
    side = values["side"]
    engine = values["qengine"]
    engine_line = (
        "engine = torch.backends.quantized.engine  # x86, fbgemm, qnnpack or onednn"
        if engine == "auto"
        else f'engine = "{engine}"\ntorch.backends.quantized.engine = engine'
    )
    resize = "" if side == 8 else f"x_train, x_val = upscale(x_train, {side}), upscale(x_val, {side})\n"
    threads = speed_threads_line(values)
    pairs = [[f"model.net.{2 * i}", f"model.net.{2 * i + 1}"] for i in range(len(values["hidden"]))]
    return f'''"""quantization: a float MLP and its dynamic and static int8 versions, compared.

Made by `pttui run quantization --export-script`. torch.ao.quantization warns that it is
deprecated (torchao's quantize_ is its successor); the eager-mode recipe below still runs.
"""

{imports("copy", "os", "statistics", "tempfile", "warnings")}

warnings.filterwarnings("ignore", message=".*deprecated.*")


{model_definitions(recipe_values)}


{definitions(("quantize", "upscale"), ("quantize", "QuantReady"))}


def latency_ms(model, x, rounds={values["rounds"]}, number=20):
    with torch.inference_mode():
        for _ in range(3):  # warm-up
            model(x)
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(number):
                model(x)
            times.append((time.perf_counter() - started) / number)
    return statistics.median(times) * 1e3


def size_mb(model):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.pt")
        torch.save(model.state_dict(), path)
        return os.path.getsize(path) / 2**20


{threads}x, y = load_digits_arrays()
x_train, y_train, x_val, y_val = split(x, y, 0.2, {values["seed"]})
{resize}x_train, y_train, x_val, y_val = (torch.from_numpy(a) for a in (x_train, y_train, x_val, y_val))
n_classes = int(y.max()) + 1
device = "cpu"  # int8 kernels run on the CPU

{chr(10).join(build_lines(recipe_values))}
fit(model, optimizer, batches, (x_val, y_val), Report(), {values["epochs"]}, series="fp32")
model.eval()

# Dynamic int8: weights stored in int8, activations quantized on the fly.
dynamic = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {{nn.Linear, nn.LSTM}}, dtype=torch.qint8)

# Static int8: stubs, fuse Linear+ReLU, the engine's qconfig, prepare, calibrate, convert.
{engine_line}
static = QuantReady(copy.deepcopy(model)).eval()
torch.ao.quantization.fuse_modules(static, {pairs!r}, inplace=True)
static.qconfig = torch.ao.quantization.get_default_qconfig(engine)
torch.ao.quantization.prepare(static, inplace=True)
with torch.inference_mode():
    for i in range(0, 64 * {values["calibration_batches"]}, 64):
        static(x_train[i : i + 64])
torch.ao.quantization.convert(static, inplace=True)

variants = {{"fp32": model, "dynamic int8": dynamic, "static int8": static}}
with torch.inference_mode():
    reference = model(x_val)
    base = {{}}
    for name, m in variants.items():
        logits = m(x_val)
        b1, b64 = latency_ms(m, x_val[:1]), latency_ms(m, x_val[:64])
        base.setdefault("b1", b1)
        base.setdefault("b64", b64)
        print(
            f"{{name:>13}}: {{size_mb(m) * 1024:,.1f}} KB, batch 1 {{b1:.3f}} ms ({{base['b1'] / b1:.2f}}x), "
            f"batch 64 {{b64:.3f}} ms ({{base['b64'] / b64:.2f}}x), "
            f"val acc {{(logits.argmax(1) == y_val).float().mean():.4f}}, "
            f"max abs logit diff {{(logits - reference).abs().max():.4f}}, "
            f"argmax agreement {{(logits.argmax(1) == reference.argmax(1)).float().mean():.4f}}"
        )
'''


LAB = Lab(
    name="quantization",
    title="Quantization",
    summary="fp32 vs dynamic and static int8 (and torchao): size, latency, accuracy, logit drift",
    order=10,
    params=PARAMS,
    run=run,
    code=code,
    no_pause="quantization does not pause: a pause would falsify the timings it measures",
)
