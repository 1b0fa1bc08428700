"""A warm engine's first-time work, done before its run is asked for.

Measured here: `import torch` costs 1.1-1.6 s, and the first optimizer step imports
torch._dynamo lazily for another ~1.2 s. A spare engine (engine.control) pays both while the
learner is still choosing values, on the thread that will run the lab: OpenMP's thread pool
belongs to the thread that first used it, and a second pool in one process ran 3x slower.
"""

from __future__ import annotations

import time


def warm_up(threads: int = 0) -> float:
    """Import torch and the engine's modules, and take a tiny forward/backward/optimizer step
    with each optimizer the labs offer. Leaves torch's global RNG as it found it, so a warm
    run draws the same numbers as a cold one. Returns the seconds it took."""
    started = time.perf_counter()
    import torch
    import torch.nn.functional as F

    from pttui.engine import data, devices, recipe, train  # noqa: F401  (what the labs import first)

    devices.set_threads(threads)
    rng = torch.random.get_rng_state()
    try:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(16, 8, generator=g)
        y = torch.randint(0, 4, (16,), generator=g)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
        for name in ("adam", "sgd", "adamw"):
            optimizer = train.make_optimizer(name, model.parameters(), 1e-3)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            model(x).argmax(1).tolist()
        devices.Available.probe()  # every training lab asks first
        data.load_digits_arrays()  # the default data set: numpy's npz reader, first time
    finally:
        torch.random.set_rng_state(rng)
    return time.perf_counter() - started
