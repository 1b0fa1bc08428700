"""Example user models for `--model-spec` (see the README): plain nn.Modules, nothing pttui-specific.

Each has a custom nn.Parameter and a buffer, and returns more than one tensor, as real models
do; pttui trains on the prediction (a tuple's first tensor, or a dict's `--output-key`).
"""

import torch
from torch import nn


class TabularNet(nn.Module):
    """A small classifier for rows of numbers, e.g. examples/tabular.csv (4 features, 3 classes)."""

    def __init__(self, in_features=4, hidden=32, n_classes=3):
        super().__init__()
        self.register_buffer("scale", torch.ones(in_features))  # a buffer: saved, not trained
        self.temperature = nn.Parameter(torch.ones(1))  # a parameter outside any submodule
        self.body = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x):
        logits = self.body(x * self.scale) / self.temperature
        return logits, {"note": "the tuple's first tensor is the prediction"}


class SmallCNN(nn.Module):
    """A small CNN for 1x8x8 images, e.g. examples/digits.npz; returns a dict."""

    def __init__(self, n_classes=10, channels=8):
        super().__init__()
        self.register_buffer("mean", torch.tensor(0.3))
        self.gain = nn.Parameter(torch.ones(1))
        self.conv = nn.Conv2d(1, channels, 3, padding=1)
        self.fc = nn.Linear(channels * 4 * 4, n_classes)

    def forward(self, x):
        x = torch.relu(self.conv((x - self.mean) * self.gain))
        x = nn.functional.max_pool2d(x, 2)
        return {"logits": self.fc(x.flatten(1)), "kind": "cnn"}
