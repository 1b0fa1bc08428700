"""Builds data, model, optimizer and batches from a training-like lab's values.

The training, AMP, checkpoint and parallel labs all start from the same values, so they
build through this one function, in the order the exported script does (seed, then model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pttui.engine import data, models, train


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


def data_spec(values: dict[str, Any]) -> data.DataSpec:
    return data.DataSpec(values["dataset"], values["size"], values["noise"], values["seed"])


def build_model(values: dict[str, Any], d: data.Data) -> torch.nn.Module:
    from pttui.engine.params import ParamError

    if values["model"] == "cnn" and d.image_shape is None:
        raise ParamError("model", "cnn", "mlp or simplenet for 2-D data; cnn needs --dataset digits")
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
    if d.image_shape is not None or d.n_features != 2:
        raise ParamError("features", values["features"], f"{FEATURES.default} for a data set that is not 2-D")
    return replace(d, x_train=data.add_features(d.x_train, names), x_val=data.add_features(d.x_val, names))


def prepare(values: dict[str, Any], device: str, loaded: data.Data | None = None) -> Recipe:
    points = loaded if loaded is not None else data.load(data_spec(values))
    d = with_features(values, points)
    xt, yt, xv, yv = data.to_tensors(d, device)
    torch.manual_seed(values["seed"])
    model = build_model(values, d).to(device)
    optimizer = train.make_optimizer(
        values["optimizer"], model.parameters(), values["lr"], values["momentum"], values["weight_decay"]
    )
    generator = torch.Generator().manual_seed(values["seed"])
    batches = data.Batches(xt, yt, values["batch_size"], generator)
    return Recipe(d, xt, yt, xv, yv, model, optimizer, generator, batches, points)
