"""Builds data, model, optimizer and batches from a training-like lab's values.

The training, AMP, checkpoint and parallel labs all start from the same values, so they
build through this one function, in the order the exported script does (seed, then model).
A person's `--data` wins over `--dataset` and their `--model-spec` over `--model`; their
task (classification or regression) and `--output-key` reach the loop as `loss_fn` and
`evaluator`, which stay None for the built-ins (cross-entropy on logits, as always).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch

from pttui.engine import data, models, train, userdata, usermodel
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
    if values.get("model_spec") and values.get("dropout", 0.0):
        raise ParamError("dropout", values["dropout"], "0 with --model-spec (put nn.Dropout in your model)")
    if values.get("model_spec"):
        model, _ = usermodel.load(values["model_spec"], values.get("model_kwargs", ""))
        return model
    if values["model"] == "cnn" and (d.image_shape is None or d.image_shape[0] != 1):
        raise ParamError(
            "model", "cnn", "mlp or simplenet for this data; cnn needs one-channel square images"
        )
    dropout = values.get("dropout", 0.0)
    if dropout and values["model"] == "simplenet":
        raise ParamError(
            "dropout", dropout, "0 for simplenet (it has no hidden layer); mlp and cnn take dropout"
        )
    return models.build(
        values["model"],
        d.n_features,
        d.n_classes,
        values["hidden"],
        values["activation"],
        d.image_shape,
        dropout=dropout,
    )


def with_features(values: dict[str, Any], d: data.Data) -> data.Data:
    """The data as the model sees it: --features made from a 2-D set's points (else `d` itself)."""
    from dataclasses import replace

    from pttui.engine.common import FEATURES, feature_list
    from pttui.engine.params import ParamError

    names = feature_list(values.get("features", FEATURES.default))
    if names == feature_list(FEATURES.default):
        return d
    if values.get("data"):  # the exported script reads a person's file as it is
        raise ParamError(
            "features", values["features"], f"{FEATURES.default} with --data (cross them in your file)"
        )
    if d.image_shape is not None or d.n_features != 2:
        raise ParamError("features", values["features"], f"{FEATURES.default} for a data set that is not 2-D")
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
    given = usermodel.describe_inputs([xb], f"--data {values.get('data') or values['dataset']}")
    with torch.random.fork_rng(devices=[]), torch.no_grad(), usermodel.blamed(file, "forward", given):
        was = model.training
        model.eval()
        output = model(xb)
        model.train(was)
    key = values.get("output_key", "")
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
    if d.task == "classification":
        fits = pred.dim() == 2 and pred.shape[0] == len(xb) and pred.shape[1] >= d.n_classes
        need = f"(batch, {d.n_classes}) class scores for {d.n_classes} classes"
    else:
        fits = pred.shape[0] == len(xb) and pred.numel() == yb.numel()
        need = f"{tuple(yb.shape)} to match the targets"
    if not fits:
        raise ParamError(
            field, spec or values["model"],
            f"a model whose output fits the targets: for input {tuple(xb.shape)} it returned {tuple(pred.shape)}, "
            f"and {d.task} needs {need}",
        )  # fmt: skip


def prepare(values: dict[str, Any], device: str, loaded: data.Data | None = None) -> Recipe:
    points = loaded if loaded is not None else load_data(values)
    d = with_features(values, points)
    xt, yt, xv, yv = data.to_tensors(d, device)
    torch.manual_seed(values["seed"])
    model = build_model(values, d).to(device)
    loss_fn = evaluator = None
    if is_custom(values):
        check_output(model, values, d, xv, yv)
        key = values.get("output_key", "")
        loss_fn = functools.partial(train.task_loss, task=d.task, output_key=key)
        evaluator = functools.partial(train.evaluate_task, task=d.task, output_key=key)
    optimizer = train.make_optimizer(
        values["optimizer"], model.parameters(), values["lr"], values["momentum"], values["weight_decay"]
    )
    generator = torch.Generator().manual_seed(values["seed"])
    batches = data.Batches(xt, yt, values["batch_size"], generator)
    return Recipe(
        d, xt, yt, xv, yv, model, optimizer, generator, batches, points, loss_fn=loss_fn, evaluator=evaluator
    )


def blamed(values: dict[str, Any], r: Recipe, what: str = "training (forward or backward)"):
    """A context in which anything a person's model raises is its UserModelError, naming the
    line in their file and the batches it was given; for the built-ins it changes nothing."""
    spec = values.get("model_spec", "")
    file = usermodel.split_spec(spec)[0] if spec else None
    shape = (min(values["batch_size"], len(r.x_train)), *r.x_train.shape[1:])
    source = f"--data {values['data']}" if values.get("data") else f"--dataset {values['dataset']}"
    dtype = str(r.x_train.dtype).removeprefix("torch.")
    given = f"batches of {shape} {dtype} (set by {source}, --batch-size {values['batch_size']})"
    return usermodel.blamed(file, what, given)
