"""The DataLoader topic: batches from a TensorDataset, and what num_workers and batch size cost.

It shows what a DataLoader hands out (how many batches, the last one's size, the first batch,
that shuffling changes the order between epochs), measures samples/s for the chosen settings,
and sweeps num_workers x batch size. Worker processes are always shut down before `run`
returns, also when the run is stopped half-way.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from pttui.engine import common, numbers
from pttui.engine.lab import Lab
from pttui.engine.params import Param

CPUS = os.cpu_count() or 1


def _default_sweep() -> tuple[int, ...]:
    """0, 1, 2, 4, ... up to the CPU count (and the count itself): short on big machines too."""
    counts = {0, CPUS}
    n = 1
    while n < CPUS:
        counts.add(n)
        n *= 2
    return tuple(sorted(counts))


NUM_WORKERS = Param(
    "num_workers", "int", 0, "worker processes that load batches (0: the main process)", low=0, high=CPUS
)
SHUFFLE = Param("shuffle", "bool", True, "a new random order every epoch")
PIN_MEMORY = Param("pin_memory", "bool", False, "page-locked batches, for faster copies to a CUDA GPU")
DROP_LAST = Param("drop_last", "bool", False, "drop the last batch when it is smaller than batch_size")
SAMPLE_COST_US = Param(
    "sample_cost_us",
    "int",
    0,
    "CPU work per sample in microseconds, as decoding or augmenting would cost (0: plain tensors)",
    low=0,
    high=1_000_000,
)
SWEEP = Param("sweep", "bool", True, "also measure every num_workers x batch size below")
SWEEP_WORKERS = Param(
    "sweep_workers", "ints", _default_sweep(), "num_workers values of the sweep", low=0, high=CPUS
)
SWEEP_BATCH = Param("sweep_batch", "ints", (32, 256), "batch sizes of the sweep", low=1, high=65536)
PARAMS = (
    *common.DATA_PARAMS,
    *common.USER_DATA_PARAMS,
    common.BATCH_SIZE,
    SHUFFLE,
    NUM_WORKERS,
    PIN_MEMORY,
    DROP_LAST,
    SAMPLE_COST_US,
    dataclasses.replace(
        common.EPOCHS,
        default=3,
        high=1000,
        help="timed passes after one warm-up pass: at least this many, more while they disagree (within 2 s)",
    ),
    SWEEP,
    SWEEP_WORKERS,
    SWEEP_BATCH,
    common.DEVICE,
    common.SEED,
)


class CostlySamples:
    """A data set whose every sample costs `cost_us` of CPU time, as decoding an image would.

    A plain class (a DataLoader needs only `__len__` and `__getitem__`) defined at module level,
    so that worker processes can unpickle it; the busy loop holds the GIL like real decoding.
    """

    def __init__(self, dataset, cost_us: int):
        self.dataset = dataset
        self.cost_s = cost_us / 1e6

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        end = time.perf_counter() + self.cost_s
        while time.perf_counter() < end:
            pass
        return self.dataset[i]


def start_method() -> str:
    """How worker processes start, chosen by measuring on a 2-core machine:

    - fork copies this process, threads and all (the engine thread, torch's OpenMP pool, the
      app's reader threads): a worker can inherit a lock held by a thread that does not exist in
      it, and Python 3.12+ warns about exactly that.
    - spawn starts a fresh interpreter that imports torch again: 1.2-2.5 s per worker start.
    - forkserver starts one clean server once (it imports torch: about 1.3 s), then forks each
      worker from it, single-threaded: 0.06-0.2 s per start. It needs no fileno of sys.stderr
      (the app replaces sys.stderr; workers inherit the real file descriptor 2).
    So forkserver, and spawn where there is none (Windows).
    """
    import multiprocessing

    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _mp_context():
    import multiprocessing

    method = start_method()
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # Imported once in the server, so each worker forked from it starts with torch loaded.
        context.set_forkserver_preload(["torch", __name__])
    return context


def make_loader(dataset, batch_size, values, workers, pin_memory, seed):
    import torch
    from torch.utils.data import DataLoader

    from pttui.engine.lifecycle import worker_ignores_interrupts

    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=values["shuffle"],
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=values["drop_last"],
        generator=torch.Generator().manual_seed(seed),
        # Workers stay up between epochs, so start-up is paid (and reported) once.
        persistent_workers=workers > 0,
        multiprocessing_context=_mp_context() if workers > 0 else None,
        worker_init_fn=worker_ignores_interrupts if workers > 0 else None,  # a stop is not a crash
    )


def shut_down(loader) -> None:
    """End a DataLoader's worker processes now, not whenever the garbage collector gets to them.

    `_shutdown_workers` is private, but it is what the loader's own iterator calls from
    `__del__`; calling it here is what makes a stopped run leave no worker behind.
    """
    iterator = getattr(loader, "_iterator", None)
    if iterator is not None and hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()
    loader._iterator = None


@dataclasses.dataclass
class Measured:
    startup_s: float  # from iter() to the first batch of the first epoch
    seconds: list[float]  # every whole epoch, the warm-up first
    samples: int  # samples in one epoch
    batches: int
    last_batch: int | None  # None when no batch ran
    first_labels: list[list[int]]  # the first batch's first labels, per epoch
    first_shapes: tuple[list[int], list[int]] | None


# Calibration: past --epochs timed epochs, more (up to 4x as many) while their samples/s
# disagree (pttui.engine.timing's NOISY_IQR), until this many seconds have been spent.
CALIBRATION_BUDGET_S = 2.0


def _until_stopped(batches, ctx):
    """The loader's batches; a worker gone after a stop ends the epoch instead of failing it."""
    while True:
        try:
            yield next(batches)
        except StopIteration:
            return
        except (EOFError, RuntimeError, ConnectionError):
            if ctx.stopped:
                return
            raise


def measure(loader, epochs: int, ctx, device: str, sync, budget_s: float = CALIBRATION_BUDGET_S) -> Measured:
    """One warm-up epoch, then at least `epochs` timed ones (more while they disagree, within
    `budget_s`); stops at the next batch when asked. An epoch of no batches is timed too."""
    from pttui.engine.timing import spread

    m = Measured(0.0, [], 0, 0, None, [], None)
    cuda = device.startswith("cuda")
    began = time.perf_counter()
    for epoch in range(1 + 4 * epochs):
        if epoch > epochs and (
            m.samples == 0
            or time.perf_counter() - began >= budget_s
            or not spread([1 / s for s in m.seconds[1:] if s > 0] or [0.0]).noisy
        ):
            break
        samples = batches = 0
        started = time.perf_counter()
        try:
            batches_of = iter(loader)
        except (EOFError, RuntimeError):
            if ctx.stopped:  # workers ended by the stop before the first batch: a stop, not a failure
                break
            raise
        for xb, yb in _until_stopped(batches_of, ctx):
            if batches == 0:
                if epoch == 0:
                    m.startup_s = time.perf_counter() - started
                    m.first_shapes = (list(xb.shape), list(yb.shape))
                m.first_labels.append(yb[:12].tolist())
            if cuda:
                xb = xb.to(device, non_blocking=True)
                yb = yb.to(device, non_blocking=True)
            samples += len(yb)
            batches += 1
            m.last_batch = len(yb)
            if ctx.stopped:
                break
        if sync is not None:
            sync()
        if ctx.stopped:
            break
        m.seconds.append(time.perf_counter() - started)
        m.samples, m.batches = samples, batches
    return m


def run(values: dict[str, Any], ctx) -> dict[str, Any]:
    import torch
    from torch.utils.data import TensorDataset

    from pttui.engine import devices
    from pttui.engine.recipe import load_data
    from pttui.engine.timing import UNRELIABLE_ADVICE, rates, speed_words, speedup, summarize

    device = devices.resolve(values["device"])
    ctx.start(device)
    cuda = device.startswith("cuda")
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else None
    d = load_data(values)  # --data wins over --dataset
    dataset = TensorDataset(torch.from_numpy(d.x_train), torch.from_numpy(d.y_train))
    if values["sample_cost_us"]:
        from pttui.engine.bounds import check_duration

        per_pass = len(dataset) * values["sample_cost_us"] / 1e6 / max(1, values["num_workers"])
        check_duration((1 + values["epochs"]) * per_pass, "sample_cost_us", values["sample_cost_us"],
                       f"{1 + values['epochs']} passes over {len(dataset):,} samples")  # fmt: skip
        dataset = CostlySamples(dataset, values["sample_cost_us"])
    pin = values["pin_memory"] and cuda
    if values["pin_memory"] and not cuda:
        ctx.text(
            "pin_memory",
            "pin_memory has no effect here: the batches stay on the CPU (pinned memory only speeds "
            "up copies to a CUDA GPU).",
        )
    workers, bs = values["num_workers"], values["batch_size"]
    ctx.text(
        "data set",
        f"TensorDataset of the {'--data' if values['data'] else values['dataset']} training split: "
        f"{len(dataset)} samples of {d.n_features} features; workers start by {start_method()}"
        + (f"\n{d.source} (--data wins over --dataset)" if values["data"] else ""),
    )

    loader = make_loader(dataset, bs, values, workers, pin, values["seed"])
    try:
        chosen = measure(loader, values["epochs"], ctx, device, sync)
    finally:
        shut_down(loader)
    result: dict[str, Any] = {"device": device, "start_method": start_method(), "samples": len(dataset)}
    result.update(batches=len(loader), last_batch=_last_batch(len(dataset), bs, values["drop_last"]))
    if len(loader) == 0:
        note = (
            f"no batches: drop_last drops a last batch smaller than batch_size, and all {len(dataset)} "
            f"samples are fewer than batch_size {bs}, so every epoch is empty. Nothing was loaded, so "
            f"no samples/s is reported. Use --batch-size {len(dataset)} or less, or --no-drop-last."
        )
        result["note"] = note
        ctx.text("batches", note, pane="summary", level="warning")
    if chosen.first_shapes is not None:
        _report_batches(ctx, values, len(dataset), chosen)
    if len(chosen.seconds) >= 2 and chosen.samples > 0:
        t = summarize(chosen.seconds, warmup=1)
        speed = rates(chosen.samples, t)
        result.update(
            samples_per_s=speed.median,
            samples_per_s_spread=speed.to_dict(1),
            noisy=speed.noisy,
            startup_s=chosen.startup_s,
            epochs_timed=len(t.seconds),
        )
        if speed.noisy:
            words = (
                f"num_workers={workers}, batch_size={bs}: samples/s unreliable ({speed.noisy_reason}; "
                f"epochs gave {speed.range_words('{:,.0f}')}): {UNRELIABLE_ADVICE}"
            )
        else:
            words = (
                f"num_workers={workers}, batch_size={bs}: {speed.median:,.0f} samples/s (median of "
                f"{len(t.seconds)} epochs after a warm-up; IQR {speed.iqr_words('{:,.0f}')})"
            )
        ctx.text(
            "speed",
            f"{words}; first batch after {numbers.field('startup_s', chosen.startup_s)}",
            pane="summary",
            level="warning" if speed.noisy else "info",
        )
    if values["sweep"] and not ctx.stopped:
        rows = sweep(dataset, values, pin, device, sync, ctx)
        if not rows and not ctx.stopped:
            ctx.text(
                "sweep",
                f"no setting of the sweep loaded a batch: with drop_last, batch sizes above the "
                f"{len(dataset)} samples give empty epochs, so no samples/s is reported for them",
                pane="summary",
                level="warning",
            )
        if rows:
            result["sweep"] = rows
            best = max(rows, key=lambda r: r["samples_per_s"])
            result["best"] = {"num_workers": best["num_workers"], "batch_size": best["batch_size"]}
            table = []
            for r in rows:
                base = next(
                    (b for b in rows if b["num_workers"] == 0 and b["batch_size"] == r["batch_size"]), None
                )
                if base is r or base is None:
                    vs = "baseline"
                elif base["samples_per_s_spread"]["noisy"] or r["samples_per_s_spread"]["noisy"]:
                    vs = "unreliable"  # one of the two did not settle: no ratio to read
                else:
                    vs = speed_words(speedup(1 / base["samples_per_s"], 1 / r["samples_per_s"]))
                spread_ = r["samples_per_s_spread"]
                iqr = f"{spread_['q1']:,.0f}-{spread_['q3']:,.0f}" + (
                    " (unreliable)" if spread_["noisy"] else ""
                )
                table.append([r["num_workers"], r["batch_size"], round(r["samples_per_s"]), iqr, vs, numbers.field("startup_s", r["startup_s"])])  # fmt: skip
            ctx.table(
                "samples/s over num_workers x batch size",
                ["num_workers", "batch size", "samples/s", "IQR", "vs num_workers=0", "first batch"],
                table,
                note=f"median of at least {values['epochs']} epoch(s) after a warm-up epoch (more while "
                f"they disagreed, within {CALIBRATION_BUDGET_S:g} s); workers persist between epochs, so "
                "their start-up shows only in 'first batch s'",
            )
            ctx.text(
                "sweep",
                f"fastest: num_workers={best['num_workers']}, batch_size={best['batch_size']} "
                f"({best['samples_per_s']:,.0f} samples/s) on {CPUS} CPU(s)"
                + ("" if values["sample_cost_us"] else _why_zero(best))
                + (
                    f". Unreliable: {noisy} of {len(rows)} settings did not settle; {UNRELIABLE_ADVICE}"
                    if (noisy := sum(r["samples_per_s_spread"]["noisy"] for r in rows))
                    else ""
                ),
                pane="summary",
                level="warning" if noisy else "info",
            )
            result["noisy_sweep"] = noisy
    return result


def _why_zero(best: dict[str, Any]) -> str:
    if best["num_workers"] == 0:
        return (
            ". Plain tensors cost next to nothing per sample, so handing batches between processes "
            "costs more than it saves; try --sample-cost-us 200 to see workers pay off."
        )
    return ""


def sweep(dataset, values, pin, device, sync, ctx) -> list[dict[str, Any]]:
    rows = []
    for workers in values["sweep_workers"]:
        for bs in values["sweep_batch"]:
            if ctx.stopped:
                return rows
            loader = make_loader(dataset, bs, values, workers, pin, values["seed"])
            try:
                m = measure(loader, values["epochs"], ctx, device, sync)
            finally:
                shut_down(loader)
            if len(m.seconds) < 2 or m.samples == 0:
                continue
            from pttui.engine.timing import rates, summarize

            speed = rates(m.samples, summarize(m.seconds, warmup=1))
            rows.append(
                {
                    "num_workers": workers,
                    "batch_size": bs,
                    "samples_per_s": speed.median,
                    "samples_per_s_spread": speed.to_dict(1),
                    "startup_s": m.startup_s,
                }
            )
    return rows


def _last_batch(n: int, bs: int, drop_last: bool) -> int | None:
    """Samples in an epoch's last batch; None when there is no batch at all."""
    if n == 0 or (drop_last and n < bs):
        return None
    return bs if drop_last or n % bs == 0 else n % bs


def _report_batches(ctx, values, n: int, m: Measured) -> None:
    bs = values["batch_size"]
    batches = n // bs if values["drop_last"] else -(-n // bs)
    last = _last_batch(n, bs, values["drop_last"])
    lines = [
        f"{n} samples / batch_size {bs} = {batches} batches per epoch; the last holds {last} sample(s)"
        + (f" ({n % bs} dropped by drop_last)" if values["drop_last"] and n % bs else ""),
        f"first batch: x {m.first_shapes[0]}, y {m.first_shapes[1]}",
    ]
    if len(m.first_labels) >= 2:
        a, b = m.first_labels[0], m.first_labels[1]
        lines.append(f"first labels, epoch 1: {a}")
        lines.append(f"first labels, epoch 2: {b}")
        if values["shuffle"]:
            lines.append(
                "shuffle: the order changed between epochs" if a != b else "shuffle: same order (by chance)"
            )
        else:
            lines.append("shuffle off: the same order every epoch")
    ctx.text("batches", "\n".join(lines), pane="summary")


def code(values: dict[str, Any]) -> str:
    from pttui.engine import usercode
    from pttui.engine.codegen import DATA_FN
    from pttui.engine.source import definition

    if values["data"]:  # the person's file, read by the engine's own conversions
        helpers = "\n\n\n".join(usercode.data_definitions(values))
        read = "\n".join(
            "    " + line if line else "" for line in usercode.data_lines(values, to_device=False)
        )
        top = usercode.imports(values)
    else:
        fn = DATA_FN[values["dataset"]]
        call = (
            f"{fn}()"
            if fn == "load_digits_arrays"
            else f"{fn}({values['size']}, {values['noise']!r}, {values['seed']})"
        )
        helpers = definition("data", fn)
        read = f"    x, y = {call}\n    x_train, y_train, x_val, y_val = split(x, y, {values['val_fraction']!r}, {values['seed']})"
        top = ""
    workers = values["num_workers"]
    costly = ""
    wrap = ""
    if values["sample_cost_us"]:
        costly = "\n\n" + definition("labs.data", "CostlySamples")
        wrap = f"    dataset = CostlySamples(dataset, {values['sample_cost_us']})\n"
    mp = ""
    if workers:
        mp = (
            f"        persistent_workers=True,  # keep the workers between epochs\n"
            f'        multiprocessing_context="{start_method()}",\n'
        )
    return f'''"""data: a TensorDataset through a DataLoader, and its samples/s.

Made by `pttui run data --export-script`. With num_workers > 0 the script must keep its work
under `if __name__ == "__main__":`: spawn and forkserver workers import this file again.
"""

{top}import statistics
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset


{helpers}


{definition("data", "split")}{costly}


def main():
{read}
    dataset = TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
{wrap}    loader = DataLoader(
        dataset,
        batch_size={values["batch_size"]},
        shuffle={values["shuffle"]},
        num_workers={workers},
        pin_memory={values["pin_memory"]} and torch.cuda.is_available(),  # only helps copies to a GPU
        drop_last={values["drop_last"]},
        generator=torch.Generator().manual_seed({values["seed"]}),
{mp}    )
    print(f"{{len(dataset)}} samples, {{len(loader)}} batches per epoch")
    seconds = []
    for epoch in range({1 + values["epochs"]}):  # the first epoch is a warm-up
        started = time.perf_counter()
        samples = 0
        for i, (xb, yb) in enumerate(loader):
            if i == 0:
                print(f"epoch {{epoch + 1}}: first batch x {{list(xb.shape)}} y {{list(yb.shape)}}, labels {{yb[:12].tolist()}}")
            samples += len(yb)
        seconds.append(time.perf_counter() - started)
        print(f"epoch {{epoch + 1}}: last batch {{len(yb)}} samples")
    print(f"{{samples / statistics.median(seconds[1:] or seconds):.0f}} samples/s")


if __name__ == "__main__":
    main()
'''


LAB = Lab(
    name="data",
    title="DataLoader",
    summary="TensorDataset + DataLoader: batches, shuffling, num_workers and batch size in samples/s",
    order=4,
    params=PARAMS,
    run=run,
    code=code,
    no_pause="data does not pause: a pause would falsify the timings it measures",
)
