"""Real processes for DistributedDataParallel: the parent launches ranks, each rank trains.

Parent side (`launch`): hosts the TCPStore itself on a free port (a prototype measured
`init_process_group` at 2-13 ms this way, 7-750 ms with the ranks racing to host it), starts
each rank as `python -m pttui.engine.distributed` with three pipes (stdin: its spec, then "stop";
stdout: JSON lines of events and its result; stderr: anything else, shown as text events) and
watches them. A dead rank ends the run within `timeout` + GRACE_S with a message naming it;
a rank that stops answering (frozen by SIGSTOP, wedged) is found by its heartbeat going
quiet for `timeout` and named, and the run ends then; a stop ends every rank; no rank
outlives `launch`. Plain `subprocess` pipes, not
multiprocessing, so a host that replaced `sys.stderr` (Textual's has `fileno() == -1`) can
still start ranks.

Rank side (`run_rank`): one code path for a rank started here and one started by torchrun.
The decisions (backend, world size, DataParallel, torchrun's environment) are plain
functions of what is available, so the CUDA and NCCL cases are tested on a CPU machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pttui.engine import events as ev
from pttui.engine.params import ParamError
from pttui.engine.stop_signal import Flag

GRACE_S = 5.0  # past the process-group timeout: time for ranks to report and tear down
STARTUP_S = 120.0  # how long a rank waits for the others to start (importing torch)
SYNC_EVERY = 4  # steps between the all-reduces that agree on a stop (every rank stops at one step)
HEARTBEAT_S = 0.5  # a rank says it is alive this often, from a thread of its own
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


# ----- decisions: plain functions, tested on a CPU machine for the GPU cases too -----


def choose_backend(spec: str, device_kind: str) -> str:
    """`auto` is NCCL on CUDA and gloo on the CPU; NCCL needs CUDA."""
    if spec == "auto":
        return "nccl" if device_kind == "cuda" else "gloo"
    if spec == "nccl" and device_kind != "cuda":
        raise ParamError("backend", spec, f"auto or gloo on {device_kind}; NCCL needs CUDA GPUs")
    return spec


def check_ranks(world_size: int, device_kind: str, cuda_count: int) -> None:
    """On CUDA every rank takes a GPU of its own; on the CPU ranks may share cores."""
    if device_kind == "mps":
        raise ParamError("device", "mps", "cpu or cuda: DistributedDataParallel does not run on mps")
    if device_kind == "cuda" and world_size > cuda_count:
        raise ParamError("world_size", world_size, f"1 to {cuda_count}: one process per GPU on CUDA")


def dataparallel_plan(device_kind: str, cuda_count: int) -> tuple[bool, str]:
    """Whether DataParallel runs here, and the one line that says why (not)."""
    if device_kind != "cuda":
        return False, f"DataParallel not run: it splits batches across GPUs, and this run is on {device_kind}"
    if cuda_count < 2:
        return False, f"DataParallel not run: it needs 2 or more GPUs, {cuda_count} visible here"
    return True, f"DataParallel over {cuda_count} GPUs in one process"


def threads_per_rank(threads: int, world_size: int, cpu_count: int | None) -> int:
    """0 shares the cores evenly (oversubscribed ranks run slower than fewer ranks)."""
    return threads or max(1, (cpu_count or 1) // world_size)


@dataclass(frozen=True)
class TorchrunEnv:
    rank: int
    world_size: int
    local_rank: int
    master: str


def torchrun_env(environ: dict[str, str]) -> TorchrunEnv | None:
    """The rank that torchrun (or any env:// launcher) made this process, or None."""
    if not all(environ.get(name) for name in TORCHRUN_VARS):
        return None
    try:
        rank, world, local = (int(environ[n]) for n in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        return None
    return TorchrunEnv(rank, world, local, f"{environ['MASTER_ADDR']}:{environ['MASTER_PORT']}")


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


# ----- the rank: one code path under this launcher and under torchrun -----


@dataclass
class RankSpec:
    """Everything a rank needs, sent to it as one JSON line."""

    values: dict[str, Any]
    rank: int
    world_size: int
    local_rank: int
    backend: str
    device_kind: str
    timeout: float
    threads: int
    host: str | None = None  # the parent's TCPStore; None: env:// (torchrun)
    port: int | None = None
    report: bool = True  # rank 0 says which model and data ran (not again in the baseline run)


def run_rank(spec: RankSpec, ctx, requested: Flag) -> dict[str, Any]:
    """Train this rank's share with DDP; returns figures gathered from every rank.

    `ctx.stopped` must only change at the all-reduce in `_RankHooks`, so every rank stops
    at the same step; `requested` is this rank's own wish to stop (signal, pipe, host).
    """
    import datetime
    import gc
    import hashlib

    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, TensorDataset

    from pttui.engine import recipe, train

    torch.set_num_threads(spec.threads)
    device = f"cuda:{spec.local_rank}" if spec.device_kind == "cuda" else "cpu"
    if spec.device_kind == "cuda":
        torch.cuda.set_device(spec.local_rank)
    timeout = datetime.timedelta(seconds=spec.timeout)
    if spec.host is not None:
        # Ranks finish importing torch seconds apart on a busy machine: meet first with a
        # patient timeout (a rank that died meanwhile is the parent's to catch), so the short
        # `timeout` only ever measures the ranks' work, never their start-up.
        patient = datetime.timedelta(seconds=max(STARTUP_S, spec.timeout))
        store = dist.TCPStore(spec.host, spec.port, spec.world_size, False, timeout=patient)
        if store.add("pttui/arrived", 1) == spec.world_size:
            store.set("pttui/all-here", "1")
        store.wait(["pttui/all-here"])
        store.set_timeout(timeout)
        started = time.perf_counter()
        dist.init_process_group(
            spec.backend, store=store, rank=spec.rank, world_size=spec.world_size, timeout=timeout
        )
    else:
        started = time.perf_counter()
        dist.init_process_group(spec.backend, init_method="env://", timeout=timeout)
    init_ms = (time.perf_counter() - started) * 1000
    values = spec.values
    healthy = False
    r = model = None
    # What exists now (torch's modules, mostly) is no garbage: keep it out of the collection
    # at teardown, which otherwise takes 0.1-0.5 s on a small machine.
    gc.freeze()
    try:
        r = recipe.prepare(values, device)
        if spec.rank == 0 and spec.report and recipe.is_custom(values):
            recipe.report_custom(ctx, values, r)  # a person's model or data; random data said plainly
        dataset = TensorDataset(r.x_train, r.y_train)
        sampler = DistributedSampler(dataset, spec.world_size, spec.rank, shuffle=True, seed=values["seed"])
        # A BatchSampler as the sampler hands TensorDataset a whole batch of indices at once:
        # the same batches as batch_size=..., without fetching and collating sample by sample.
        # r.batches' size: --input-shape's first size with random inputs, else --batch-size
        loader = DataLoader(
            dataset, sampler=BatchSampler(sampler, r.batches.batch_size, False), batch_size=None
        )
        model = DistributedDataParallel(r.model, device_ids=[spec.local_rank] if device != "cpu" else None)
        hooks = _RankHooks(sampler, requested, ctx.stop_event, device)
        state = train.TrainState()
        metrics = train.fit(
            model,
            r.optimizer,  # built over r.model.parameters(): DDP shares those very tensors
            loader,
            (r.x_val, r.y_val),
            ctx,
            values["epochs"],
            device,
            hooks=hooks,
            state=state,
            rank=spec.rank,  # the chart draws one curve per rank ("train r0", "train r1")
            loss_fn=r.loss_fn,  # a person's task and --output-key; None for the built-ins
            evaluator=r.evaluator,
        )
        hooks.finish()
        flat = torch.cat([p.detach().flatten() for p in model.parameters()]).cpu()
        mine = {
            "hash": hashlib.sha256(flat.numpy().tobytes()).hexdigest()[:16],
            "samples": hooks.samples,
            "seconds": hooks.seconds,
            "init_ms": init_ms,
            "steps": state.step,
        }
        everyone: list[Any] = [None] * spec.world_size
        dist.all_gather_object(everyone, mine)
        healthy = True
    finally:
        # Drop DDP (its reducer holds gloo/NCCL work) before the group goes; without this a
        # rank sometimes aborted at exit ("terminate called without an active exception").
        del model, r
        gc.collect()
        try:
            if healthy:
                dist.barrier()  # no rank tears its group down while another still uses it
            dist.destroy_process_group()
        except Exception:
            if healthy:
                raise
            # else the error that brought us here says more than this one
        gc.unfreeze()
    hashes = [m["hash"] for m in everyone]
    slowest = max(m["seconds"] for m in everyone)
    samples = sum(m["samples"] for m in everyone)
    return {
        **metrics,
        "params_identical": len(set(hashes)) == 1,
        "param_hashes": hashes,
        "own_hash": mine["hash"],
        "samples_per_s": samples / slowest if slowest > 0 else 0.0,
        "steps": state.step,
        "epochs_done": state.epoch,
        "init_ms": max(m["init_ms"] for m in everyone),
        "ranks": everyone,
    }


class _RankHooks:
    """Sets the sampler's epoch, agrees on stopping, and times the epochs after the first.

    The shape of `pttui.engine.train.Hooks` without subclassing it: this module imports without torch.
    """

    def __init__(self, sampler, requested: Flag, stopped: threading.Event, device: str):
        self.sampler = sampler
        self.requested = requested
        self.stopped = stopped
        self.device = device
        self.samples = 0.0
        self.seconds = 0.0
        self.first_epoch = (0.0, 0.0)

    def on_epoch_start(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank

    def on_step_end(self, step: int, loss) -> None:
        # A tiny all-reduce every few steps: a stop seen by any rank stops all at one step.
        # Stopping on a local flag alone would leave the others waiting in their next
        # gradient all-reduce until the timeout. (Measured: no cost above the noise of a
        # 2-core machine against no check at all, 6 runs each.)
        if step % SYNC_EVERY == 0:
            import torch
            import torch.distributed as dist

            flag = torch.tensor([1 if self.requested.is_set() else 0], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            if flag.item():
                self.stopped.set()

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        # The first epoch pays for warm-up (DDP's buckets, allocator, caches): time the rest.
        samples = metrics["samples_per_s"] * metrics["seconds"]
        if epoch == 0:
            self.first_epoch = (samples, metrics["seconds"])
        else:
            self.samples += samples
            self.seconds += metrics["seconds"]

    def finish(self) -> None:
        if self.seconds == 0.0:  # a single epoch: it is all there is
            self.samples, self.seconds = self.first_epoch


# ----- the parent: start ranks, forward their events, end them all -----


class StoppedEarly(Exception):
    """A stop came while the ranks were still starting: they were ended, nothing to report."""


class RankFailed(RuntimeError):
    def __init__(self, rank: int, message: str):
        self.rank = rank
        super().__init__(message)


@dataclass
class _Rank:
    rank: int
    proc: subprocess.Popen
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    tail: deque = field(default_factory=lambda: deque(maxlen=20))
    stepped: bool = False  # it has trained (a stop then ends it cleanly at an agreed step)
    failed_at: float | None = None  # when the parent saw it fail
    heard: float = field(default_factory=time.monotonic)  # its last line (a heartbeat at least)
    spoke: bool = False  # it has sent an event: past its start-up, its heartbeat counts
    silent: bool = False  # it stopped answering: no heartbeat for `timeout`
    ended_by_parent: bool = False  # terminated in teardown: a consequence, not a cause
    readers: list[threading.Thread] = field(default_factory=list)


def host_store(port: int, timeout: float):
    """The TCPStore every rank joins, hosted here; a busy port is a clear parameter error."""
    import datetime

    import torch.distributed as dist

    try:
        return dist.TCPStore(
            "127.0.0.1",
            port,
            None,
            True,
            timeout=datetime.timedelta(seconds=timeout),
            wait_for_workers=False,
        )
    except RuntimeError as exc:  # DistNetworkError: EADDRINUSE and friends
        reason = "it is in use" if "EADDRINUSE" in str(exc) or "in use" in str(exc) else str(exc)
        raise ParamError("port", port, f"a free port, or 0 to pick one ({reason})") from None


def launch(ctx, base: RankSpec, world_size: int, forward: bool = True, port: int = 0) -> list[dict[str, Any]]:
    """Run `world_size` ranks to the end; returns each rank's result (rank order).

    Raises RankFailed naming the first rank that failed; every rank has ended by then.
    """
    store = host_store(port, base.timeout)
    ranks: list[_Rank] = []
    try:
        for r in range(world_size):
            spec = dataclasses.replace(base, rank=r, local_rank=r, world_size=world_size, port=store.port)
            ranks.append(_start(ctx, spec, forward))
        _watch(ctx, ranks, base.timeout)
    finally:
        _end_all(ranks)
        del store
    failed = [rk for rk in ranks if rk.proc.returncode != 0 or rk.result is None]
    if failed and ctx.stopped and all(rk.ended_by_parent for rk in failed):
        raise StoppedEarly("stopped before the ranks finished; no figures to report")
    if failed:
        raise _failure(failed, ranks)
    return [rk.result for rk in ranks]


def _start(ctx, spec: RankSpec, forward: bool) -> _Rank:
    env = dict(os.environ)
    for name in TORCHRUN_VARS:  # a rank started here is not a torchrun rank, whatever the parent is
        env.pop(name, None)
    env["OMP_NUM_THREADS"] = str(spec.threads)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pttui.engine.distributed", f"--rank={spec.rank}"],  # the flag is for `ps`
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        bufsize=1,
    )
    rank = _Rank(spec.rank, proc)
    proc.stdin.write(json.dumps(dataclasses.asdict(spec)) + "\n")
    proc.stdin.flush()
    for target in (_read_events, _read_output):
        t = threading.Thread(target=target, args=(ctx, rank, forward), daemon=True, name=f"rank{spec.rank}")
        t.start()
        rank.readers.append(t)
    return rank


def _read_events(ctx, rank: _Rank, forward: bool) -> None:
    for line in rank.proc.stdout:
        rank.heard = time.monotonic()
        try:
            msg = json.loads(line)
        except ValueError:
            rank.tail.append(line.rstrip())
            continue
        if msg.get("k") == "hb":
            continue
        rank.spoke = True
        if msg.get("k") == "result":
            rank.result = msg["result"]
        elif msg.get("k") == "error":
            rank.error = msg
        elif msg.get("k") == "ev":
            event = ev.from_dict(msg["e"])
            rank.stepped = rank.stepped or event.kind == "step"
            # A quiet launch (the baseline) still passes its warnings on.
            if forward or getattr(event, "level", "") == "warning":
                ctx.emit(dataclasses.replace(event, t=ctx.now()))  # stamped with the parent's clock


def _read_output(ctx, rank: _Rank, forward: bool) -> None:
    """A rank's stderr (and stdout: the rank points fd 1 here) becomes text events."""
    for line in rank.proc.stderr:
        line = line.rstrip()
        if line:
            rank.tail.append(line)
            ctx.text(f"rank {rank.rank}", line, level="warning")


def _watch(ctx, ranks: list[_Rank], timeout: float) -> None:
    """Wait for every rank; on a stop or a failure, give the rest timeout + GRACE_S, then kill.

    A rank whose heartbeat has been quiet for `timeout` ends the run at once: it cannot take
    part in a collective any more, so the others would only wait for it until the same timeout.
    """
    deadline = None
    stop_sent = False
    while [rk.proc.poll() for rk in ranks].count(None):  # poll every rank: it sets returncode
        now = time.monotonic()
        for rk in ranks:
            if rk.spoke and rk.proc.returncode is None and now - rk.heard > timeout:
                rk.silent = True
                rk.failed_at = now
                rk.proc.kill()  # SIGSTOPped, it would not even see a SIGTERM
                return
        if ctx.stopped and not stop_sent:
            stop_sent = True
            if not any(rk.stepped for rk in ranks):
                return  # still starting: nothing to keep, so no need to wait for a clean stop
            _tell(ranks, "stop")
            deadline = time.monotonic() + timeout + GRACE_S
        for rk in ranks:
            if rk.failed_at is None and rk.proc.returncode not in (None, 0):
                rk.failed_at = time.monotonic()
                if deadline is None:  # survivors in a collective end by the group's timeout
                    _tell(ranks, "stop")
                    deadline = rk.failed_at + timeout + GRACE_S
        if deadline is not None and time.monotonic() > deadline:
            return  # _end_all kills what is left
        time.sleep(0.05)


def _tell(ranks: list[_Rank], line: str) -> None:
    for rk in ranks:
        with contextlib.suppress(OSError, ValueError):  # a rank that is gone has no stdin to read
            rk.proc.stdin.write(line + "\n")
            rk.proc.stdin.flush()


def _end_all(ranks: list[_Rank]) -> None:
    """Terminate, then kill, whatever still runs; close the pipes; join the readers."""
    for rk in ranks:
        if rk.proc.poll() is None:
            rk.ended_by_parent = True
            rk.proc.terminate()
    for rk in ranks:
        try:
            rk.proc.wait(2)
        except subprocess.TimeoutExpired:
            rk.proc.kill()
            rk.proc.wait()
    for rk in ranks:
        with contextlib.suppress(OSError, ValueError):
            rk.proc.stdin.close()
        for t in rk.readers:
            t.join(5)  # the rank has exited: what is left in its pipes is read in no time
        for stream in (rk.proc.stdout, rk.proc.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.close()


def _failure(failed: list[_Rank], ranks: list[_Rank]) -> Exception:
    """Blame the rank that failed on its own: one killed by a signal, else one with its own
    error (not a lost peer), else the first one seen to fail."""

    def first_cause(rk: _Rank) -> tuple[bool, bool, int, float, int]:
        code = rk.proc.returncode or 0
        peer_error = rk.error is not None and _is_peer_error(rk.error.get("message", ""))
        kind = 0 if code < 0 else 1 if not peer_error else 2
        return (not rk.silent, rk.ended_by_parent, kind, rk.failed_at or float("inf"), rk.rank)

    culprit = min(failed, key=first_cause)
    err = culprit.error or {}
    if err.get("field"):
        return ParamError(err["field"], err.get("value"), err.get("allowed", ""))
    what = describe_exit(culprit.proc.returncode)
    if culprit.silent:
        quiet = culprit.failed_at - culprit.heard if culprit.failed_at else 0.0
        what = f"stopped answering (no heartbeat for {quiet:.1f} s: frozen or stopped), so it was killed"
        err = {}
    if culprit.proc.returncode == 0 and culprit.result is None:
        what = "ended without a result"
    detail = err.get("message") or (culprit.tail[-1] if culprit.tail and not culprit.silent else "")
    others = [rk.rank for rk in ranks if rk is not culprit]
    message = f"rank {culprit.rank} {what}" + (f": {detail}" if detail else "")
    if others:
        message += f"; {'rank' if len(others) == 1 else 'ranks'} {', '.join(map(str, others))} ended too"
    return RankFailed(culprit.rank, message)


def _is_peer_error(message: str) -> bool:
    words = ("Connection closed by peer", "Connection reset", "timed out", "Timeout", "Broken pipe")
    return any(w.lower() in message.lower() for w in words)


# ----- `python -m pttui.engine.distributed`: one rank started by `launch` -----


def _worker() -> None:
    # fd 1 carries events only: keep it for them, and point fd 1 (Python's and C++'s prints)
    # at stderr, which the parent shows as text.
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    lock = threading.Lock()

    def send(msg: dict[str, Any]) -> None:
        with lock, contextlib.suppress(OSError, ValueError):  # the parent left: nobody to tell
            out.write(json.dumps(msg, separators=(",", ":"), allow_nan=True) + "\n")

    spec = RankSpec(**json.loads(sys.stdin.readline()))
    threading.Thread(target=_heartbeat, args=(send,), daemon=True, name="pttui-heartbeat").start()
    # A flag, not an Event: Ctrl-C reaches the whole group and the parent forwards it, and a
    # second signal inside Event.set() deadlocks on its lock (engine.stop_signal).
    requested = Flag()
    signal.signal(signal.SIGINT, lambda *_: requested.set())
    threading.Thread(target=_stdin_watch, args=(requested, spec.timeout), daemon=True).start()

    from pttui.engine.context import Context

    ctx = Context("parallel", spec.values, lambda e: send({"k": "ev", "e": e.to_dict()}))
    import warnings

    warnings.showwarning = lambda message, category, *_a, **_k: ctx.warn(f"{category.__name__}: {message}")
    try:
        result = run_rank(spec, ctx, requested)
        send({"k": "result", "result": result})
        code = 0
    except ParamError as exc:
        send(
            {
                "k": "error",
                "message": str(exc),
                "field": exc.field,
                "value": exc.value,
                "allowed": exc.allowed,
            }
        )
        code = 1
    except BaseException as exc:
        send({"k": "error", "message": f"{type(exc).__name__}: {exc}", "detail": traceback.format_exc()})
        code = 1
    with contextlib.suppress(OSError, ValueError):
        out.flush()
        sys.stderr.flush()
    # Skip the interpreter's teardown: C++ threads of torch exiting with it are where the
    # rare "terminate called without an active exception" aborts came from.
    os._exit(code)


def _heartbeat(send) -> None:
    """A line every HEARTBEAT_S: the launcher names a rank that goes quiet (SIGSTOP, a wedge)."""
    while True:
        send({"k": "hb"})
        time.sleep(HEARTBEAT_S)


def _stdin_watch(requested: Flag, timeout: float) -> None:
    """Stop on "stop" from the parent, or at EOF (the parent is gone); past the grace, exit."""
    for line in sys.stdin:
        if line.strip() == "stop":
            requested.set()
    requested.set()
    time.sleep(timeout + GRACE_S)
    os._exit(3)


if __name__ == "__main__":
    _worker()
