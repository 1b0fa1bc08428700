"""The views inside training that the training lab's values ask for, as one set of hooks.

Decision boundary (`boundary`), layer histograms (`histograms`), the profiler (`profiling`),
the machine beside the run (`system_stats`) and the confusion matrix all join the one loop
in `train.fit` through `Hooks`; `finish()` emits the final ones and says what they cost.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from pttui.engine.confusion_view import CORNER, TITLE
from pttui.engine.train import HookList, Hooks
from pttui.engine.usermodel import prediction

CONFUSION_EVERY_S = 1.0  # per epoch in the app, but at most once a second: fast epochs stay cheap


@torch.no_grad()
def confusion_matrix(
    model, x: torch.Tensor, y: torch.Tensor, n_classes: int, chunk: int = 4096, output_key: str = ""
) -> list[list[int]]:
    """counts[true][predicted] over (x, y); rows sum to each class's sample count. The prediction
    is `usermodel.prediction` of the output (a person's model may return a tuple or a dict).

    n_classes rows; a column per class the model scores, which may be more than n_classes (a
    person's model with spare outputs): a prediction of a spare class gets its own column."""
    was_training = model.training
    model.eval()
    try:
        scores = [prediction(model(x[i : i + chunk]), output_key) for i in range(0, len(x), chunk)]
    finally:
        model.train(was_training)
    cols = max([n_classes, *(s.shape[1] for s in scores)])
    preds = torch.cat([s.argmax(1) for s in scores])
    counts = torch.bincount(y.long() * cols + preds, minlength=n_classes * cols)
    return counts.view(n_classes, cols).tolist()


class ConfusionHook(Hooks):
    def __init__(self, ctx, model, x_val, y_val, n_classes: int, output_key: str = ""):
        self.ctx, self.model, self.x, self.y, self.n = ctx, model, x_val, y_val, n_classes
        self.key = output_key
        self.last = -1e9

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        now = time.perf_counter()
        if now - self.last >= CONFUSION_EVERY_S:
            self.last = now
            self.emit(f"after epoch {epoch + 1}")

    def emit(self, note: str) -> None:
        if len(self.x) == 0:
            return
        counts = confusion_matrix(self.model, self.x, self.y, self.n, output_key=self.key)
        columns = [CORNER, *(str(c) for c in range(len(counts[0]) if counts else self.n))]
        rows = [[str(i), *row] for i, row in enumerate(counts)]
        self.ctx.table(TITLE, columns, rows, note=note)


class Inside:
    """Builds the hooks from `values` (a training lab's) for a prepared `recipe.Recipe`."""

    def __init__(self, values: dict[str, Any], r, ctx, device: str):
        from pttui.engine import boundary, histograms, profiling, system_stats

        self.ctx = ctx
        self.boundary = None
        self.histograms = None
        self.profile = None
        self.system = None
        hooks: list[Hooks] = []
        two_d = r.points is not None and r.points.n_features == 2 and r.points.image_shape is None
        classes = r.data.task == "classification"
        if values.get("boundary", False) and two_d and classes:
            from pttui.engine.common import feature_list

            bmap = boundary.BoundaryMap(
                r.model,
                r.points,
                feature_list(values.get("features", "x1,x2")),
                device,
                output_key=values.get("output_key", ""),
            )
            self.boundary = boundary.BoundaryHook(ctx, bmap)
            hooks.append(self.boundary)
        every = values.get("histograms", 0)
        if every:
            if not histograms.layers(r.model):
                ctx.warn("histograms: this model has no trainable parameters, so there is nothing to show")
            else:
                writer = tensorboard_writer(values.get("tensorboard", ""), ctx)
                last = values["epochs"] * len(r.batches)  # train.fit's steps_total: the final set
                self.histograms = histograms.HistogramHook(ctx, r.model, every, writer, final_step=last)
                hooks.append(self.histograms)
        elif values.get("tensorboard"):
            ctx.warn("tensorboard: it writes the --histograms figures; set --histograms N too")
        if values.get("profile", 0):
            self.profile = profiling.ProfileHook(ctx, values["profile"], device)
            hooks.append(self.profile)
        if values.get("system", False):
            self.system = system_stats.SystemHook(ctx, device)
            hooks.append(self.system)
        self.confusion = None  # regression has no classes to confuse
        if r.data.task == "classification":
            key = values.get("output_key", "")
            self.confusion = ConfusionHook(ctx, r.model, r.x_val, r.y_val, r.data.n_classes, key)
            hooks.append(self.confusion)
        self.hooks = HookList(*hooks)

    def finish(self, step: int, train_seconds: float) -> dict[str, Any]:
        """The final boundary, histograms, confusion matrix and profile; the figures of what they cost."""
        figures: dict[str, Any] = {}
        if self.profile is not None:
            self.profile.finish()
            if self.profile.path is not None:
                figures["trace"] = str(self.profile.path)
        if self.boundary is not None:
            self.boundary.emit(step, final=True)
            m = self.boundary.map
            figures["boundary_maps"] = m.maps
            figures["boundary_share"] = _share(m.seconds, step, train_seconds)
        if self.histograms is not None:
            self.histograms.finish(step)
            figures["histogram_share"] = _share(self.histograms.seconds, step, train_seconds)
            if self.histograms.writer is not None:
                self.histograms.writer.close()
        if self.system is not None:
            self.system.emit()
        if self.confusion is not None:
            self.confusion.emit("final")
        return figures


def tensorboard_writer(folder: str, ctx):
    """A SummaryWriter on `folder`, or None (after a warning naming --tensorboard)."""
    if not folder:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        ctx.warn(
            "tensorboard: the tensorboard package is not installed (pip install 'pttui[tensorboard]'); "
            "the histograms go on without it"
        )
        return None
    try:
        return SummaryWriter(folder)
    except OSError as exc:
        ctx.warn(
            f"tensorboard: cannot write to {folder!r} ({exc.strerror or exc}); the histograms go on without it"
        )
        return None


def _share(seconds: float, steps: int, train_seconds: float) -> float | None:
    """What a view cost as a share of training time; None (n/a) when nothing trained: a run
    stopped before its first step would divide the final map's time by ~0 s."""
    return seconds / train_seconds if steps > 0 and train_seconds > 0 else None
