"""Parameters that several labs share (data, model, optimizer, device, ...), declared once.

Labs compose their parameter tuples from these, so `--batch-size` means the same thing,
with the same limits and help, in every topic. Torch-free on purpose (see pttui.engine.labs).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pttui.engine.commands import PACE_MAX
from pttui.engine.params import Param, readable_file, writable_file, writable_folder

DATASET_NAMES = ("digits", "spiral", "moons", "circles", "xor", "blobs")
MODEL_NAMES = ("mlp", "simplenet", "cnn")
ACTIVATION_NAMES = ("relu", "tanh", "gelu", "sigmoid")
OPTIMIZER_NAMES = ("adam", "sgd", "adamw")

DATASET = Param(
    "dataset", "choice", "digits", "data set: bundled 8x8 digits or a generated 2-D set", DATASET_NAMES
)
SIZE = Param("size", "int", 2000, "samples to generate (2-D sets only)", low=20, high=1_000_000)
NOISE = Param("noise", "float", 0.1, "noise of the generated 2-D sets", low=0.0, high=5.0)
MODEL = Param(
    "model", "choice", "mlp", "network: MLP, one-Linear SimpleNet, or a small CNN (digits)", MODEL_NAMES
)
HIDDEN = Param("hidden", "ints", (128, 64), "hidden layer sizes of the MLP", low=1, high=65536)
ACTIVATION = Param("activation", "choice", "relu", "activation between the MLP's layers", ACTIVATION_NAMES)
OPTIMIZER = Param("optimizer", "choice", "adam", "optimizer", OPTIMIZER_NAMES)
LR = Param("lr", "float", 0.003, "learning rate", low=1e-7, high=10.0)
MOMENTUM = Param("momentum", "float", 0.9, "momentum (sgd only)", low=0.0, high=0.999)
WEIGHT_DECAY = Param("weight_decay", "float", 0.0, "weight decay (L2 penalty)", low=0.0, high=1.0)
BATCH_SIZE = Param("batch_size", "int", 64, "samples per mini-batch", low=1, high=65536)
EPOCHS = Param("epochs", "int", 20, "passes over the training set", low=1, high=10000)
DEVICE = Param("device", "device", "auto", "where to run: auto picks cuda, then mps, then cpu")
AMP = Param(
    "amp",
    "choice",
    "off",
    "autocast: off, bf16 (CPU or GPU) or fp16 (CUDA, with GradScaler)",
    ("off", "bf16", "fp16"),
)
SEED = Param("seed", "int", 0, "random seed for data, weights and shuffling", low=0, high=2**31 - 1)
THREADS = Param(
    "threads",
    "int",
    0,
    "CPU threads for torch (0: torch's default; in the app, one core less, left to the UI)",
    low=0,
    high=1024,
)

DATA_PARAMS = (DATASET, SIZE, NOISE)
MODEL_PARAMS = (MODEL, HIDDEN, ACTIVATION)
OPTIM_PARAMS = (
    OPTIMIZER,
    LR,
    MOMENTUM,
    WEIGHT_DECAY,
)  # The speed labs (amp, quantization): 0 picks a steady count (pttui.engine.devices.speed_thread_count).
SPEED_THREADS = dataclasses.replace(
    THREADS,
    help="CPU threads for torch (0: auto, 1 on machines with at most 4 CPUs, where more threads make "
    "timings swing; else torch's default)",
)

TRAIN_PARAMS = DATA_PARAMS + MODEL_PARAMS + OPTIM_PARAMS + (BATCH_SIZE, EPOCHS, DEVICE, AMP, SEED, THREADS)

# Checkpoints (engine.checkpoint): a lab that trains may offer both.
SAVE = Param(
    "save",
    "path",
    "",
    "save a training checkpoint here at every epoch's end (empty: none)",
    check=writable_file,  # in a folder that exists: refused before the run, never made
)
RESUME = Param(
    "resume",
    "path",
    "",
    "continue from a checkpoint made with --save (empty: start fresh)",
    check=readable_file,  # there and readable: refused before torch loads
)
CHECKPOINT_PARAMS = (SAVE, RESUME)

# Validation share, split with --seed (pttui.engine.data.split); the same flag for every data source.
VAL_FRACTION = Param(
    "val_fraction",
    "float",
    0.2,
    "share of the data held out for validation, split with --seed",
    low=0.01,
    high=0.9,
)


# A person's own model and data (pttui.engine.usermodel, pttui.engine.userdata). --model-spec wins
# over --model and --data over --dataset; a lab that offers one offers its companions too.
def _spec_syntax(value: str) -> str | None:
    """FILE.py:NAME judged without touching the file (the form checks it as you type)."""
    if not value.strip():
        return None
    path, sep, name = value.strip().rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        return "FILE.py:NAME, e.g. my_model.py:Net (a Python file, a colon, a class or function name)"
    return None


MODEL_SPEC = Param(
    "model_spec",
    "path",
    "",
    "your own model as FILE.py:NAME (an nn.Module class or a function returning one; "
    "this runs the code in FILE.py); wins over --model",
    check=_spec_syntax,
)


def _json_object(value: str) -> str | None:
    if not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        return f'a JSON object such as {{"hidden": 32}} ({exc.msg} at character {exc.pos})'
    return None if isinstance(parsed, dict) else 'a JSON object such as {"hidden": 32}, not a list or a value'


MODEL_KWARGS = Param(
    "model_kwargs",
    "str",
    "",
    'keyword arguments for NAME in --model-spec, as a JSON object, e.g. {"hidden": 32} (empty: none)',
    max_len=4000,
    check=_json_object,
)
DATA = Param(
    "data",
    "path",
    "",
    "your data: a .csv with a header, .npz / .pt / .safetensors holding x and y, or an ImageFolder "
    "folder (needs torchvision); wins over --dataset",
)
TARGET = Param(
    "target", "str", "", "the CSV column to predict (empty: a column named label, target or y)", max_len=200
)
TASK_NAMES = ("auto", "classification", "regression")
TASK = Param(
    "task",
    "choice",
    "auto",
    "auto: integer targets 0..K-1 (K <= 1000) are classes (cross-entropy), anything else regression (MSE)",
    TASK_NAMES,
)
OUTPUT_KEY = Param(
    "output_key",
    "str",
    "",
    "the prediction in a dict output (empty: its first key); tuples and lists give their first tensor",
    max_len=200,
)

# The input pttui makes for a model: one declaration for every lab (batch first).
INPUT_SHAPE = Param(
    "input_shape",
    "str",
    "",
    "input sizes, batch first, e.g. 1,3,28,28; several inputs as 1,10; 1,5 (empty: a built-in model's "
    "usual input; a --model-spec model with no --data needs them)",
    max_len=200,
)
INPUT_DTYPES = ("auto", "float32", "float64", "float16", "bfloat16", "int64")
INPUT_DTYPE = Param(
    "input_dtype",
    "choice",
    "auto",
    "dtype of the inputs pttui makes: auto follows the model (its floating parameters' dtype, or "
    "int64 indices when its first layer is an nn.Embedding or EmbeddingBag)",
    INPUT_DTYPES,
)
INPUT_HIGH = Param(
    "input_high",
    "int",
    0,
    "exclusive upper bound of int64 inputs (0: the first Embedding's num_embeddings, else 2)",
    low=0,
    high=2**62,
)

USER_MODEL_PARAMS = (MODEL_SPEC, MODEL_KWARGS, OUTPUT_KEY)
USER_DATA_PARAMS = (DATA, TARGET, TASK, VAL_FRACTION)
SYNTHETIC_PARAMS = (INPUT_SHAPE, INPUT_DTYPE, INPUT_HIGH)


# Which field wins (issue 15), declared once: the engine refuses an overridden field typed
# beside its winner (exit 2, `check_overrides`), and the app's form greys it out and does not
# send it (pttui.tui.widgets.param_form). A field is overridden where both it and a winner
# are among the lab's parameters and the winner is set (not empty).
@dataclasses.dataclass(frozen=True)
class Wins:
    """`field`, when set, makes every field in `over` unused in a lab that has both; `why` says so."""

    field: str
    over: tuple[str, ...]
    why: str
    agree: tuple[tuple[str, str], ...] = ()  # (field, value) that says the same as the winner: allowed

    def words(self, loser: str) -> str:
        """`--model-spec wins over --model: it replaces the built-in models`."""
        return f"{_flag(self.field)} wins over {_flag(loser)}: {self.why}"

    def brief(self, values=None) -> str:
        """The one-line form of `words`, for beside a narrow field (~29 columns at 80x24), in the
        form's own labels: `not used: model spec wins`."""
        return f"not used: {_label(self.field)} wins"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _label(name: str) -> str:
    """A field's name as the app's form labels it: `model spec`."""
    return name.replace("_", " ")


def _shown(value) -> str:
    """A value in a short note: yes/no, `none` for an empty one."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value) if value not in (None, "") else "none"


WINS = (
    # the dynamic lab's use_second_layer and repeat choose inside its built-in models only
    Wins("model_spec", ("model", "hidden", "activation", "dropout", "side", "use_second_layer", "repeat"),
         "it replaces the built-in models", agree=(("model", "custom"),)),  # modules' --model custom
    Wins("data", ("dataset", "size", "noise", "features", "side", "input_shape", "input_dtype", "input_high"),
         "it replaces the built-in data sets and random inputs"),
    Wins("input_shape", ("dataset", "noise", "features", "side", "batch"),
         "its random inputs replace the built-in data"),  # batch: the dynamic lab's input rows
    # the checkpoint lab inspects a file instead of training: nothing of the training is used
    Wins("load", (*(p.name for p in TRAIN_PARAMS + USER_MODEL_PARAMS + USER_DATA_PARAMS), "folder", "pace"),
         "inspecting a file trains nothing"),
)  # fmt: skip


def overridden(names, values) -> dict[str, Wins]:
    """Each field of a lab (`names`) that a set winner in `values` makes unused -> its rule
    (`rule.words(field)` says why). `values` holds values as parsed or as typed; a winner
    counts when it is not empty."""
    names = set(names)
    out: dict[str, Wins] = {}
    for rule in WINS:
        if rule.field in names and str(values.get(rule.field) or "").strip():
            for loser in rule.over:
                if loser in names:
                    out.setdefault(loser, rule)
    return out


def check_overrides(params, values, given) -> None:
    """Refuse a field typed (`given`) beside the field that wins over it: ParamError naming both
    flags, e.g. `hidden: '32' is not allowed; expected no --hidden with --model-spec (...)`.

    `params` maps names to Params. A loser at its default passes: values validated once are
    validated again with every field present (the runner re-checks what the command line parsed)."""
    from pttui.engine.params import ParamError

    for loser, rule in overridden(params, values).items():
        if loser not in given or (loser, str(values[loser])) in rule.agree:
            continue
        if values[loser] != params[loser].parse(params[loser].default):
            raise ParamError(
                loser, given[loser], f"no {_flag(loser)} with {_flag(rule.field)} ({rule.words(loser)})"
            )


# The graph and expression labs (autograd, dynamic, visualize, tensors).
SHOW_SAVED = Param(
    "show_saved", "bool", False, "also show the tensors each backward node saved (torchviz's show_saved)"
)
DOT = Param(
    "dot",
    "path",
    "",
    "write the graph as Graphviz DOT to this file (no Graphviz needed to write it)",
    check=writable_file,  # a bad path is refused before the lab runs, not after
)
MAX_MB = Param(
    "max_mb",
    "int",
    1024,
    "most MiB the expression's tensors may take together; larger results are refused before allocation",
    low=1,
    high=1 << 20,
)

# Watching a run (engine.gate): the labs that pause offer it; `pace` commands change it live.
PACE = Param(
    "pace",
    "float",
    0.0,
    "optimizer steps per second, to watch the curve form (0: as fast as possible)",
    low=0.0,
    high=PACE_MAX,
)
# TF Playground's controls and the views inside training (the training lab).
FEATURE_NAMES = ("x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2")


def feature_list(text: str) -> tuple[str, ...]:
    """`--features` as a tuple of names, in the order given ("x1,x2" -> ("x1", "x2"))."""
    return tuple(p for p in (s.strip().lower() for s in text.replace(" ", ",").split(",")) if p)


def _check_features(text: str) -> str | None:
    names = feature_list(text)
    if not names or any(n not in FEATURE_NAMES for n in names) or len(set(names)) != len(names):
        return "comma-separated, each once, of " + ", ".join(FEATURE_NAMES)
    return None


FEATURES = Param(
    "features",
    "str",
    "x1,x2",
    "inputs made from a 2-D set's x1, x2 (TF Playground's feature crosses)",
    max_len=80,
    check=_check_features,
)
REGULARIZATION = Param(
    "regularization",
    "choice",
    "none",
    "penalty added to the loss on the weights (TF Playground's): l1 rate*sum|w|, l2 rate*sum(w^2)/2; "
    "not the optimizer's weight_decay, which Adam/AdamW apply differently",
    ("none", "l1", "l2"),
)
REG_RATE = Param(
    "reg_rate", "float", 0.001, "regularization rate (with --regularization)", low=0.0, high=10.0
)
DROPOUT = Param(
    "dropout", "float", 0.0, "dropout after each hidden layer of mlp/cnn (0: none)", low=0.0, high=0.95
)
BOUNDARY = Param(
    "boundary", "bool", True, "emit the decision boundary of 2-D sets a few times a second (heatmap events)"
)
HISTOGRAMS = Param(
    "histograms",
    "int",
    0,
    "every N steps, each layer's weight/grad histograms, grad norm and update/weight ratio (0: off)",
    low=0,
    high=1_000_000,
)
PROFILE = Param(
    "profile",
    "int",
    0,
    "run torch.profiler over N steps after warm-up: top ops table and a Chrome trace (0: off)",
    low=0,
    high=10_000,
)
SYSTEM = Param("system", "bool", True, "emit CPU %, memory (and CUDA memory) of the run once a second")
PLAYGROUND_PARAMS = (FEATURES, REGULARIZATION, REG_RATE, DROPOUT)
TENSORBOARD = Param(
    "tensorboard",
    "path",
    "",
    "also write the --histograms figures to this TensorBoard log folder (needs pttui[tensorboard])",
    check=writable_folder,
)
INSIDE_PARAMS = (BOUNDARY, HISTOGRAMS, TENSORBOARD, PROFILE, SYSTEM)


# A field that means something only beside another field's value (issues 15 and 16), declared once:
# the engine refuses it typed with a value of its own where it would do nothing (exit 2,
# `check_needs`), the app's form greys it out and does not send it, and `pttui runs compare` shows
# it n/a. Digits is not a 2-D set: size, noise, features and the decision boundary say nothing
# about a digits run; --momentum is SGD's; --model-kwargs is for a --model-spec.
@dataclasses.dataclass(frozen=True)
class Needs:
    """`field` does something only when one of `on` holds: each is (a field, its values that use
    `field`; None: any set value, not empty, 0 or false). It applies in a lab that has `field` and
    every field in `on`, and only in `topics` when those are named. `idle` holds values of `field`
    that ask for nothing (--no-boundary on the digits: there is none either way): they always pass."""

    field: str
    on: tuple[tuple[str, tuple[str, ...] | None], ...]
    why: str = ""
    topics: tuple[str, ...] = ()
    idle: tuple[Any, ...] = ()

    def applies(self, names, topic: str = "") -> bool:
        """Whether this fact holds in a lab with these field names (`topic`: its name, "" unknown)."""
        names = set(names)
        if self.topics and topic not in self.topics:
            return False
        return self.field in names and all(name in names for name, _ in self.on)

    def met(self, values) -> bool:
        """Whether `values` (as parsed or as typed) give `field` something to do."""
        return any(
            _is_set(values.get(name)) if when is None else str(values.get(name)) in when
            for name, when in self.on
        )

    def words(self, choices=None) -> str:
        """`--momentum is for --optimizer sgd: Adam and AdamW use their betas instead`; `choices`
        maps a field to the lab's choices for it, so a value the lab does not offer is not named."""
        needs = []
        for name, when in self.on:
            offered = tuple(v for v in when or () if not (choices or {}).get(name) or v in choices[name])
            needs.append(f"{_flag(name)} {_either(offered)}" if when else _flag(name))
        return f"{_flag(self.field)} is for {', or '.join(needs)}" + (f": {self.why}" if self.why else "")

    def beside(self, values) -> str:
        """What in `values` leaves `field` nothing to do: `with --optimizer adam`."""
        return " and ".join(
            f"without {_flag(name)}" if when is None else f"with {_flag(name)} {values.get(name)}"
            for name, when in self.on
        )

    def brief(self, values) -> str:
        """The one-line form of `words`, for beside a narrow field (~29 columns at 80x24), in the
        form's own labels: `not used: dataset digits`, `not used without model spec`."""
        valued = [f"{_label(name)} {_shown(values.get(name))}" for name, when in self.on if when is not None]
        missing = " or ".join(_label(name) for name, when in self.on if when is None)
        if not valued:
            return f"not used without {missing}"
        return "not used: " + ", ".join(valued) + (f", no {missing}" if missing else "")

    def refusal(self, values, choices=None) -> str:
        """What is allowed instead: `no --momentum with --optimizer adam (--momentum is for ...)`."""
        return f"no {_flag(self.field)} {self.beside(values)} ({self.words(choices)})"


@dataclasses.dataclass(frozen=True)
class ValueNeeds:
    """`field` at `value` works only when one of `on` holds (as in Needs): `--model cnn` needs
    the digits' one-channel images. Judged up front, before torch, only where no field of
    `unless` is set (one that wins over `field`, or data only the run can look into)."""

    field: str
    value: str
    on: tuple[tuple[str, tuple[str, ...] | None], ...]
    why: str
    unless: tuple[str, ...] = ()


VALUE_NEEDS = (
    ValueNeeds("model", "cnn", (("dataset", ("digits",)),), "cnn needs one-channel square images",
               ("model_spec", "data")),
)  # fmt: skip


def check_value_needs(params, values) -> None:
    """Refuse a value that cannot work beside the others (VALUE_NEEDS): ParamError, e.g. `model:
    'cnn' is not allowed; expected mlp or simplenet with --dataset spiral (cnn needs one-channel
    square images: --dataset digits)`. `params` maps names to Params."""
    from pttui.engine.params import ParamError

    for fact in VALUE_NEEDS:
        names = [fact.field, *(name for name, _ in fact.on)]
        if any(name not in params for name in names) or str(values[fact.field]) != fact.value:
            continue
        if any(_is_set(values.get(name)) for name in fact.unless):
            continue
        need = Needs(fact.field, fact.on)
        if need.met(values):
            continue
        others = tuple(c for c in params[fact.field].choices or () if c != fact.value)
        needs = ", or ".join(f"{_flag(name)} {_either(when or ())}" for name, when in fact.on)
        raise ParamError(
            fact.field, fact.value, f"{_either(others)} {need.beside(values)} ({fact.why}: {needs})"
        )


def when(name: str, *values: str) -> tuple[tuple[str, tuple[str, ...] | None]]:
    """One condition of a Needs: `name` has one of `values` (none given: any set value)."""
    return ((name, values or None),)


def _either(words: tuple[str, ...]) -> str:
    """("a", "b", "c") -> "a, b or c"."""
    return " or ".join((", ".join(words[:-1]), words[-1])) if len(words) > 1 else "".join(words)


def _is_set(value) -> bool:
    return bool(value.strip()) if isinstance(value, str) else bool(value)


TWO_D_SETS = tuple(name for name in DATASET_NAMES if name != "digits")
_TWO_D = "the digits are 8x8 images, not a 2-D set"
_SYNTHETIC = "it shapes the random inputs made for a --model-spec"
_SYNTHETIC_LABS = ("dynamic", "amp", "parallel", "quantization", "visualize")  # modules: any model
_CLASSES = "the built-in sets are classification"
NEEDS = (
    Needs("momentum", when("optimizer", "sgd"), "Adam and AdamW use their betas instead"),
    Needs("reg_rate", when("regularization", "l1", "l2"), "with none there is no penalty to weigh"),
    *(Needs(name, when("dataset", *TWO_D_SETS), _TWO_D) for name in ("noise", "features")),
    # a --data file of two columns, classified, draws its boundary too (pttui.engine.inside)
    Needs("boundary", when("dataset", *TWO_D_SETS) + when("data"), _TWO_D, idle=(False,)),
    # --size: the points of a 2-D set, or the random inputs made for a --model-spec without --data
    Needs("size", when("dataset", *TWO_D_SETS), _TWO_D, ("training", "checkpoint", "data")),
    Needs("size", when("dataset", *TWO_D_SETS) + when("model_spec"), "the digits are a fixed set",
          ("amp", "parallel")),
    Needs("size", when("model_spec"), "the built-in model trains on the digits", ("quantization", "visualize")),
    Needs("hidden", when("model", "mlp", "lstm"), "the other built-in models have no hidden widths"),
    Needs("activation", when("model", "mlp"), "the other built-in models have their own"),
    Needs("dropout", when("model", "mlp", "cnn"), "simplenet has no hidden layer to drop from"),
    Needs("use_second_layer", when("model", "dynamic"), "the loop model has no second layer"),
    Needs("repeat", when("model", "loop"), "the dynamic model runs its layers once"),
    Needs("model_kwargs", when("model_spec"), "the built-in models take none"),
    Needs("output_key", when("model_spec"), "the built-in models return one tensor"),
    Needs("target", when("data"), "the built-in sets have their labels"),
    Needs("task", when("data"), _CLASSES, ("training", "checkpoint", "data")),
    Needs("task", when("data") + when("model_spec"), _CLASSES, ("amp", "parallel", "quantization", "visualize")),
    *(Needs(name, when("model_spec"), _SYNTHETIC, _SYNTHETIC_LABS)
      for name in ("input_shape", "input_dtype", "input_high")),
    Needs("input_high", when("input_dtype", "auto", "int64"), "it bounds int64 inputs only"),
    Needs("tensorboard", when("histograms"), "it writes the --histograms figures"),
    Needs("inject_inf", when("scaler", "auto", "on"), "without a GradScaler an inf gradient is not skipped"),
    Needs("sweep_workers", when("sweep"), "they are the sweep's"),
    Needs("sweep_batch", when("sweep"), "they are the sweep's"),
    Needs("trust", when("load"), "it is how --load reads a file"),
)  # fmt: skip


def topic_of(params) -> str:
    """The name of the lab whose parameters are `params` ("" for any other tuple): NEEDS facts
    that hold in some labs only are judged with it, and `validate` is given just the params."""
    from pttui.engine.labs import all_labs

    params = tuple(params)
    return next((name for name, lab in all_labs().items() if lab.params == params), "")


def not_needed(names, values, topic: str = "") -> dict[str, Needs]:
    """Each field of a lab (`names`, its name `topic`) that does nothing with `values` (as parsed or
    as typed) -> the NEEDS fact it fails (`fact.words()` says why)."""
    out: dict[str, Needs] = {}
    for fact in NEEDS:
        if fact.field not in out and fact.applies(names, topic) and not fact.met(values):
            out[fact.field] = fact
    return out


def check_needs(params, values, given, topic: str = "") -> None:
    """Refuse a field typed (`given`) with a value of its own where it does nothing: ParamError
    naming both flags, e.g. `momentum: '0.5' is not allowed; expected no --momentum with
    --optimizer adam (...)`. `params` maps names to Params. At its default, or at an `idle` value,
    it passes: a full dict validated once validates again, and the app sends changes only."""
    from pttui.engine.params import ParamError

    choices = {name: p.choices for name, p in params.items()}
    for name, fact in not_needed(params, values, topic).items():
        if name not in given or values[name] in fact.idle:
            continue
        if values[name] != params[name].parse(params[name].default):
            raise ParamError(name, given[name], fact.refusal(values, choices))


def not_used(params, values, topic: str = "") -> dict[str, str]:
    """Each field of a lab (`params`: its Params, or just their names) that `values` leave with
    nothing to do -> why, in words: lost to a field that wins over it (WINS) or needing another
    field's value (NEEDS). The form greys these out; `pttui runs compare` shows them n/a."""
    choices = {p.name: p.choices for p in params if not isinstance(p, str)}
    names = [p if isinstance(p, str) else p.name for p in params]
    out = {name: fact.words(choices) for name, fact in not_needed(names, values, topic).items()}
    out.update({name: rule.words(name) for name, rule in overridden(names, values).items()})
    return out


def not_used_notes(params, values, topic: str = "") -> dict[str, tuple[str, str]]:
    """As `not_used`, each unused field -> (a one-line note, why in words): the form shows the
    note beside the field, where a full sentence took five lines at 80x24, and the why when the
    field has the focus."""
    choices = {p.name: p.choices for p in params if not isinstance(p, str)}
    names = [p if isinstance(p, str) else p.name for p in params]
    out = {
        name: (fact.brief(values), fact.words(choices))
        for name, fact in not_needed(names, values, topic).items()
    }
    out.update({name: (rule.brief(), rule.words(name)) for name, rule in overridden(names, values).items()})
    return out


def unused(values: dict, topic: str = "") -> set[str]:
    """The fields of a run's `values` (as recorded) that the run did not use (see `not_used`)."""
    return set(not_used(list(values), values, topic))
