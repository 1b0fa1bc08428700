"""Builds data, model, optimizer and batches from a training-like lab's values.

The training, AMP, checkpoint and parallel labs all start from the same values, so they
build through this one function, in the order the exported script does (seed, then model).
A person's `--data` wins over `--dataset` and their `--model-spec` over `--model`; their
task (classification or regression) and `--output-key` reach the loop as `loss_fn` and
`evaluator`, which stay None for the built-ins (cross-entropy on logits, as always).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from pttui.engine import bounds, data, models, numbers, train, userdata, usermodel
from pttui.engine.params import ParamError


@dataclass
class Recipe:
    data: data.Data
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    batches: data.Batches
    points: data.Data | None = None  # the 2-D points before --features made the model's inputs
    loss_fn: Any = None  # None: cross-entropy on the output (the built-ins)
    evaluator: Any = None  # None: train.evaluate
    printed: str = ""  # what the person's model file printed while loading


def data_spec(values: dict[str, Any]) -> data.DataSpec:
    return data.DataSpec(
        values["dataset"], values["size"], values["noise"], values["seed"], values.get("val_fraction", 0.2)
    )


def is_custom(values: dict[str, Any]) -> bool:
    """Whether a person's model or data takes part (the loop then uses task_loss/evaluate_task)."""
    return bool(values.get("model_spec") or values.get("data"))


def load_data(values: dict[str, Any]) -> data.Data:
    """The person's `--data` when given, else the built-in `--dataset`."""
    if values.get("data"):
        loaded = userdata.load(values["data"], values.get("target", ""), values.get("task", "auto"))
        return userdata.to_data(loaded, values.get("val_fraction", 0.2), values["seed"], values["data"])
    return data.load(data_spec(values))


def build_model(values: dict[str, Any], d: data.Data) -> torch.nn.Module:
    # --dropout beside --model-spec, or on simplenet, was refused with the parameters (common.WINS, NEEDS)
    if values.get("model_spec"):
        model, _ = usermodel.load(values["model_spec"], values.get("model_kwargs", ""))
        return model
    if values["model"] == "cnn" and (d.image_shape is None or d.image_shape[0] != 1):
        raise ParamError(
            "model", "cnn", "mlp or simplenet for this data; cnn needs one-channel square images"
        )
    dropout = values.get("dropout", 0.0)
    build = functools.partial(
        models.build,
        values["model"],
        d.n_features,
        d.n_classes,
        values["hidden"],
        values["activation"],
        d.image_shape,
        dropout=dropout,
    )
    widths = [d.n_features, *(values["hidden"] if values["model"] == "mlp" else ()), d.n_classes]
    bounds.check_training_memory(values, build, widths, copies=values.get("world_size", 1))
    return build()


def with_features(values: dict[str, Any], d: data.Data) -> data.Data:
    """The data as the model sees it: --features made from a 2-D set's points (else `d` itself).
    Features beside --data, or on the digits, were refused with the parameters (common.WINS, NEEDS)."""
    from pttui.engine.common import FEATURES, feature_list

    names = feature_list(values.get("features", FEATURES.default))
    if names == feature_list(FEATURES.default):
        return d
    return replace(d, x_train=data.add_features(d.x_train, names), x_val=data.add_features(d.x_val, names))


def check_output(
    model: torch.nn.Module, values: dict[str, Any], d: data.Data, x: torch.Tensor, y: torch.Tensor
):
    """One forward on two validation samples: the prediction must fit the targets.

    ParamError on `model_spec` (or `output_key`) naming both shapes when it does not; the model's
    own failure is a UserModelError with its line. The RNG is left as it was found, so the
    weights and shuffles stay those of the exported script.
    """
    spec = values.get("model_spec", "")
    file = usermodel.split_spec(spec)[0] if spec else None
    xb, yb = x[:2], y[:2]
    given = usermodel.describe_inputs(
        [xb], d.source.split(":")[0] if d.source else f"--dataset {values['dataset']}"
    )
    with torch.random.fork_rng(devices=[]), torch.no_grad(), usermodel.blamed(file, "forward", given):
        was = model.training
        model.eval()
        output = model(xb)
        model.train(was)
    key = values.get("output_key", "")
    usermodel.check_key(output, key)
    pred = usermodel.prediction(output, key)
    field = (spec and "model_spec") or "model"
    if pred is None:
        if isinstance(output, dict) and output:
            keys = ", ".join(map(str, output))
            if key:
                raise ParamError("output_key", key, f"one of the output's keys holding a tensor: {keys}")
            first = next(iter(output))
            raise ParamError(
                "output_key", "", f"the key of the prediction: the output's first key {first!r} holds a "
                f"{type(output[first]).__name__}, not a tensor (keys: {keys})",
            )  # fmt: skip
        raise ParamError(
            field,
            spec or values["model"],
            f"a model that returns a tensor (it returned {type(output).__name__})",
        )
    if not pred.is_floating_point():  # scores and values are real floats
        raise ParamError(
            field,
            spec or values["model"],
            f"a model that returns float scores; for input {numbers.shape(xb.shape)} it returned "
            f"{str(pred.dtype).removeprefix('torch.')} {numbers.shape(pred.shape)} (an argmax or .long() "
            "in forward has no gradient to train on)",
        )
    if d.task == "classification":
        fits = pred.dim() == 2 and pred.shape[0] == len(xb) and pred.shape[1] >= d.n_classes
        need = f"[batch, {d.n_classes}] class scores for {d.n_classes} classes"
    else:
        fits = pred.dim() >= 1 and pred.shape[0] == len(xb) and pred.numel() == yb.numel()
        need = f"{numbers.shape(yb.shape)} to match the targets"
    if not fits:
        raise ParamError(
            field, spec or values["model"],
            f"a model whose output fits the targets: for input {numbers.shape(xb.shape)} it returned {numbers.shape(pred.shape)}, "
            f"and {d.task} needs {need}",
        )  # fmt: skip


def is_synthetic(values: dict[str, Any]) -> bool:
    """Random inputs: a person's model, no --data, in a lab that declares --input-shape."""
    return bool(values.get("model_spec")) and not values.get("data") and "input_shape" in values


def synthetic_batch(values: dict[str, Any], batch_default: int | None = None) -> tuple[int, tuple[int, ...]]:
    """(batch size, sample shape) from --input-shape; a --batch-size that disagrees is an error."""
    from pttui.engine.summary import parse_shapes

    if not values.get("input_shape", "").strip():
        from pttui.engine.early import no_input_shape

        raise no_input_shape(values["model_spec"], "32,4")  # no --data: random inputs of these sizes
    shapes = parse_shapes(values["input_shape"])
    if len(shapes) != 1:
        raise ParamError("input_shape", values["input_shape"], "one input's sizes for random data, e.g. 32,4")
    batch = shapes[0][0]
    if values["batch_size"] not in (batch, batch_default):
        raise ParamError(
            "batch_size", values["batch_size"], f"{batch}, the first size of --input-shape {values['input_shape']} "
            "(with random inputs the batch comes from --input-shape)",
        )  # fmt: skip
    return batch, tuple(shapes[0][1:])


def synthetic_data(values: dict[str, Any], model: torch.nn.Module, device: str) -> data.Data:
    """Random inputs of --input-shape / --input-dtype, targets shaped from the model's prediction.

    The probe forward runs under fork_rng, so torch's RNG is left as the exported script finds it.
    """
    _, sample = synthetic_batch(values, values["batch_size"])
    dtype, high, why = usermodel.input_dtype(
        model, values.get("input_dtype", "auto"), values.get("input_high", 0)
    )
    file = usermodel.split_spec(values["model_spec"])[0]
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        probe = usermodel.make_inputs([(2, *sample)], dtype, high, device)
        given = usermodel.describe_inputs(probe, f"--input-shape {values['input_shape']}, {why}")
        with usermodel.blamed(file, "forward", given):
            was = model.training
            model.eval()
            output = model(*probe)
            model.train(was)
    pred = usermodel.prediction(output, values.get("output_key", ""))
    if pred is None:
        raise ParamError(
            "output_key", values.get("output_key", ""), "the key of a tensor in the model's output"
        )
    task = usermodel.synthetic_task(pred, values.get("task", "auto"))
    pred_shape = tuple(pred.shape[1:])
    if task == "classification" and len(pred_shape) != 1:
        raise ParamError(
            "task", task, f"regression: the prediction {numbers.shape(pred.shape)} is not [batch, classes]"
        )
    if task == "classification" and pred_shape[0] < 2:  # one class: loss 0, accuracy 1, true of nothing
        raise ParamError(
            "task", task, f"regression or auto: the prediction {numbers.shape(pred.shape)} scores one class"
        )
    n = values.get("size", 2000)
    x, y = userdata.synthetic_arrays(n, sample, dtype, high, pred_shape, task, values["seed"])
    xt, yt, xv, yv = data.split(x, y, values.get("val_fraction", 0.2), values["seed"])
    outputs = pred_shape[0] if task == "classification" else int(np.prod(pred_shape))
    words = (
        f"random data (no --data): {n:,} inputs of shape {numbers.shape(sample)} {dtype} (set by --input-shape "
        f"{values['input_shape']}, {why}, --size {n}) and random {task} targets shaped from the model's "
        f"prediction {numbers.shape(pred.shape[1:])}; the figures say nothing about accuracy"
    )
    return data.Data(
        xt, yt, xv, yv, outputs, None, task, words, "" if dtype in ("float32", "int64") else dtype
    )


def prepare(
    values: dict[str, Any], device: str, loaded: data.Data | None = None, batch_default: int | None = None
) -> Recipe:
    """Data, model, optimizer and batches for `values`; `loaded` reuses the data of an earlier call.

    With a person's model and no --data in a lab that declares --input-shape, the data are random
    (`synthetic_data`), the batch size is the first size of --input-shape, and `batch_default` is the
    lab's default --batch-size (which then does not count as disagreeing)."""
    batch_size = values["batch_size"]  # --input-shape without random inputs: refused (common.NEEDS, WINS)
    if is_synthetic(values):
        batch_size, _ = synthetic_batch(values, batch_default)
        values = {**values, "batch_size": batch_size}
        torch.manual_seed(values["seed"])
        model = build_model(values, None).to(device)
        points = loaded if loaded is not None else synthetic_data(values, model, device)
        d = points
    else:
        points = loaded if loaded is not None else load_data(values)
        d = with_features(values, points)
        if not values.get("model_spec") and d.x_train.dtype.kind in "iub":
            # whole-number features (pixels, counts) stay int64 for a person's model that embeds
            # them; the built-in models take floats, as the exported script's astype does
            d = replace(d, x_train=d.x_train.astype(np.float32), x_val=d.x_val.astype(np.float32))
        torch.manual_seed(values["seed"])
        model = build_model(values, d).to(device)
    bounds.check_training_time(values, sum(p.numel() for p in model.parameters()), len(d.x_train), device)
    xt, yt, xv, yv = data.to_tensors(d, device)
    if d.x_dtype:
        xt, xv = xt.to(getattr(torch, d.x_dtype)), xv.to(getattr(torch, d.x_dtype))
    loss_fn = evaluator = None
    if is_custom(values):
        check_output(model, values, d, xv, yv)
        key = values.get("output_key", "")
        loss_fn = functools.partial(train.task_loss, task=d.task, output_key=key)
        evaluator = functools.partial(train.evaluate_task, task=d.task, output_key=key)
    if not any(p.requires_grad for p in model.parameters()):  # torch's own word: "an empty parameter list"
        shown = " nor for --histograms to show" if values.get("histograms") else ""
        raise ParamError(
            "model_spec", values.get("model_spec", ""),
            f"a model with trainable parameters (this one has none: nothing for the optimizer to train{shown})",
        )  # fmt: skip
    optimizer = train.make_optimizer(
        values["optimizer"], model.parameters(), values["lr"], values["momentum"], values["weight_decay"]
    )
    generator = torch.Generator().manual_seed(values["seed"])
    batches = data.Batches(xt, yt, batch_size, generator)
    return Recipe(
        d, xt, yt, xv, yv, model, optimizer, generator, batches, points, loss_fn=loss_fn, evaluator=evaluator
    )


def blamed(values: dict[str, Any], r: Recipe, what: str = "training (forward or backward)"):
    """A context in which anything a person's model raises is its UserModelError, naming the
    line in their file and the batches it was given; for the built-ins it changes nothing."""
    spec = values.get("model_spec", "")
    file = usermodel.split_spec(spec)[0] if spec else None
    batch = r.batches.batch_size
    shape = (min(batch, len(r.x_train)), *r.x_train.shape[1:])
    if values.get("data"):
        source = f"--data {values['data']}"
    elif is_synthetic(values):
        source = f"--input-shape {values['input_shape']}, --input-dtype {values.get('input_dtype', 'auto')}"
    else:
        source = f"--dataset {values['dataset']}"
    dtype = str(r.x_train.dtype).removeprefix("torch.")
    given = f"batches of {numbers.shape(shape)} {dtype} (set by {source}, batch size {batch})"
    return usermodel.blamed(file, what, given)


def report_custom(ctx, values: dict[str, Any], r) -> None:
    """Say which data and model ran, and what wins over what, when a person's own take part."""
    if values.get("data"):
        ctx.text("data", f"{r.data.source} (--data wins over --dataset)", pane="summary")
    elif r.data.source:  # random inputs: said plainly, so no one reads the figures as accuracy
        ctx.text("data", r.data.source, pane="summary", level="warning")
    if values.get("model_spec"):
        n = sum(p.numel() for p in r.model.parameters())
        ctx.text(
            "model",
            f"{type(r.model).__name__} from {values['model_spec']} (--model-spec wins over --model): {n:,} parameters",
            pane="summary",
        )
