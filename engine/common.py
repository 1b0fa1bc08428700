"""Parameters that several labs share (data, model, optimizer, device, ...), declared once.

Labs compose their parameter tuples from these, so `--batch-size` means the same thing,
with the same limits and help, in every topic. Torch-free on purpose (see pttui.engine.labs).
"""

from __future__ import annotations

from pttui.engine.params import Param

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
OPTIM_PARAMS = (OPTIMIZER, LR, MOMENTUM, WEIGHT_DECAY)
TRAIN_PARAMS = DATA_PARAMS + MODEL_PARAMS + OPTIM_PARAMS + (BATCH_SIZE, EPOCHS, DEVICE, AMP, SEED, THREADS)

# Checkpoints (engine.checkpoint): a lab that trains may offer both.
SAVE = Param("save", "path", "", "save a training checkpoint here at every epoch's end (empty: none)")
RESUME = Param("resume", "path", "", "continue from a checkpoint made with --save (empty: start fresh)")
CHECKPOINT_PARAMS = (SAVE, RESUME)
