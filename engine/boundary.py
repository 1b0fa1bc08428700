"""The decision boundary of a 2-D classifier: its predicted class and confidence over a grid.

TF Playground redraws this as the network learns; here a hook emits it as a `heatmap` event
a few times a second. The grid's points go through the same feature crosses as the data
(`data.add_features`), so the map shows what the model sees. One forward pass of the whole
grid (1,600 points) per map, timed, so its share of training time can be stated.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from pttui.engine import events as ev
from pttui.engine.data import add_features
from pttui.engine.train import Hooks
from pttui.engine.usermodel import prediction

GRID = 40  # cells per side: the minimum, and 3.2 kB a map on the wire
EVERY_S = 0.4  # maps a second at most 2.5: ~3.5 kB each, ~0.5 MB a minute in the run record
SHARE = 0.05  # the maps' cost, at most this share of training time (issue 16)
FIRST_MAP_S = 0.002  # a first map's cost before one is timed: a 40x40 grid through a small MLP here
MAX_TRAIN_POINTS, MAX_VAL_POINTS = 240, 120
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def data_range(*arrays: np.ndarray, pad: float = 0.1) -> tuple[list[float], list[float]]:
    """[x0, x1], [y0, y1] covering every point of the (n, 2) arrays, widened by `pad` each side."""
    pts = np.concatenate([a for a in arrays if len(a)])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span, hi + pad * span
    return [float(lo[0]), float(hi[0])], [float(lo[1]), float(hi[1])]


def grid_points(x_range, y_range, width: int, height: int) -> np.ndarray:
    """The (width * height, 2) cell centres, row-major, top row (highest y) first."""
    x0, x1 = x_range
    y0, y1 = y_range
    xs = x0 + (np.arange(width) + 0.5) * (x1 - x0) / width
    ys = y1 - (np.arange(height) + 0.5) * (y1 - y0) / height
    gx, gy = np.meshgrid(xs, ys)  # gy varies down the rows, gx along them
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def sample_points(x: np.ndarray, y: np.ndarray, split: int, limit: int) -> list[list[float]]:
    """At most `limit` evenly spaced points as [x, y, class, split], rounded for the wire."""
    idx = np.linspace(0, len(x) - 1, min(limit, len(x))).round().astype(int) if len(x) else []
    return [[round(float(x[i, 0]), 3), round(float(x[i, 1]), 3), int(y[i]), split] for i in idx]


class BoundaryMap:
    """Emits `heatmap` events for one model on one 2-D data set; see `events.Heatmap`."""

    def __init__(self, model, raw, features, device, size: int = GRID, output_key: str = ""):
        self.model = model
        self.output_key = output_key  # a person's model: the prediction in a tuple or dict output
        self.raw = raw  # data.Data with the 2-D points, before the feature crosses
        self.size = size
        self.x_range, self.y_range = data_range(raw.x_train, raw.x_val)
        grid = grid_points(self.x_range, self.y_range, size, size)
        self.inputs = torch.from_numpy(add_features(grid, features)).to(device)
        self.sent_points = False
        self.seconds = 0.0  # time spent making maps, for the cost figure
        self.maps = 0

    def points(self) -> list[list[float]]:
        r = self.raw
        return sample_points(r.x_train, r.y_train, 0, MAX_TRAIN_POINTS) + sample_points(
            r.x_val, r.y_val, 1, MAX_VAL_POINTS
        )

    @torch.no_grad()
    def make(self, step: int, final: bool = False, t: float = 0.0) -> ev.Heatmap:
        """The map now; `t` is the event's time (seconds since the run began)."""
        started = time.perf_counter()
        was_training = self.model.training
        self.model.eval()  # dropout off: the map shows the model as it predicts
        try:
            logits = prediction(self.model(self.inputs), self.output_key)
            probs = torch.softmax(logits.float(), dim=1)
        finally:
            self.model.train(was_training)
        top, cls = probs.max(dim=1)
        n_classes = probs.shape[1]
        chance = 1.0 / n_classes
        level = ((top - chance) / (1.0 - chance) * 9.0).round().clamp(0, 9).to(torch.uint8)
        cls_np, level_np = cls.cpu().numpy(), level.cpu().numpy()
        classes = "".join(_DIGITS[c] if c < 36 else "?" for c in cls_np.tolist())
        confidence = (level_np + ord("0")).tobytes().decode("ascii")
        points = self.points() if final or not self.sent_points else []
        self.sent_points = True
        self.seconds += time.perf_counter() - started
        self.maps += 1
        return ev.Heatmap(
            t,
            "decision boundary",
            step,
            self.size,
            self.size,
            [round(v, 4) for v in self.x_range],
            [round(v, 4) for v in self.y_range],
            n_classes,
            classes,
            confidence,
            points,
            final,
        )


class BoundaryHook(Hooks):
    """A map every `every_s` seconds of training, within a budget: the maps made so far plus the
    next (as costly as the last) stay within `share` of the training time so far (issue 16: at
    most 5%). On a long run the interval decides (one 1,600-point forward every 0.4 s is ~1%);
    on a short one the budget does: the first map waits until training has run ~20x its cost,
    where a map at the first step and every 0.4 s cost a 0.1-s run 25-34%. The final map
    (`emit(final=True)`) is always drawn."""

    def __init__(self, ctx, boundary: BoundaryMap, every_s: float = EVERY_S, share: float = SHARE):
        self.ctx, self.map, self.every_s, self.share = ctx, boundary, every_s, share
        self.last = -1e9
        self.step = 0
        self.started: float | None = None
        self.map_cost = 0.0  # seconds the last map took (0 before the first: estimated below)

    def on_epoch_start(self, epoch: int) -> None:
        if self.started is None:
            self.started = time.perf_counter()

    def on_step_end(self, step: int, loss: torch.Tensor) -> None:
        self.step = step
        now = time.perf_counter()
        if self.started is None:
            self.started = now
        if now - self.last < self.every_s:
            return
        trained = now - self.started - self.map.seconds  # training time so far, maps left out
        if self.map.seconds + (self.map_cost or FIRST_MAP_S) > self.share * trained:
            return
        self.last = now
        before = self.map.seconds
        self.emit(step)
        self.map_cost = self.map.seconds - before

    def emit(self, step: int, final: bool = False) -> None:
        self.ctx.emit(self.map.make(step, final, self.ctx.now()))
