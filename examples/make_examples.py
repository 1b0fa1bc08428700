"""Writes the example data files the README's commands use: run `python examples/make_examples.py`.

- tabular.csv: 300 rows, 4 numeric features, an `id` text column (skipped) and a `label` of 3 classes.
- digits.npz: the 1,797 8x8 digits pttui ships, as x (N, 1, 8, 8) float32 and y (N,) int64.

Generated here from a fixed seed, never downloaded, so the files are the same on every machine.
"""

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def tabular(path, n=300, seed=0):
    rng = np.random.RandomState(seed)
    centers = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.5, 2.0]])
    y = rng.randint(0, 3, size=n)
    x = centers[y] + rng.randn(n, 4) * 0.35
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id", "sepal_length", "sepal_width", "petal_length", "petal_width", "label"])
        for i in range(n):
            out.writerow([f"s{i:03d}", *(f"{v:.2f}" for v in x[i]), int(y[i])])


def digits(path):
    from pttui.engine.data import load_digits_arrays

    x, y = load_digits_arrays()
    np.savez_compressed(path, x=x.reshape(-1, 1, 8, 8), y=y)


if __name__ == "__main__":
    tabular(HERE / "tabular.csv")
    digits(HERE / "digits.npz")
    print(f"wrote {HERE / 'tabular.csv'} and {HERE / 'digits.npz'}")
