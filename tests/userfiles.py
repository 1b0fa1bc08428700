"""Files the user-model and user-data tests share: a model file and small data files on disk.

The model has what real models have and torchsummary-era tools trip on: an nn.Parameter outside
any submodule, a buffer, and an output that is a tuple with a non-tensor element.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

MODEL = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_features=4, n_classes=3, hidden=8):
        super().__init__()
        self.register_buffer("shift", torch.zeros(in_features))
        self.temperature = nn.Parameter(torch.ones(1))
        self.body = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x):
        return self.body(x.flatten(1) - self.shift) / self.temperature, {"note": "not a tensor"}


class DictNet(Net):
    def forward(self, x):
        logits, _ = super().forward(x)
        return {"aux": 1, "logits": logits}
"""


def expected_params(in_features=4, n_classes=3, hidden=8) -> int:
    """Net's parameter count, computed from plain torch modules."""
    from torch import nn

    body = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    return sum(p.numel() for p in body.parameters()) + 1  # + temperature


def write_model(folder: Path) -> Path:
    path = folder / "user_net.py"
    path.write_text(MODEL)
    return path


def write_csv(folder: Path, n=60, seed=0, name="rows.csv") -> Path:
    """n rows: an id (text, skipped), 4 numeric features, a label of 3 classes."""
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 3, size=n)
    x = rng.randn(n, 4) + y[:, None]
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id", "a", "b", "c", "d", "label"])
        for i in range(n):
            out.writerow([f"r{i}", *(f"{v:.4f}" for v in x[i]), int(y[i])])
    return path
