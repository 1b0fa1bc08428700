"""Data sets that need no download: 2-D generated sets and the 8x8 digits shipped in this package.

The generators use numpy only and are self-contained, because the code view copies their
source into the exported script: the script and the engine then make the very same data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def make_spiral(n, noise, seed, classes=3):
    rng = np.random.RandomState(seed)
    per = n // classes
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, per)
        theta = np.linspace(c * 4.0, (c + 1) * 4.0, per) + rng.randn(per) * noise * 2
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(per, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def make_moons(n, noise, seed):
    rng = np.random.RandomState(seed)
    half = n // 2
    t = np.pi * rng.rand(half)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.concatenate([upper, lower]) + rng.randn(2 * half, 2) * noise
    y = np.concatenate([np.zeros(half), np.ones(half)])
    return x.astype(np.float32), y.astype(np.int64)


def make_circles(n, noise, seed):
    rng = np.random.RandomState(seed)
    half = n // 2
    t = 2 * np.pi * rng.rand(2 * half)
    r = np.concatenate([np.ones(half), np.full(half, 0.5)])
    x = np.stack([r * np.cos(t), r * np.sin(t)], axis=1) + rng.randn(2 * half, 2) * noise
    y = np.concatenate([np.zeros(half), np.ones(half)])
    return x.astype(np.float32), y.astype(np.int64)


def make_xor(n, noise, seed):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
    x = x + rng.randn(n, 2) * noise
    return x.astype(np.float32), y


def make_blobs(n, noise, seed, classes=4):
    rng = np.random.RandomState(seed)
    centers = rng.uniform(-1, 1, size=(classes, 2))
    y = rng.randint(0, classes, size=n)
    x = centers[y] + rng.randn(n, 2) * (0.1 + noise)
    return x.astype(np.float32), y.astype(np.int64)


def load_digits_arrays():
    """The 1,797 8x8 digits as (x float32 [1797, 64] in [0, 1], y int64 [1797]).

    UCI "Optical Recognition of Handwritten Digits" (Alpaydin & Kaynak, CC BY 4.0), the copy
    scikit-learn ships as digits.csv.gz: the same values as sklearn's load_digits(), divided by
    16. pttui ships them as `pttui/engine/digits.npz` (uint8, 45 kB), which loads in ~30 ms
    where the CSV took ~200 ms, so nothing downloads and scikit-learn is not needed.
    """
    from importlib.resources import files

    with files("pttui.engine").joinpath("digits.npz").open("rb") as f, np.load(f) as z:
        pixels, labels = z["pixels"], z["labels"]
    return (pixels / 16.0).astype(np.float32), labels.astype(np.int64)


def split(x, y, val_fraction, seed):
    rng = np.random.RandomState(seed + 1)
    order = rng.permutation(len(x))
    n_val = round(len(x) * val_fraction)
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def add_features(x, names):
    """TF Playground's inputs from 2-D points x (n, 2): one column per name, in order.

    x1, x2 the coordinates; x1sq, x2sq their squares; x1x2 their product; sinx1, sinx2 sines.
    """
    x1, x2 = x[:, 0], x[:, 1]
    made = {
        "x1": x1,
        "x2": x2,
        "x1sq": x1 * x1,
        "x2sq": x2 * x2,
        "x1x2": x1 * x2,
        "sinx1": np.sin(x1),
        "sinx2": np.sin(x2),
    }
    return np.stack([made[name] for name in names], axis=1).astype(np.float32)


GENERATORS = {
    "spiral": make_spiral,
    "moons": make_moons,
    "circles": make_circles,
    "xor": make_xor,
    "blobs": make_blobs,
}


@dataclass(frozen=True)
class DataSpec:
    """Which data set, and how it is made: the parameters a lab passes to `load`."""

    name: str = "digits"
    size: int = 2000
    noise: float = 0.1
    seed: int = 0
    val_fraction: float = 0.2  # pttui.engine.common.VAL_FRACTION


@dataclass
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    n_classes: int
    image_shape: tuple[int, ...] | None  # (channels, height, width) for image sets
    task: str = "classification"  # or "regression" (a person's --data): MSE, no accuracy
    source: str = ""  # what a person's --data was, in words; "" for the built-in sets
    x_dtype: str = ""  # torch dtype of the inputs when not the arrays' own (random float16 inputs, ...)

    @property
    def n_features(self) -> int:
        """Numbers per sample (all sizes after the first, multiplied)."""
        return int(np.prod(self.x_train.shape[1:]))


def load(spec: DataSpec) -> Data:
    if spec.name == "digits":
        x, y = load_digits_arrays()
        shape: tuple[int, ...] | None = (1, 8, 8)
    elif spec.name in GENERATORS:
        x, y = GENERATORS[spec.name](spec.size, spec.noise, spec.seed)
        shape = None
    else:
        raise ValueError(f"unknown data set {spec.name!r}; choose one of digits or {', '.join(GENERATORS)}")
    xt, yt, xv, yv = split(x, y, spec.val_fraction, spec.seed)
    return Data(xt, yt, xv, yv, int(y.max()) + 1, shape)


def to_tensors(data: Data, device="cpu"):
    """The four arrays as torch tensors on `device` (the data sets are small)."""
    import torch

    return tuple(torch.from_numpy(a).to(device) for a in (data.x_train, data.y_train, data.x_val, data.y_val))


class Batches:
    """Shuffled mini-batches by index, one `randperm` per epoch from a seeded generator.

    Lighter than a DataLoader over a TensorDataset (no per-sample fetch and collate), which
    matters for the small models here; the `data` lab shows the DataLoader itself.
    """

    def __init__(self, x, y, batch_size, generator, shuffle=True, drop_last=False):
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.generator = generator
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self):
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        import torch

        n = len(self.x)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.x.device)
        else:
            order = torch.arange(n, device=self.x.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield self.x[idx], self.y[idx]
