"""Memory a model will need, checked before a byte of it is allocated.

A declared maximum (`--hidden 65536,65536`, a batch of 65,536) must be refused with a message
naming the field, not left to allocate until the machine swaps or the supervisor's ceiling ends
the run. The model is built on PyTorch's `meta` device (shapes only, nothing allocated), its
parameters counted, and training's peak estimated:

    weights + gradients + optimizer state   4 bytes each per parameter, plus 8 (adam, adamw)
                                            or 4 (sgd with momentum) of state
    activations                             batch x (every layer's width) x 4 bytes x 3
                                            (the output, the activation's output, its gradient)
    evaluation                              4,096 rows (train.evaluate's chunk) x widest layer x 8

That sum must fit BUDGET_SHARE of the memory free now (engine.hardened.free_memory_bytes), times
the number of processes that each hold a copy (DDP ranks). Torch-free at import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pttui.engine.hardened import FREE_MEMORY_SHARE, default_max_bytes, free_memory_bytes, mib
from pttui.engine.params import ParamError

BUDGET_SHARE = FREE_MEMORY_SHARE  # the data, PyTorch's own pools and the OS keep the rest
MAX_RUN_S = 3600.0  # a run whose work alone is estimated past this is refused: a typo, not a lesson
# Training's arithmetic is ~6 flops per parameter per sample (forward 2, backward 4). This rate
# is optimistic for a CPU (this 2-core machine does 10-20 GFLOP/s on big matmuls, far less on
# small layers), so the estimate is a lower bound on the time: nothing feasible is refused.
CPU_FLOPS = 5e10
OPTIMIZER_STATE = {"adam": 8, "adamw": 8, "sgd": 4}  # bytes of state per parameter (sgd: momentum)
EVAL_CHUNK = 4096  # rows train.evaluate runs at once


def memory_budget() -> int:
    """BUDGET_SHARE of the memory free now, in bytes: the most one run's checks allow."""
    return default_max_bytes()


def capped_limit(max_mb: int, warn: Callable[[str], None] | None = None) -> int:
    """`--max-mb` in bytes, capped at `memory_budget()` (a warning says so when it binds):
    a limit larger than the machine would let an allocation through to the OS's OOM killer."""
    asked, budget = max_mb << 20, memory_budget()
    if asked <= budget:
        return asked
    if warn is not None:
        warn(
            f"--max-mb {max_mb} is more than {BUDGET_SHARE:.0%} of the memory free now; the limit is {mib(budget)}"
        )
    return budget


def check_duration(seconds: float, field: str, value: Any, what: str) -> None:
    """Refuse (ParamError on `field`) work estimated at more than MAX_RUN_S seconds."""
    if seconds <= MAX_RUN_S:
        return
    error = ParamError(field, value, "less work")
    error.args = (
        f"{field}: {value} makes {what} take about {seconds / 3600:,.1f} hours, more than the "
        f"{MAX_RUN_S / 3600:.0f} hour a run may; make it smaller",
    )
    raise error


def check_training_time(values: dict[str, Any], n_params: int, n_samples: int, device: str) -> None:
    """Refuse (ParamError on `epochs`) training whose arithmetic alone needs more than MAX_RUN_S
    at CPU_FLOPS: `--epochs 10000` over a million samples. No estimate off the CPU."""
    if not str(device).startswith("cpu"):
        return
    epochs = values.get("epochs", 1)
    seconds = 6 * n_params * n_samples * epochs / CPU_FLOPS
    check_duration(seconds, "epochs", epochs, f"training {n_params:,} parameters on {n_samples:,} samples")


def parameter_count(build: Callable[[], Any]) -> int:
    """Parameters of the module `build()` makes, built on the meta device (nothing allocated)."""
    import torch

    with torch.device("meta"):
        model = build()
    return sum(p.numel() for p in model.parameters())


def training_bytes(
    n_params: int, widths: Sequence[int], batch_size: int, optimizer: str, momentum: float = 0.9
) -> dict[str, int]:
    """The estimate above, by part, in bytes. `widths`: every layer's output width, input included."""
    state = OPTIMIZER_STATE.get(optimizer, 8)
    if optimizer == "sgd" and momentum == 0:
        state = 0
    width_sum = sum(widths)
    return {
        "model": n_params * (4 + 4 + state),
        "activations": batch_size * width_sum * 4 * 3,
        "evaluation": EVAL_CHUNK * max(widths, default=0) * 8,
    }


def check_training_memory(
    values: dict[str, Any],
    build: Callable[[], Any],
    widths: Sequence[int],
    copies: int = 1,
    budget: int | None = None,
) -> dict[str, int]:
    """Refuse (ParamError on `hidden` or `batch_size`) a model whose training will not fit.

    `values` holds the lab's hidden, batch_size, optimizer and momentum; `copies` processes each
    hold one (DDP ranks). Returns the estimate's parts; `budget` defaults to BUDGET_SHARE of the
    memory free now.
    """
    n = parameter_count(build)
    parts = training_bytes(n, widths, values.get("batch_size", 1), values.get("optimizer", "adam"),
                           values.get("momentum", 0.9))  # fmt: skip
    total = sum(parts.values()) * copies
    free = free_memory_bytes()
    budget = int(free * BUDGET_SHARE) if budget is None else budget
    if total <= budget:
        return parts
    ranks = f" in each of {copies} processes" if copies > 1 else ""
    detail = (
        f"would need about {mib(total)} to train{ranks} ({n:,} parameters: {mib(parts['model'])} for "
        f"weights, gradients and {values.get('optimizer', 'adam')} state; {mib(parts['activations'])} of "
        f"activations for a batch of {values.get('batch_size', 1):,}), more than {mib(budget)} "
        f"({BUDGET_SHARE:.0%} of the {mib(free)} free now)"
    )
    if parts["model"] >= parts["activations"] and "hidden" in values:
        field, value, fix = "hidden", ",".join(map(str, values["hidden"])), "use smaller layers"
    else:
        field, value, fix = "batch_size", values.get("batch_size"), "use a smaller batch"
    error = ParamError(field, value, fix)
    error.args = (f"{field}: {value} {detail}; {fix}",)
    raise error
