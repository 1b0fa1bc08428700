"""The parallel lab with real rank processes: identical parameters, a killed rank, a busy port,
stop without orphans, torchrun, and the GPU decisions (tested as plain functions here)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_lab

from pttui.engine import distributed as dd
from pttui.engine import events as ev
from pttui.engine.labs import get_lab
from pttui.engine.params import ParamError, validate
from tests.test_app import built

TINY = dict(
    dataset="moons", size=400, hidden="16", batch_size=16, epochs=2, threads=1, baseline=False, timeout=5
)
FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items() if k != "baseline"] + ["--no-baseline"]


def children(pid: int) -> dict[int, str]:
    """Live (non-zombie) child processes of `pid` and their command lines, read from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state not in ("Z", "X"):
            found[int(entry.name)] = cmd
    return found


def ranks_of(pid: int) -> dict[int, int]:
    """{rank: pid} of the rank processes below `pid` (under a supervisor, the engine's children)."""
    found = {}
    for child, cmd in children(pid).items():
        if m := re.search(r"engine\.distributed --rank=(\d+)", cmd):
            found[int(m.group(1))] = child
        else:
            found.update(ranks_of(child))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_gone(pids, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


# ----- decisions (no processes) -----


def test_backend_choice():
    assert dd.choose_backend("auto", "cpu") == "gloo"
    assert dd.choose_backend("auto", "cuda") == "nccl"
    assert dd.choose_backend("gloo", "cuda") == "gloo"
    with pytest.raises(ParamError) as err:
        dd.choose_backend("nccl", "cpu")
    assert err.value.field == "backend" and "gloo" in err.value.allowed


def test_one_rank_per_gpu_and_no_mps():
    dd.check_ranks(8, "cpu", 0)  # ranks may share CPU cores
    dd.check_ranks(2, "cuda", 2)
    with pytest.raises(ParamError) as err:
        dd.check_ranks(3, "cuda", 2)
    assert err.value.field == "world_size" and "1 to 2" in err.value.allowed
    with pytest.raises(ParamError):
        dd.check_ranks(1, "mps", 0)


@pytest.mark.parametrize(
    ("kind", "gpus", "runs", "says"),
    [("cpu", 0, False, "on cpu"), ("cuda", 1, False, "1 visible"), ("cuda", 4, True, "4 GPUs")],
)
def test_dataparallel_plan(kind, gpus, runs, says):
    run, why = dd.dataparallel_plan(kind, gpus)
    assert run is runs and says in why and "\n" not in why


def test_torchrun_environment():
    env = {
        "RANK": "1",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "10.0.0.1",
        "MASTER_PORT": "29500",
    }
    assert dd.torchrun_env(env) == dd.TorchrunEnv(1, 4, 1, "10.0.0.1:29500")
    assert dd.torchrun_env({k: v for k, v in env.items() if k != "MASTER_PORT"}) is None
    assert dd.torchrun_env({}) is None


def test_threads_and_exit_words():
    assert dd.threads_per_rank(0, 2, 2) == 1 and dd.threads_per_rank(0, 4, 16) == 4
    assert dd.threads_per_rank(3, 2, 2) == 3 and dd.threads_per_rank(0, 4, None) == 1
    assert dd.describe_exit(-9) == "killed by SIGKILL" and dd.describe_exit(1) == "exited with code 1"


def test_counts_read_singular_for_one_and_the_scaling_note_says_which_epochs_it_timed():
    from pttui.engine.labs.parallel import timed_epochs
    from pttui.engine.numbers import count

    assert count(1, "thread") == "1 thread" and count(2, "thread") == "2 threads"
    assert count(1200, "step") == "1,200 steps" and count(0, "epoch") == "0 epochs"
    assert timed_epochs(1).startswith("epoch 1, warm-up included")
    assert timed_epochs(0).startswith("epoch 1, warm-up included")  # stopped within epoch 1
    assert timed_epochs(2) == "epochs after the first (warm-up left out)"


@pytest.mark.slow
def test_one_epoch_run_says_its_figures_include_warm_up_and_one_thread_is_singular():
    saved = sys.stderr
    try:
        final, sink = run_lab("parallel", **{**TINY, "epochs": 1, "world_size": 2, "baseline": True})
    finally:
        sys.stderr = saved
    assert isinstance(final, ev.Done), final
    assert final.result["epochs_done"] == 1
    (scaling,) = [t for t in sink.of("table") if t.title == "scaling"]
    assert scaling.note.startswith("epoch 1, warm-up included"), scaling.note
    said = " ".join(t.body for t in sink.of("text")) + " ".join(w.message for w in sink.of("warning"))
    assert "(1 thread)" in said and "1 threads" not in said, said


def test_code_is_torch_free_and_shows_dataparallel():
    code = "import sys; from pttui.engine.labs import get_lab; from pttui.engine.params import validate; lab = get_lab('parallel'); s = lab.code(validate(lab.params, {'device': 'cuda', 'backend': 'nccl'})); assert 'torch' not in sys.modules; print(s)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "nn.DataParallel(" in out.stdout and 'BACKEND = "nccl"' in out.stdout
    assert "DistributedSampler(" in out.stdout and "torchrun --standalone" in out.stdout


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"threads": 2, "device": "cpu", "backend": "gloo"},
        {"device": "cuda", "backend": "nccl", "model": "cnn", "optimizer": "sgd"},
        {"dataset": "spiral", "model": "simplenet", "optimizer": "adamw", "world_size": 4},
    ],
)
def test_code_compiles_for_these_values(raw):
    lab = get_lab("parallel")
    compile(lab.code(validate(lab.params, raw)), "parallel.py", "exec")


def test_bad_values_fail_before_any_rank_starts():
    final, _ = run_lab("parallel", backend="nccl", device="cpu", **TINY)
    assert isinstance(final, ev.Error) and final.field == "backend"
    with pytest.raises(ParamError) as refused:  # with the parameters (common.VALUE_NEEDS)
        run_lab("parallel", model="cnn", **{k: v for k, v in TINY.items() if k != "hidden"})
    assert refused.value.field == "model"
    final, _ = run_lab("parallel", device="cuda", **TINY)
    assert isinstance(final, ev.Error) and final.field == "device"


# ----- real ranks -----


class NoFd:
    """Textual's stand-in for stderr: fileno() is -1 (multiprocessing broke on it)."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass

    def fileno(self):
        return -1


@pytest.fixture(scope="module")
def tiny():
    """One 2-rank run shared by several tests, started the way the app's engine would be:
    with a sys.stderr that has no file descriptor."""
    saved, sys.stderr = sys.stderr, NoFd()
    try:
        final, sink = run_lab("parallel", **{**TINY, "baseline": True})
    finally:
        sys.stderr = saved
    return final, sink


@pytest.mark.slow
def test_two_ranks_end_with_identical_parameters(tiny):
    final, sink = tiny
    assert isinstance(final, ev.Done), final
    result = final.result
    assert result["params_identical"] is True and result["world_size"] == 2 and result["backend"] == "gloo"
    assert len(set(result["param_hashes"])) == 1 and len(result["param_hashes"]) == 2
    assert result["samples_per_s"] > 0 and result["samples_per_s_1"] > 0
    assert result["scaling_efficiency"] == pytest.approx(
        result["samples_per_s"] / (2 * result["samples_per_s_1"])
    )
    # One curve per rank, each rank's own steps; the baseline run's steps are not charted.
    steps = sink.of("step")
    for rank in (0, 1):
        mine = [s for s in steps if s.rank == rank]
        assert {s.series for s in mine} == {"train"}  # the rank tells the curves apart
        assert [s.step for s in mine] == list(range(1, result["steps"] + 1))
    assert {(e.rank, e.epoch) for e in sink.of("epoch")} == {(r, e) for r in (0, 1) for e in (0, 1)}
    assert {t.title for t in sink.of("table")} == {"ranks", "scaling"}
    assert any("DataParallel not run" in t.body for t in sink.of("text"))
    assert not [t for t in sink.of("text") if t.title.startswith("rank ")], "ranks printed something"
    assert ranks_of(os.getpid()) == {}  # other tests may leave their own helpers (a forkserver)


@pytest.mark.slow
def test_a_killed_rank_ends_the_run_and_is_named():
    from pttui.engine.runner import Runner
    from pttui.engine.sinks import CollectSink

    killed = {}

    class KillRank1(CollectSink):
        def on_event(self, event):
            super().on_event(event)
            if event.kind == "step" and event.rank == 1 and not killed:
                pid = ranks_of(os.getpid())[1]
                os.kill(pid, signal.SIGKILL)
                killed["at"] = time.monotonic()

    timeout = 3
    runner = Runner(get_lab("parallel"), {**TINY, "epochs": 500, "timeout": timeout}, [KillRank1()])
    final = runner.run()
    ended = time.monotonic() - killed["at"]
    print(f"killed rank 1: the run ended {ended:.2f} s later")
    assert isinstance(final, ev.Error), final
    assert "rank 1 killed by SIGKILL; rank 0 ended too" in final.message, final.message
    assert ended < timeout + dd.GRACE_S + 3
    assert ranks_of(os.getpid()) == {}  # other tests may leave their own helpers (a forkserver)


@pytest.mark.slow
def test_a_rank_dead_before_the_rendezvous_ends_the_run_within_the_timeout():
    """The survivor waits at the rendezvous; the parent ends it at timeout + GRACE_S."""
    from pttui.engine.runner import Runner

    timeout = 1
    runner = Runner(get_lab("parallel"), {**TINY, "timeout": timeout}).start()
    deadline = time.monotonic() + 30
    while 1 not in (found := ranks_of(os.getpid())) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert 1 in found, f"rank 1 never started: {found}"
    os.kill(found[1], signal.SIGKILL)
    killed = time.monotonic()
    assert runner.join(timeout + dd.GRACE_S + 5), "the run did not end"
    took = time.monotonic() - killed
    assert isinstance(runner.last, ev.Error) and "rank 1 killed by SIGKILL" in runner.last.message, (
        runner.last
    )
    assert took < timeout + dd.GRACE_S + 3, (took, runner.last)
    assert ranks_of(os.getpid()) == {}  # other tests may leave their own helpers (a forkserver)


@pytest.mark.slow
def test_a_failing_rank_reports_its_own_error():
    from pttui.engine.context import Context

    texts = []
    ctx = Context("parallel", {}, texts.append)
    values = validate(get_lab("parallel").params, TINY)
    spec = dd.RankSpec(values, 0, 2, 0, "mpi", "cpu", 5.0, 1, host="127.0.0.1")  # no MPI in this torch
    with pytest.raises(dd.RankFailed) as err:
        dd.launch(ctx, spec, 2)
    # Both ranks fail on their own here: the first seen is named, with its own message.
    assert re.match(
        r"rank [01] exited with code 1: RuntimeError: .*MPI.*; rank [01] ended too$", str(err.value)
    )
    assert ranks_of(os.getpid()) == {}  # other tests may leave their own helpers (a forkserver)


@pytest.mark.slow
def test_a_busy_port_is_a_clear_error_within_seconds():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        started = time.monotonic()
        final, _ = run_lab("parallel", port=busy.getsockname()[1], **TINY)
    assert isinstance(final, ev.Error) and final.field == "port", final
    assert "in use" in final.message and "0 to pick one" in final.message
    assert time.monotonic() - started < 10


@pytest.mark.slow
def test_stop_ends_every_rank_at_the_same_step():
    from pttui.engine.runner import Runner
    from pttui.engine.sinks import CollectSink

    class StopSoon(CollectSink):
        def on_event(self, event):
            super().on_event(event)
            if event.kind == "step" and event.step == 3:
                runner.stop()

    sink = StopSoon()
    runner = Runner(get_lab("parallel"), {**TINY, "epochs": 500, "baseline": True}, [sink])
    final = runner.run()
    assert isinstance(final, ev.Done) and final.stopped, final
    assert final.result["params_identical"] is True  # they stopped at one step, in agreement
    last = {r: max(s.step for s in sink.of("step") if s.rank == r) for r in (0, 1)}
    assert last[0] == last[1] == final.result["steps"] < 500 * 10
    assert final.result["samples_per_s_1"] is None  # no baseline after a stop
    assert ranks_of(os.getpid()) == {}  # other tests may leave their own helpers (a forkserver)


def test_a_stop_while_the_ranks_start_ends_them_at_once():
    from pttui.engine.runner import Runner

    runner = Runner(get_lab("parallel"), TINY).start()
    deadline = time.monotonic() + 30
    while not ranks_of(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.stop()
    assert runner.join(5), "ranks that had not started training were not ended at once"
    assert isinstance(runner.last, ev.Done) and runner.last.stopped, runner.last
    assert ranks_of(os.getpid()) == {}  # other tests may leave their own helpers (a forkserver)


def _engine(*flags: str, **kw) -> subprocess.Popen:
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "pttui.engine", "run", "parallel", "--json", "--no-record", *flags]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def _until_training(proc: subprocess.Popen) -> dict[int, int]:
    """Read events until both ranks stepped; returns their pids. The rest is read in a thread."""
    seen = set()
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "step":
            seen.add(event["rank"])
        if seen == {0, 1}:
            return ranks_of(proc.pid)
    raise AssertionError(f"no steps from both ranks: {proc.stderr.read()}")


@pytest.mark.slow
@pytest.mark.parametrize("target", ["engine", "group"])
def test_sigint_stops_every_rank_and_leaves_no_orphan(target):
    """`engine`: the app sends SIGINT to its child. `group`: Ctrl-C in a terminal."""
    proc = _engine(*FLAGS, "--epochs=5000", start_new_session=True)
    try:
        ranks = _until_training(proc)
        assert sorted(ranks) == [0, 1]
        if target == "engine":
            proc.send_signal(signal.SIGINT)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    done = json.loads(rest.splitlines()[-1])
    assert done["event"] == "done" and done["stopped"] is True
    assert done["result"]["params_identical"] is True
    assert wait_gone(ranks.values(), 5), "a rank outlived the engine"


@pytest.mark.slow
def test_ranks_end_when_the_engine_is_killed():
    timeout = 3
    proc = _engine(*FLAGS, "--epochs=5000", f"--timeout={timeout}")
    ranks = _until_training(proc)
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    proc.kill()
    proc.wait()
    # stdin closes with the engine: every rank stops at once, or exits past the grace.
    assert wait_gone(ranks.values(), timeout + dd.GRACE_S + 5), "orphaned ranks"


@pytest.mark.slow
def test_torchrun_runs_the_same_training(tiny):
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    out = subprocess.run(
        [*cmd, "-m", "pttui.engine", "run", "parallel", "--json", "--no-record", *FLAGS],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]  # stdout: rank 0's events only
    kinds = [e["event"] for e in events]
    assert kinds.count("start") == 1 and kinds.count("done") == 1 and kinds[-1] == "done"
    result = events[-1]["result"]
    assert result["launcher"] == "torchrun" and result["world_size"] == 2 and result["params_identical"]
    assert {e["rank"] for e in events if e["event"] == "step"} == {0}

    final, _ = tiny  # the same values, launched by pttui
    for key in ("train_loss", "val_loss", "val_acc", "steps", "param_hashes"):
        assert result[key] == final.result[key], key


@pytest.mark.slow
def test_many_runs_end_cleanly():
    """The prototype's ranks sometimes aborted at exit; ten quick runs must all end cleanly."""
    for i in range(10):
        final, sink = run_lab("parallel", **{**TINY, "epochs": 1, "seed": i})
        assert isinstance(final, ev.Done) and final.result["params_identical"], (i, final)
        assert not [t for t in sink.of("text") if t.title.startswith("rank ")], (i, sink.of("text"))
    assert ranks_of(os.getpid()) == {}  # other tests may leave their own helpers (a forkserver)


@pytest.mark.slow
def test_exported_script_prints_the_engines_losses(tmp_path, tiny):
    values = validate(get_lab("parallel").params, TINY)
    _, sink = tiny
    engine = {
        (e.rank, e.epoch + 1): (e.metrics["train_loss"], e.metrics["val_loss"]) for e in sink.of("epoch")
    }
    script = tmp_path / "parallel.py"
    script.write_text(get_lab("parallel").code(values))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    printed = {
        (int(r), int(e)): (float(a), float(b))
        for r, e, a, b in re.findall(
            r"rank (\d) epoch (\d+): train_loss ([\d.]+) val_loss ([\d.]+)", out.stdout
        )
    }
    assert printed.keys() == engine.keys() and len(printed) == 4
    for key, (ta, va) in engine.items():
        tb, vb = printed[key]
        assert abs(ta - tb) <= 1e-6 and abs(va - vb) <= 1e-6, key
    assert "params identical on every rank: True" in out.stdout
    assert "DataParallel not run" in out.stdout


@pytest.mark.slow
def test_in_the_app_one_curve_per_rank_then_stop_leaves_nothing():
    import asyncio

    from pttui.tui.app import PlaygroundApp

    async def drive():
        app = PlaygroundApp("parallel")
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await built(pilot)
            screen.form.set_values({**TINY, "epochs": 5000})
            await pilot.press("r")
            deadline = time.monotonic() + 60
            names: set[str] = set()
            while not {"train r0", "train r1"} <= names and time.monotonic() < deadline:
                await pilot.pause(0.1)
                names = {c.name for c in screen.results.chart.data.snapshot().loss}
            assert {"train r0", "train r1"} <= names, names
            engine = screen.child.pid
            ranks = ranks_of(engine)
            assert sorted(ranks) == [0, 1]
            await pilot.press("s")
            while screen.child is not None and time.monotonic() < deadline:
                await pilot.pause(0.1)
            assert screen.state.state == "stopped"
            return ranks

    ranks = asyncio.run(drive())
    assert wait_gone(ranks.values(), 5), "a rank outlived the stop"


@pytest.mark.slow
def test_a_frozen_rank_is_named_and_the_run_ends_within_the_timeout():
    """SIGSTOP freezes rank 1 mid-training: its heartbeat goes quiet, and the error names it."""
    from pttui.engine.runner import Runner
    from pttui.engine.sinks import CollectSink

    frozen = {}

    class FreezeRank1(CollectSink):
        def on_event(self, event):
            super().on_event(event)
            if event.kind == "step" and event.rank == 1 and event.step >= 8 and not frozen:
                frozen["pid"] = ranks_of(os.getpid())[1]
                os.kill(frozen["pid"], signal.SIGSTOP)
                frozen["at"] = time.monotonic()

    timeout = 3
    runner = Runner(get_lab("parallel"), {**TINY, "epochs": 500, "timeout": timeout}, [FreezeRank1()])
    try:
        final = runner.run()
    finally:
        if "pid" in frozen and alive(frozen["pid"]):
            os.kill(frozen["pid"], signal.SIGKILL)
    ended = time.monotonic() - frozen["at"]
    print(f"froze rank 1: the run ended {ended:.2f} s later (--timeout {timeout})")
    assert isinstance(final, ev.Error), final
    assert "rank 1 stopped answering" in final.message, final.message
    assert ended < timeout + dd.GRACE_S + 10, f"the run ended {ended:.1f} s after rank 1 froze"
    assert ranks_of(os.getpid()) == {}  # other tests may leave their own helpers (a forkserver)
