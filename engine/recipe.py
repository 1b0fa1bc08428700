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


def data_spec(values: dict[str, Any]) -> data.DataSpec:
    return data.DataSpec(values["dataset"], values["size"], values["noise"], values["seed"])


def build_model(values: dict[str, Any], d: data.Data) -> torch.nn.Module:
    if values["model"] == "cnn" and d.image_shape is None:
        from pttui.engine.params import ParamError

        raise ParamError("model", "cnn", "mlp or simplenet for 2-D data; cnn needs --dataset digits")
    return models.build(
        values["model"], d.n_features, d.n_classes, values["hidden"], values["activation"], d.image_shape
    )


def prepare(values: dict[str, Any], device: str, loaded: data.Data | None = None) -> Recipe:
    d = loaded if loaded is not None else data.load(data_spec(values))
    xt, yt, xv, yv = data.to_tensors(d, device)
    torch.manual_seed(values["seed"])
    model = build_model(values, d).to(device)
    optimizer = train.make_optimizer(
        values["optimizer"], model.parameters(), values["lr"], values["momentum"], values["weight_decay"]
    )
    generator = torch.Generator().manual_seed(values["seed"])
    batches = data.Batches(xt, yt, values["batch_size"], generator)
    return Recipe(d, xt, yt, xv, yv, model, optimizer, generator, batches)
