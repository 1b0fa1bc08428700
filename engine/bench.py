"""`pttui bench`: what the engine costs, measured against a bare hand-written PyTorch loop.

Both train the same model on the same data with the same batch size and threads, in one
process, each on a fresh thread as a lab runs, interleaved A B B A after a warm-up, so
machine noise hits both alike. The headline is the best run of each (noise only adds time);
the median of the per-round ratios is reported beside it. Other labs add headline figures
through SECTIONS (name, function returning a dict).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from pttui.engine import bench_speed  # torch-free until a section runs
from pttui.engine.timing import UNRELIABLE_ADVICE, spread

CONFIG = {"dataset": "digits", "model": "mlp", "hidden": "128,64", "batch_size": 64, "epochs": 20}

# (name, function(quick: bool) -> dict of figures); the speed labs register theirs here.
SECTIONS: list[tuple[str, Callable[[bool], dict[str, Any]]]] = [*bench_speed.SECTIONS]


def bare_loop(values: dict[str, Any]) -> float:
    """The hand-written loop: same data, model, optimizer and evaluation; returns seconds."""
    # Written out by hand on purpose, not through train.fit: it is the baseline the engine is
    # measured against, so it must not share the code it measures.
    import torch
    import torch.nn.functional as F

    from pttui.engine import data, devices, models, train

    started = time.perf_counter()
    devices.set_threads(values["threads"])
    d = data.load(data.DataSpec(values["dataset"], values["size"], values["noise"], values["seed"]))
    xt, yt, xv, yv = data.to_tensors(d)
    torch.manual_seed(values["seed"])
    model = models.MLP(d.n_features, values["hidden"], d.n_classes, values["activation"])
    optimizer = torch.optim.Adam(model.parameters(), lr=values["lr"])
    generator = torch.Generator().manual_seed(values["seed"])
    bs = values["batch_size"]
    for _epoch in range(values["epochs"]):
        model.train()
        losses = []
        order = torch.randperm(len(xt), generator=generator)
        for i in range(0, len(xt), bs):
            idx = order[i : i + bs]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        torch.stack(losses).mean().item()
        train.evaluate(model, xv, yv)
    return time.perf_counter() - started


def engine_run(values: dict[str, Any]) -> float:
    """The same training through the training lab: runner, events and a JSON-lines sink."""
    from pttui.engine.labs import get_lab
    from pttui.engine.runner import Runner
    from pttui.engine.sinks import JsonLinesSink

    with open(os.devnull, "w") as sink_file:
        started = time.perf_counter()
        final = Runner(get_lab("training"), values, [JsonLinesSink(sink_file)]).run()
        seconds = time.perf_counter() - started
    if final.kind != "done":
        raise RuntimeError(f"the engine run failed: {getattr(final, 'message', final)}")
    return seconds


def engine_vs_bare(rounds: int, epochs: int, threads: int) -> dict[str, Any]:
    import torch

    from pttui.engine.labs import get_lab
    from pttui.engine.params import validate

    values = validate(
        get_lab("training").params, {**CONFIG, "epochs": epochs, "device": "cpu", "threads": threads}
    )
    samples = epochs * len(_train_rows(values))
    # Both loops run on a fresh thread, as a lab does on the engine thread, and the main thread
    # never computes: once two threads of one process have run OpenMP work, both ran ~3x
    # slower here (libgomp keeps one worker pool per thread), whichever came first.
    _on_fresh_thread(bare_loop, {**values, "epochs": 2})  # warm-up: the first optimizer
    _on_fresh_thread(engine_run, {**values, "epochs": 2})  # imports ~800 modules
    gc.collect()
    gc.freeze()  # torch's ~180k objects out of every later full collection
    bare_s, engine_s = [], []
    for i in range(rounds):  # A B, then B A: a drift in machine speed hits both alike
        if i % 2 == 0:
            bare_s.append(_on_fresh_thread(bare_loop, values))
            engine_s.append(_on_fresh_thread(engine_run, values))
        else:
            engine_s.append(_on_fresh_thread(engine_run, values))
            bare_s.append(_on_fresh_thread(bare_loop, values))
    ratios = [b / e for b, e in zip(bare_s, engine_s, strict=True)]
    rounds_spread = spread(ratios)
    return {
        # Best against best: on this shared VM noise only ever adds time (rounds of the same
        # code varied by +-20%), so the fastest run of each is the steadiest estimate.
        "engine_vs_bare": round(min(bare_s) / min(engine_s), 4),
        "median_of_round_ratios": round(statistics.median(ratios), 4),
        "engine_samples_per_s": round(samples / min(engine_s), 1),
        "bare_samples_per_s": round(samples / min(bare_s), 1),
        # every speed figure with its rounds' spread, not only the ratio
        "engine_samples_per_s_spread": spread([samples / s for s in engine_s]).to_dict(1),
        "bare_samples_per_s_spread": spread([samples / s for s in bare_s]).to_dict(1),
        "ratios": [round(r, 4) for r in ratios],
        "spread": rounds_spread.to_dict(),  # of the per-round ratios (see pttui.engine.timing)
        "noisy": rounds_spread.noisy,
        "noisy_reason": rounds_spread.noisy_reason,
        "rounds": rounds,
        "threads": threads or torch.get_num_threads(),
        "config": {**CONFIG, "epochs": epochs},
        "torch": torch.__version__,
    }


def engine_words(report: dict[str, Any]) -> str:
    """The engine figure as a person reads it: a headline only when the rounds agreed."""
    s = report["spread"]
    rounds = f"round ratios: median {s['median']:.3f}, IQR {s['q1']:.3f}-{s['q3']:.3f}, min {s['min']:.3f}, max {s['max']:.3f} over {s['rounds']} round(s)"
    if report["noisy"]:
        return f"engine_vs_bare unreliable ({report['noisy_reason']}; {rounds}): {UNRELIABLE_ADVICE}"
    return (
        f"engine {report['engine_samples_per_s']:,.0f} samples/s, bare loop "
        f"{report['bare_samples_per_s']:,.0f} samples/s: engine_vs_bare "
        f"{report['engine_vs_bare']:.3f} (best runs; {rounds})"
    )


def _on_fresh_thread(fn: Callable[[dict[str, Any]], float], values: dict[str, Any]) -> float:
    out: list[float] = []
    worker = threading.Thread(target=lambda: out.append(fn(values)), name="pttui-bench")
    worker.start()
    worker.join()
    if not out:
        raise RuntimeError(f"{fn.__name__} failed (see above)")
    return out[0]


def _train_rows(values: dict[str, Any]):
    from pttui.engine import data

    return data.load(
        data.DataSpec(values["dataset"], values["size"], values["noise"], values["seed"])
    ).x_train


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pttui bench",
        description="Measure the engine against a bare PyTorch loop (ratio of the best "
        "samples/s of interleaved rounds), plus each speed lab's headline figure.",
        epilog="pttui bench --ui measures the app instead (its cost to a run, UI lag, the warm "
        "engine, first frames): see pttui bench --ui --help.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved A/B rounds (default 15)")
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"], help="epochs per timed run")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sections")
    parser.add_argument("--only", choices=["engine", *[n for n, _ in SECTIONS]], help="one part only")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.epochs < 1:
        parser.error("--rounds and --epochs must be at least 1")
    report: dict[str, Any] = {}
    if args.only in (None, "engine"):
        rounds = min(args.rounds, 2) if args.quick else args.rounds
        report.update(engine_vs_bare(rounds, args.epochs, args.threads))
        if not args.json:
            print(engine_words(report), flush=True)
    for name, section in SECTIONS:
        if args.only not in (None, name):
            continue
        figures = section(args.quick)
        report[name] = figures
        if not args.json:
            shown = ", ".join(f"{k} {v}" for k, v in figures.items() if not isinstance(v, dict))
            if figures.get("noisy"):
                shown = f"unreliable ({figures.get('noisy_reason') or 'rounds disagreed'}): {UNRELIABLE_ADVICE}; {shown}"
            print(f"{name}: {shown}", flush=True)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
