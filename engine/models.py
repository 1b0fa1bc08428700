"""The models the labs train and inspect, written as plain `nn.Module`s.

Each class is self-contained (only `torch`, `nn` and `F`), because the code view copies its
source into the exported script. `build` builds by name from `pttui.engine.catalogue`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class SimpleNet(nn.Module):
    """The classic one-layer network: a single Linear from inputs to classes."""

    def __init__(self, in_features=784, n_classes=10):
        super().__init__()
        self.fc = nn.Linear(in_features, n_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))


class MLP(nn.Module):
    def __init__(self, in_features, hidden, n_classes, activation="relu", dropout=0.0):
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}
        layers, width = [], in_features
        for h in hidden:
            layers += [nn.Linear(width, h), act[activation]()]
            if dropout > 0:  # no layer at all when off: the same state_dict keys as before
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.flatten(1))


class CNN(nn.Module):
    """A small convolutional net for 1x8x8 digits (inputs may come flat: they are reshaped)."""

    def __init__(self, n_classes=10, channels=16, side=8, dropout=0.0):
        super().__init__()
        self.side = side
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 3, padding=1)
        self.dropout = dropout  # functional, not a module: summaries stay as they were when off
        self.fc = nn.Linear(2 * channels * (side // 2) ** 2, n_classes)

    def forward(self, x):
        x = x.view(-1, 1, self.side, self.side)
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(F.dropout(x.flatten(1), self.dropout, self.training))


class DynamicModel(nn.Module):
    """The classic dynamic-graph example: whether linear2 runs is decided at each call."""

    def __init__(self):
        super().__init__()
        self.linear1 = nn.Linear(10, 5)
        self.linear2 = nn.Linear(5, 3)

    def forward(self, x, use_second_layer=True):
        x = F.relu(self.linear1(x))
        if use_second_layer:  # plain Python control flow: the graph records only what ran
            x = self.linear2(x)
        return x


class LoopModel(nn.Module):
    """Applies one layer `repeat` times in a Python loop: the graph grows with each pass."""

    def __init__(self, width=10):
        super().__init__()
        self.layer = nn.Linear(width, width)

    def forward(self, x, repeat=3):
        for _ in range(repeat):
            x = F.tanh(self.layer(x))
        return x


class LSTMClassifier(nn.Module):
    """An LSTM over a sequence, classified from its last step (inputs may come flat: reshaped)."""

    def __init__(self, in_features=8, hidden=32, n_classes=10, layers=1):
        super().__init__()
        self.lstm = nn.LSTM(in_features, hidden, num_layers=layers, batch_first=True)
        self.fc = nn.Linear(hidden, n_classes)

    def forward(self, x):
        if x.dim() == 2:  # (batch, steps * features), e.g. 8x8 digits read row by row
            x = x.view(x.size(0), -1, self.lstm.input_size)
        out, _ = self.lstm(x)  # out: (batch, steps, hidden); the tuple is (h, c)
        return self.fc(out[:, -1])


def build(name, in_features, n_classes, hidden=(64,), activation="relu", image_shape=None, dropout=0.0):
    """A fresh model by name (see `pttui.engine.catalogue`); the caller seeds torch first so
    initial weights are repeatable. Raises ValueError for cnn without an image shape, and for
    dropout on simplenet (it has no hidden layer to drop from)."""
    from pttui.engine.catalogue import constructor

    if name == "cnn" and image_shape is None:
        raise ValueError("the cnn model needs an image data set: use --dataset digits")
    side = image_shape[-1] if image_shape else 8
    cls, args, kwargs = constructor(name, in_features, n_classes, hidden, activation, side, dropout)
    return globals()[cls](*args, **kwargs)
