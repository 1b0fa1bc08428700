"""The visualization topic: a model's autograd graph (tree and DOT), its summary, TensorBoard.

For a chosen model and a batch of the bundled digits: the graph of its output, the layer
summary, and a short training run written for TensorBoard (scalars and `add_graph`) when the
optional `tensorboard` package is installed; without it, one line says how to add it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from pttui.engine import common
from pttui.engine.codegen import LOOP
from pttui.engine.lab import Lab
from pttui.engine.params import Param, writable_folder

MODEL_NAMES = ("simplenet", "mlp", "cnn", "lstm", "dynamic")
MODEL = Param("model", "choice", "mlp", "which model to draw, summarise and train briefly", MODEL_NAMES)
LOGDIR = Param(
    "logdir",
    "path",
    "",
    "TensorBoard run folder (empty: <runs folder>/tensorboard/<model>-<time>)",
    check=writable_folder,  # the one rule for paths a run writes: a missing parent is refused
)
STEPS = Param("steps", "int", 50, "optimizer steps of the short training run", low=1, high=100_000)
INSTALL_HINT = "pip install 'pttui[tensorboard]'"
PARAMS = (
    MODEL,
    *common.USER_MODEL_PARAMS,
    *common.USER_DATA_PARAMS,
    *common.SYNTHETIC_PARAMS,
    dataclasses.replace(common.SIZE, help="random inputs to make for --model-spec without --data"),
    common.SHOW_SAVED,
    common.DOT,
    LOGDIR,
    STEPS,
    common.LR,
    common.BATCH_SIZE,
    common.DEVICE,
    common.SEED,
    common.PACE,
)


def _custom_code(values: dict[str, Any]) -> str:
    """A person's model or data: data and model as the training labs' scripts make them, then
    the same short run of pttui's `fit`, with LossLog printing the first and last loss."""
    from pttui.engine import usercode
    from pttui.engine.codegen import (
        build_lines,
        data_lines,
        device_line,
        imports,
        model_definitions,
        task_arguments,
        task_lines,
    )
    from pttui.engine.source import definitions

    rv = recipe_values(values)
    data_block, batch_size, model_line = "\n".join(data_lines(rv)), None, None
    if usercode.is_synthetic(rv):
        data_block, batch_size = usercode.synthetic_lines(rv)
        model_line = usercode.model_lines(rv)[-1]
    stdlib = tuple(line.split()[1] for line in usercode.imports(rv).splitlines())
    lines = [*build_lines(rv, batch_size, model_line), *task_lines(rv)]
    return f'''"""visualize: the plain PyTorch that pttui runs for these values (your model or data).

The functions below are pttui's own (`fit` is its training loop), copied as they are.
"""

{imports(*stdlib)}


{model_definitions(rv)}


{definitions(("labs.visualize", "LossLog"))}


{device_line(rv)}
{data_block}
{chr(10).join(lines)}
log, state = LossLog(None), TrainState()
steps = {values["steps"]}
epochs = -(-steps // len(batches))
fit(model, optimizer, batches, (x_val, y_val), Report(), epochs, device, hooks=log, state=state, max_steps=steps{task_arguments(rv)})
log.read_back()
print(f"step {{state.step}}: first_loss {{log.losses[0]:.8f}} last_loss {{log.losses[-1]:.8f}}")
'''


def constructor_call(name: str) -> str:
    """The model's constructor, sized for the 8x8 digits (DynamicModel takes 10 features)."""
    from pttui.engine.catalogue import constructor_call

    return constructor_call(name, 64, 10, (64,), "relu", 8)


def _build(name: str):
    from pttui.engine import models

    return models.build(name, 64, 10, (64,), "relu", (1, 8, 8))


def _data(name: str, seed: int):
    """(x_train, y_train, x_val, y_val) as tensors: the digits split as every lab splits them,
    or for DynamicModel 1,280 rows of 10 random features and 3 classes (the last 256 for val)."""
    import torch

    from pttui.engine import data

    if name == "dynamic":
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(1280, 10, generator=g)
        y = x[:, :3].argmax(1)  # a rule the model can learn: which of 3 features is largest
        return x[:1024], y[:1024], x[1024:], y[1024:]
    return data.to_tensors(data.load(data.DataSpec("digits", seed=seed)))


def recipe_values(values: dict[str, Any]) -> dict[str, Any]:
    """This lab's values as `pttui.engine.recipe.prepare` reads them (Adam, the digits, relu)."""
    return {
        **values, "dataset": "digits", "noise": 0.0, "hidden": (64,), "activation": "relu",
        "optimizer": "adam", "momentum": 0.9, "weight_decay": 0.0, "amp": "off", "threads": 0,
    }  # fmt: skip


def default_logdir(model: str, extras: dict[str, Any]) -> Path:
    """<runs dir>/tensorboard/<model>-<time>; with --no-record, under the temporary folder
    (engine.runs.keep_dir): a run that keeps no record makes no ./runs."""
    from pttui.engine.runs import keep_dir

    return keep_dir(extras, "tensorboard") / f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"


def tensorboard_writer(logdir: Path):
    """(SummaryWriter, "") when tensorboard is installed, else (None, one line saying how to add it)."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        return None, f"TensorBoard export skipped: the tensorboard package is not installed ({INSTALL_HINT})"
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        return None, f"TensorBoard export skipped: {exc} ({INSTALL_HINT})"
    return SummaryWriter(log_dir=str(logdir)), ""


def run(values: dict[str, Any], ctx) -> dict[str, Any]:
    import contextlib
    import io

    import torch

    from pttui.engine import data, devices, graph, recipe, summary, train
    from pttui.engine.usermodel import prediction

    device = devices.resolve(values["device"])
    ctx.start(device)
    name = values["model"]
    custom = recipe.is_custom(values)
    r = None
    if custom:  # a person's model or data: built as every training lab builds it
        r = recipe.prepare(recipe_values(values), device, batch_default=common.BATCH_SIZE.default)
        from pttui.engine.recipe import report_custom

        report_custom(ctx, values, r)
        model, x_train, y_train, x_val, y_val = r.model, r.x_train, r.y_train, r.x_val, r.y_val
        name = type(model).__name__ if values.get("model_spec") else name
    else:
        x_train, y_train, x_val, y_val = (t.to(device) for t in _data(name, values["seed"]))
        torch.manual_seed(values["seed"])
        model = _build(name).to(device)
    example = x_train[:1]
    title = f"{name}(x)" if custom else f"{constructor_call(name)}(x)"

    # 1. The autograd graph of the output (before training: the same graph every step).
    with (
        torch.random.fork_rng(devices=[]),
        recipe.blamed(values, r, "forward") if r else contextlib.nullcontext(),
    ):
        out = prediction(model(example), values.get("output_key", ""))
    g = graph.walk(out, dict(model.named_parameters()), show_saved=values["show_saved"], output_name="output")
    ctx.tree(f"autograd graph of {title}", graph.to_tree(g))
    dot_path = graph.save_dot(g, values["dot"], title) if values["dot"] else None
    if dot_path:
        ctx.text("DOT", f"wrote {dot_path}; render it with: dot -Tsvg {dot_path} -o graph.svg")
    del out, g

    # 2. The summary (totals from model.parameters(), torchsummary's table where it copes).
    with (
        torch.random.fork_rng(devices=[]),
        recipe.blamed(values, r, "forward") if r else contextlib.nullcontext(),
    ):
        s = summary.summarize(model, [tuple(example.shape)], device, [example])
    if s.torchsummary_text:
        ctx.text("torchsummary", s.torchsummary_text.rstrip(), pane="summary")
    if s.problem:
        ctx.text("torchsummary", s.problem, level="warning")
    ctx.table("totals (from model.parameters())", ["", "value"], s.totals_rows())

    # 3. A short training run, written for TensorBoard when it is installed.
    logdir = Path(values["logdir"]).expanduser() if values["logdir"] else default_logdir(name, ctx.extras)
    writer, problem = tensorboard_writer(logdir)
    if problem:
        ctx.text("tensorboard", problem, level="warning")
    else:
        graph_problem = _add_graph(writer, model, example)
        if graph_problem:
            ctx.warn(graph_problem)
    if r is not None:  # recipe made Adam and the batches in the same order
        optimizer, batches = r.optimizer, r.batches
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=values["lr"])
        generator = torch.Generator().manual_seed(values["seed"])
        batches = data.Batches(x_train, y_train, values["batch_size"], generator)
    epochs = -(-values["steps"] // len(batches))
    log, state = LossLog(writer), train.TrainState()
    blame = recipe.blamed(values, r) if r else contextlib.nullcontext()
    with contextlib.redirect_stdout(io.StringIO()), blame:  # TensorBoard's chatter stays off the screen
        train.fit(
                model, optimizer, batches, (x_val, y_val), ctx, epochs, device,
                hooks=log, state=state, max_steps=values["steps"],
                loss_fn=r.loss_fn if r else None, evaluator=r.evaluator if r else None,
            )  # fmt: skip
    log.read_back()  # a stop mid-epoch leaves the last losses unread
    losses, step = log.losses, state.step
    if writer is not None:
        writer.close()
        ctx.text(
            "tensorboard",
            f"wrote the run to {logdir}\nopen it with: tensorboard --logdir {logdir}",
            pane="summary",
        )
    return {
        "model": name,
        "steps": step,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "total_params": s.total_params,
        "torchsummary": "ok" if not s.problem else s.problem,
        "tensorboard": str(logdir) if writer is not None else None,
        "tensorboard_command": f"tensorboard --logdir {logdir}" if writer is not None else None,
        "dot": dot_path,
    }


class LossLog:
    """Keeps every step's loss, read back once per epoch (never a sync per step), and writes
    them to TensorBoard when a SummaryWriter is given.

    It has `pttui.engine.train.Hooks`' three methods without subclassing it: that module
    imports torch, which a lab module must not do when it is imported.
    """

    def __init__(self, writer=None):
        self.writer = writer
        self.pending = []  # (step, loss still on the device)
        self.losses = []  # every step's loss, as floats

    def on_epoch_start(self, epoch):
        pass

    def on_step_end(self, step, loss):
        self.pending.append((step, loss.detach()))

    def on_epoch_end(self, epoch, metrics):
        self.read_back()
        if self.writer is not None:
            self.writer.add_scalar("loss/val", metrics["val_loss"], epoch + 1)

    def read_back(self):
        import torch

        if not self.pending:
            return
        values = torch.stack([loss for _, loss in self.pending]).tolist()  # one transfer
        for (step, _), value in zip(self.pending, values, strict=True):
            self.losses.append(value)
            if self.writer is not None:
                self.writer.add_scalar("loss/train", value, step)
        self.pending.clear()


def _add_graph(writer, model, example) -> str:
    """add_graph traces the model with torch.jit; its chatter is captured, a failure is one line."""
    import contextlib
    import io
    import warnings

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            writer.add_graph(model, example)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"TensorBoard add_graph failed for this model ({first}); the scalars are still written"
    return ""


def code(values: dict[str, Any]) -> str:
    from pttui.engine.catalogue import class_name
    from pttui.engine.codegen import data_definitions, device_line, imports
    from pttui.engine.source import definition, definitions

    name, seed = values["model"], values["seed"]
    from pttui.engine import usercode

    if usercode.is_custom(values):
        return _custom_code(values)
    if name == "dynamic":
        data = (
            f"g = torch.Generator().manual_seed({seed})\n"
            "x = torch.randn(1280, 10, generator=g)\n"
            "y = x[:, :3].argmax(1)  # which of 3 features is largest\n"
            "x_train, y_train, x_val, y_val = x[:1024], y[:1024], x[1024:], y[1024:]"
        )
        helpers = ""
    else:
        data = (
            f"x, y = load_digits_arrays()\nx_train, y_train, x_val, y_val = split(x, y, 0.2, {seed})\n"
            "x_train, y_train, x_val, y_val = (torch.from_numpy(a) for a in (x_train, y_train, x_val, y_val))"
        )
        helpers = data_definitions({"dataset": "digits"}) + "\n\n\n"
    loop = definitions(*LOOP, ("labs.visualize", "LossLog"))
    logdir = values["logdir"]
    logdir_line = (
        f"logdir = {logdir!r}"
        if logdir
        else f'logdir = time.strftime("runs/tensorboard/{name}-%Y%m%d-%H%M%S")  # --logdir to choose'
    )
    return f'''"""visualize: the plain PyTorch that pttui runs for these values.

The functions below are pttui's own (`fit` is its training loop), copied as they are.
"""

{imports()}

try:
    from torch.utils.tensorboard import SummaryWriter  # pip install tensorboard
except ImportError:
    SummaryWriter = None


{helpers}{definition("models", class_name(name))}


{loop}


{device_line(values)}
{data}
x_train, y_train, x_val, y_val = (t.to(device) for t in (x_train, y_train, x_val, y_val))
torch.manual_seed({seed})
model = {constructor_call(name)}.to(device)

# The graph: pip install torchviz, then
# from torchviz import make_dot; make_dot(model(x_train[:1]), params=dict(model.named_parameters())).render("graph")

{logdir_line}
writer = SummaryWriter(logdir) if SummaryWriter is not None else None
if writer is not None:
    writer.add_graph(model, x_train[:1])
optimizer = torch.optim.Adam(model.parameters(), lr={values["lr"]!r})
generator = torch.Generator().manual_seed({seed})
batches = Batches(x_train, y_train, {values["batch_size"]}, generator)
log, state = LossLog(writer), TrainState()
steps = {values["steps"]}
epochs = -(-steps // len(batches))
fit(model, optimizer, batches, (x_val, y_val), Report(), epochs, device, hooks=log, state=state, max_steps=steps)
log.read_back()
print(f"step {{state.step}}: first_loss {{log.losses[0]:.8f}} last_loss {{log.losses[-1]:.8f}}")
if writer is not None:
    writer.close()
    print(f"wrote {{logdir}}; open it with: tensorboard --logdir {{logdir}}")
else:
    print("TensorBoard export skipped: pip install tensorboard")
'''


LAB = Lab(
    name="visualize",
    title="Visualization",
    summary="a model's autograd graph (tree and DOT), its summary, and a TensorBoard export",
    order=11,
    params=PARAMS,
    run=run,
    code=code,
    pausable=True,
)
