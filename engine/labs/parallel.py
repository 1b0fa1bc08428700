"""The multi-GPU / distributed topic: DistributedDataParallel over real processes.

Launched by pttui, the lab starts `world_size` ranks (gloo on the CPU, NCCL with one process
per GPU), streams each rank's losses back as its own curve, checks that every rank ends with
bitwise identical parameters, and measures samples/s at world size 1 and N. Started by
torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set), each process is
one rank; rank 0 prints the events and the result, the other ranks print nothing on stdout.
The process plumbing lives in engine.distributed.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from pttui.engine import common, numbers
from pttui.engine.codegen import (
    data_lines,
    imports,
    model_call,
    model_definitions,
    optimizer_call,
    task_arguments,
    task_lines,
)
from pttui.engine.lab import Lab
from pttui.engine.params import Param, ParamError

WORLD_SIZE = Param("world_size", "int", 2, "processes (ranks); on CUDA at most one per GPU", low=1, high=64)
BACKEND = Param(
    "backend",
    "choice",
    "auto",
    "process group backend: auto is nccl on CUDA, gloo on the CPU",
    ("auto", "gloo", "nccl"),
)
TIMEOUT = Param(
    "timeout", "float", 20.0, "seconds a rank waits for the others before the run fails", low=1.0, high=3600.0
)
PORT = Param("port", "int", 0, "TCP port where the ranks meet (0: pick a free one)", low=0, high=65535)
BASELINE = Param("baseline", "bool", True, "also train with world size 1, for the scaling efficiency")

BATCH_SIZE = dataclasses.replace(common.BATCH_SIZE, help="samples per mini-batch on each rank")
PARAMS = (
    WORLD_SIZE,
    BACKEND,
    *common.DATA_PARAMS,
    *common.MODEL_PARAMS,
    *common.USER_MODEL_PARAMS,
    *common.USER_DATA_PARAMS,
    *common.SYNTHETIC_PARAMS,
    *common.OPTIM_PARAMS,
    BATCH_SIZE,
    dataclasses.replace(common.EPOCHS, default=3),
    common.DEVICE,
    common.SEED,
    dataclasses.replace(common.THREADS, help="CPU threads per rank (0: the cores shared evenly)"),
    TIMEOUT,
    PORT,
    BASELINE,
)


def run(values: dict[str, Any], ctx) -> dict[str, Any]:
    import os

    from pttui.engine import devices
    from pttui.engine import distributed as dd

    available = devices.Available.probe()
    device = devices.choose_device(values["device"], available)
    if ":" in device:
        raise ParamError(
            "device", values["device"], "auto, cpu or cuda: each rank takes the GPU of its own rank"
        )
    kind = device  # "cpu", "cuda" or "mps": each rank picks its own GPU
    backend = dd.choose_backend(values["backend"], kind)
    if values["model"] == "cnn" and values["dataset"] != "digits":
        raise ParamError("model", "cnn", "mlp or simplenet for 2-D data; cnn needs --dataset digits")
    from pttui.engine import recipe

    if recipe.is_synthetic(values):  # random inputs: every rank's batch is --input-shape's first size
        batch, _ = recipe.synthetic_batch(values, BATCH_SIZE.default)
        values = {**values, "batch_size": batch}
    env = dd.torchrun_env(dict(os.environ))
    if env is not None:
        return _as_torchrun_rank(values, ctx, env, kind, backend, available.cuda_count)

    world = values["world_size"]
    dd.check_ranks(world, kind, available.cuda_count)
    cores = os.cpu_count()
    threads = dd.threads_per_rank(values["threads"], world, cores)
    ctx.start(device)
    if kind == "cpu" and world * threads > (cores or 1):
        ctx.warn(
            f"{numbers.count(world, 'rank')} x {numbers.count(threads, 'thread')} on "
            f"{numbers.count(cores or 1, 'core')}: the ranks share cores"
        )
    base = dd.RankSpec(dict(values), 0, world, 0, backend, kind, values["timeout"], threads, host="127.0.0.1")
    started = time.perf_counter()
    try:
        results = dd.launch(ctx, base, world, port=values["port"])
    except dd.StoppedEarly as stop:
        ctx.text("stopped", str(stop))
        return {"world_size": world, "backend": backend, "device": device, "launcher": "pttui", "steps": 0}
    seconds = time.perf_counter() - started
    first = results[0]
    # Each rank hashed its own parameters; rank 0 also gathered every rank's hash.
    identical = len({r["own_hash"] for r in results}) == 1 and first["params_identical"]
    result = _result(first, values, world, backend, device, "pttui", threads)
    result["params_identical"] = identical
    result["seconds"] = seconds

    sps_1 = first["samples_per_s"] if world == 1 else None
    if world > 1 and values["baseline"] and not ctx.stopped:
        ctx.text(
            "baseline",
            f"training again with world size 1 ({numbers.count(threads, 'thread')}) to measure scaling",
        )
        try:
            solo = dd.launch(ctx, dataclasses.replace(base, world_size=1, report=False), 1, forward=False)
            sps_1 = solo[0]["samples_per_s"]
        except dd.StoppedEarly:
            sps_1 = None
    _scaling(result, sps_1, world)

    run_dp, why = dd.dataparallel_plan(kind, available.cuda_count)
    if run_dp and not ctx.stopped:
        result["dataparallel_samples_per_s"] = _dataparallel(values, ctx, available.cuda_count)
    result["dataparallel"] = why
    ctx.text("DataParallel", why)
    _report(ctx, result, first["ranks"], world)
    return result


def _as_torchrun_rank(values, ctx, env, kind, backend, cuda_count) -> dict[str, Any]:
    """This process is one rank that torchrun started: train as it, print only on rank 0."""
    import os

    from pttui.engine import distributed as dd
    from pttui.engine.context import Context

    if kind == "cuda" and env.local_rank >= cuda_count:
        raise ParamError("device", "cuda", f"a GPU for local rank {env.local_rank}; {cuda_count} visible")
    if env.rank != 0:  # one rank speaks, or every line would print world_size times
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", env.world_size))
    threads = dd.threads_per_rank(values["threads"], local_world, os.cpu_count())
    device = f"cuda:{env.local_rank}" if kind == "cuda" else "cpu"
    ctx.start(device)
    if env.world_size != values["world_size"]:
        ctx.text("torchrun", f"world size {env.world_size} from torchrun (WORLD_SIZE), not --world-size")
    spec = dd.RankSpec(
        dict(values), env.rank, env.world_size, env.local_rank, backend, kind, values["timeout"], threads
    )
    # The rank's own context: its `stopped` changes only where every rank agrees on it.
    rank_ctx = Context(ctx.topic, ctx.params, ctx.emit)
    started = time.perf_counter()
    out = dd.run_rank(spec, rank_ctx, ctx.stop_event)
    result = _result(out, values, env.world_size, backend, device, "torchrun", threads)
    result["seconds"] = time.perf_counter() - started
    _scaling(result, None, env.world_size)
    result["dataparallel"] = "DataParallel not run: under torchrun every process is one DDP rank"
    _report(ctx, result, out["ranks"], env.world_size)
    return result


def _result(first, values, world, backend, device, launcher, threads) -> dict[str, Any]:
    return {
        "params_identical": first["params_identical"],
        "world_size": world,
        "backend": backend,
        "device": device,
        "launcher": launcher,
        "train_loss": first.get("train_loss"),
        "val_loss": first.get("val_loss"),
        "val_acc": first.get("val_acc"),
        "steps": first["steps"],
        "epochs_done": first["epochs_done"],
        "samples_per_s": first["samples_per_s"],
        "threads_per_rank": threads,
        "init_ms": first["init_ms"],
        "param_hashes": first["param_hashes"],
    }


def _scaling(result: dict[str, Any], sps_1: float | None, world: int) -> None:
    """Efficiency: samples/s at N ranks over N times samples/s at one rank (1.0 is perfect)."""
    result["samples_per_s_1"] = sps_1 or None  # 0.0: stopped within its first epoch
    result["scaling_efficiency"] = result["samples_per_s"] / (world * sps_1) if sps_1 else None


def _dataparallel(values, ctx, gpus: int) -> float:
    """One process, every GPU: DataParallel splits each batch (the per-GPU batch of a DDP rank)."""
    import torch

    from pttui.engine import recipe, train

    r = recipe.prepare({**values, "batch_size": values["batch_size"] * gpus}, "cuda")
    model = torch.nn.DataParallel(r.model)
    metrics = train.fit(
        model,
        r.optimizer,
        r.batches,
        (r.x_val, r.y_val),
        ctx,
        values["epochs"],
        "cuda",
        series="dataparallel",
    )
    return metrics.get("samples_per_s", 0.0)


def timed_epochs(epochs_done: int) -> str:
    """What the samples/s figures cover (engine.distributed times the epochs after the first,
    which pays for warm-up, unless only one epoch ended: then that one)."""
    if epochs_done >= 2:
        return "epochs after the first (warm-up left out)"
    return "epoch 1, warm-up included (2 or more --epochs leave it out)"


def _report(ctx, result: dict[str, Any], ranks: list[dict[str, Any]], world: int) -> None:
    rows = [
        [i, m["steps"], m["samples"] / m["seconds"] if m["seconds"] else 0.0, m["init_ms"], m["hash"]]
        for i, m in enumerate(ranks)
    ]
    ctx.table(
        "ranks",
        ["rank", "steps", "samples/s", "init ms", "parameter hash"],
        rows,
        note="init ms: init_process_group (launched by pttui: once every rank has started)",
    )
    scaling = [["1", result["samples_per_s_1"], 1.0 if result["samples_per_s_1"] else None]]
    if world > 1:
        scaling.append([str(world), result["samples_per_s"], result["scaling_efficiency"]])
    ctx.table(
        "scaling",
        ["world size", "samples/s", "efficiency"],
        scaling,
        note=f"{timed_epochs(result['epochs_done'])}; efficiency = samples/s at N / (N x samples/s at 1)",
    )
    same = "yes" if result["params_identical"] else "NO"
    eff = result["scaling_efficiency"]
    lines = [
        f"{world} rank{'s' if world > 1 else ''}, {result['backend']} on {result['device']}, "
        f"launched by {result['launcher']}",
        f"parameters bitwise identical on every rank: {same}",
        f"samples/s: {result['samples_per_s']:,.0f} at world size {world}"
        + (f", {result['samples_per_s_1']:,.0f} at 1" if result["samples_per_s_1"] and world > 1 else ""),
        f"scaling efficiency: {eff:.2f}" if eff is not None else "scaling efficiency: not measured",
        result["dataparallel"],
    ]
    ctx.text("parallel", "\n".join(lines), pane="summary")


def code(values: dict[str, Any]) -> str:
    """The plain DDP script: runs under torchrun, or starts its own ranks with `python`."""
    world, seed, bs, timeout = values["world_size"], values["seed"], values["batch_size"], values["timeout"]
    use_cuda = {"cpu": "False", "auto": "torch.cuda.is_available()"}.get(values["device"], "True")
    backend = {"gloo": '"gloo"', "nccl": '"nccl"'}.get(values["backend"], '"nccl" if USE_CUDA else "gloo"')
    threads = (
        f"torch.set_num_threads({values['threads']})"
        if values["threads"]
        else "torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))  # cores shared evenly"
    )
    from pttui.engine import usercode

    make_model = f"model = {model_call(values)}.to(device)"
    data_text = "\n".join(data_lines(values))
    if values.get("model_spec"):  # each rank imports the person's file
        lines = usercode.model_lines(values)
        make_model = lines[-1]
        if usercode.is_synthetic(values):
            data_text, bs = usercode.synthetic_lines(values)
        else:
            data_text += "\n" + "\n".join(lines[:-1])
    data_text = "\n".join([data_text, *task_lines(values)])
    data = "\n".join(("    " + line) if line else "" for line in data_text.splitlines())
    task = task_arguments(values)
    stdlib = tuple(line.split()[1] for line in usercode.imports(values).splitlines())
    return f'''"""parallel: the plain PyTorch that pttui runs for these values.

Made by `pttui run parallel --export-script`. Start it either way:
    torchrun --standalone --nproc-per-node {world} parallel.py   # torchrun starts the ranks
    python parallel.py                                        # it starts {world} ranks itself
"""

{imports("datetime", "gc", "hashlib", "os", "socket", *stdlib)}
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, TensorDataset


{model_definitions(values)}


class ShuffleEachEpoch(Hooks):
    """A new shuffle each epoch, the same on every rank (pttui's own rank hooks also agree
    on stopping, which a script that Ctrl-C ends does not need)."""

    def __init__(self, sampler):
        self.sampler = sampler

    def on_epoch_start(self, epoch):
        self.sampler.set_epoch(epoch)


WORLD_SIZE = {world}
USE_CUDA = {use_cuda}
BACKEND = {backend}


def train(rank, world_size, local_rank):
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    {threads}
    if USE_CUDA:
        torch.cuda.set_device(local_rank)
    device = f"cuda:{{local_rank}}" if USE_CUDA else "cpu"
    # MASTER_ADDR and MASTER_PORT (set by torchrun, or below) say where the ranks meet.
    timeout = datetime.timedelta(seconds={timeout!r})
    dist.init_process_group(BACKEND, rank=rank, world_size=world_size, timeout=timeout)
{data}

    torch.manual_seed({seed})  # the same initial weights on every rank (DDP broadcasts rank 0's too)
    {make_model}
    optimizer = {optimizer_call(values)}
    model = DDP(model, device_ids=[local_rank] if USE_CUDA else None)  # shares the same parameters
    dataset = TensorDataset(x_train, y_train)
    # Each rank takes its own 1/world_size of every epoch's shuffle.
    sampler = DistributedSampler(dataset, world_size, rank, shuffle=True, seed={seed})
    # A BatchSampler as the sampler fetches a whole batch at once: the batches of batch_size={bs}.
    loader = DataLoader(dataset, sampler=BatchSampler(sampler, {bs}, False), batch_size=None)

    fit(
        model, optimizer, loader, (x_val, y_val), Report(), {values["epochs"]}, device,
        hooks=ShuffleEachEpoch(sampler), rank=rank{task},  # DDP averages the gradients in backward
    )

    # Every rank took the same steps from the same start: the parameters are bitwise identical.
    flat = torch.cat([p.detach().flatten() for p in model.parameters()]).cpu()
    hashes = [None] * world_size
    dist.all_gather_object(hashes, hashlib.sha256(flat.numpy().tobytes()).hexdigest()[:16])
    if rank == 0:
        print("params identical on every rank:", len(set(hashes)) == 1, flush=True)
    del model, optimizer  # free DDP's reducer before the group goes
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()


def spawned(rank, world_size, port):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    train(rank, world_size, rank)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dataparallel():
    """DataParallel: one process; each batch is split across every visible GPU."""
    device = "cuda"
{data}
    torch.manual_seed({seed})
    {make_model}
    model = nn.DataParallel(model)
    optimizer = {optimizer_call(values)}
    generator = torch.Generator().manual_seed({seed})
    batches = Batches(x_train, y_train, {bs} * torch.cuda.device_count(), generator)  # a DDP rank's batch per GPU
    fit(model, optimizer, batches, (x_val, y_val), Report(), {values["epochs"]}, device, series="dataparallel"{task})


if __name__ == "__main__":
    if "RANK" in os.environ:  # torchrun set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
        train(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    else:
        torch.multiprocessing.spawn(spawned, args=(WORLD_SIZE, free_port()), nprocs=WORLD_SIZE)
        if USE_CUDA and torch.cuda.device_count() >= 2:
            dataparallel()
        else:
            print(f"DataParallel not run: it needs 2 or more GPUs, {{torch.cuda.device_count()}} visible here")
'''


LAB = Lab(
    name="parallel",
    title="Multi-GPU & distributed",
    summary="DistributedDataParallel over real processes (gloo on the CPU, NCCL on GPUs), DataParallel, torchrun",
    order=7,
    params=PARAMS,
    run=run,
    code=code,
    no_pause="parallel does not pause: a held rank would trip the other ranks' timeout",
)
