"""Issue 11, classes 6-8: `data` at its edges, speed figures with their spread, one set of words.

Right values come from plain PyTorch and `statistics` in the test; no speed is asserted, only
that every figure carries a spread that contains it and that a noisy one says so.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch
from conftest import pttui, run_lab
from torch.utils.data import DataLoader, TensorDataset

from pttui.engine import devices, timing
from pttui.engine import events as ev
from pttui.engine.devices import Available
from pttui.engine.headless import build_parser
from pttui.engine.labs import get_lab
from pttui.engine.params import ParamError

# --- class 6: data at the edges -------------------------------------------------------------


def test_drop_last_that_drops_everything_says_so():
    final, sink = run_lab(
        "data", dataset="moons", size=20, batch_size=64, drop_last=True, sweep=False, epochs=2
    )
    assert isinstance(final, ev.Done), final
    n = final.result["samples"]
    loader = DataLoader(TensorDataset(torch.zeros(n, 2)), batch_size=64, drop_last=True)
    assert final.result["batches"] == len(loader) == 0
    assert final.result["last_batch"] is None
    assert "samples_per_s" not in final.result  # nothing ran: no speed
    assert "drop_last" in final.result["note"] and str(n) in final.result["note"]
    texts = " ".join(t.body for t in sink.of("text"))
    assert "0 samples/s" not in texts and "no samples/s" in texts


def test_last_batch_matches_the_dataloader():
    final, _ = run_lab("data", dataset="moons", size=100, batch_size=32, sweep=False, epochs=1)
    n = final.result["samples"]
    batches = list(DataLoader(TensorDataset(torch.zeros(n, 2)), batch_size=32))
    assert final.result["batches"] == len(batches)
    assert final.result["last_batch"] == len(batches[-1][0])
    spread = final.result["samples_per_s_spread"]
    assert spread["min"] - 1 <= final.result["samples_per_s"] <= spread["max"] + 1
    assert isinstance(final.result["noisy"], bool)


# --- class 7: honest timing -----------------------------------------------------------------


def test_a_spread_is_the_rounds_quartiles_and_judges_noise():
    values = [1.0, 1.02, 0.98, 1.01, 0.99]
    s = timing.spread(values)
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    assert (s.median, s.low, s.high, s.quartiles) == (statistics.median(values), 0.98, 1.02, (q1, q3))
    assert not s.noisy and s.to_dict()["rounds"] == 5
    wild = timing.spread([0.01, 32.11, 1.59, 3.02, 1.44])  # the consecutive runs
    assert wild.noisy and "more than 15%" in wild.noisy_reason
    assert timing.speedup_words(wild).startswith("unreliable")
    two = timing.spread([1.0, 1.0])
    assert two.noisy and "only 2 rounds" in two.noisy_reason  # too few rounds to judge


def test_paired_ratios_are_per_round():
    base = timing.Timing((2.0, 4.0, 2.0))
    other = timing.Timing((1.0, 2.0, 1.0))  # the machine slowed both alike in round 2
    r = timing.round_ratios(base, other)
    assert r.values == (2.0, 2.0, 2.0) and not r.noisy
    assert timing.speedup_words(r) == "2.00x faster, IQR 2.00-2.00x"


def test_calibration_adds_rounds_while_noisy_within_the_budget():
    state = {"n": 0}

    def jumpy():  # alternately 1 ms and 6 ms: the ratio to a steady call never settles
        state["n"] += 1
        time.sleep(0.001 if state["n"] % 2 else 0.006)

    started = time.perf_counter()
    got = timing.interleave({"steady": lambda: time.sleep(0.002), "jumpy": jumpy}, rounds=3, budget_s=0.5)
    elapsed = time.perf_counter() - started
    assert len(got["jumpy"].seconds) > 3, "noisy rounds should have been extended"
    assert elapsed < 30, f"calibration took {elapsed:.1f} s for a 0.5 s budget"
    fixed = timing.interleave({"a": lambda: None}, rounds=4, budget_s=0.0)
    assert len(fixed["a"].seconds) == 4  # no budget: exactly the rounds asked for


def test_speed_labs_default_to_one_thread_on_small_machines():
    assert devices.speed_thread_count(0, cpus=2, default=2, leave_a_core=False) == 1
    assert devices.speed_thread_count(0, cpus=4, default=4, leave_a_core=False) == 1
    assert devices.speed_thread_count(0, cpus=16, default=16, leave_a_core=False) == 16
    assert devices.speed_thread_count(3, cpus=2, default=2, leave_a_core=False) == 3
    before = torch.get_num_threads()
    with devices.speed_threads(2) as (chosen, words):
        assert chosen == torch.get_num_threads() == 2 and "--threads" in words
    assert torch.get_num_threads() == before  # put back after the lab


@pytest.mark.slow
def test_amp_speedup_carries_its_spread_and_words_follow_noise():
    final, sink = run_lab("amp", dataset="moons", size=400, hidden="32", batch_size=64, epochs=4)
    assert isinstance(final, ev.Done), final
    r = final.result
    s = r["speedup_spread"]
    assert s["min"] <= round(r["speedup"], 4) <= s["max"] and s["rounds"] == r["epochs_timed"] == 3
    assert r["noisy"] == s["noisy"]
    (summary,) = [t for t in sink.of("text") if t.title == "speed-up"]
    if r["noisy"]:
        assert "unreliable" in summary.body and "faster" not in summary.body.split("unreliable")[0]
    else:
        assert "IQR" in summary.body
    (table,) = [t for t in sink.of("table") if t.title.startswith("fp32 vs")]
    assert "after a warm-up epoch" in table.note


def test_amp_with_one_epoch_does_not_claim_a_warm_up():
    final, sink = run_lab("amp", dataset="moons", size=200, hidden="16", batch_size=64, epochs=1)
    assert isinstance(final, ev.Done), final
    (table,) = [t for t in sink.of("table") if t.title.startswith("fp32 vs")]
    assert "after a warm-up epoch" not in table.note and "no warm-up" in table.note
    assert final.result["warmup_epochs"] == 0 and final.result["noisy"] is True  # one round


@pytest.mark.slow
def test_quantization_speedups_carry_their_spread():
    final, sink = run_lab(
        "quantization", hidden="64", side=8, epochs=1, rounds=3, calibration_batches=1, torchao=False
    )
    assert isinstance(final, ev.Done), final
    for name in ("dynamic int8", "static int8"):
        v = final.result["variants"][name]
        for key in ("b1", "b64"):
            s = v[f"speedup_{key}_spread"]
            assert s["min"] <= round(v[f"speedup_{key}"], 4) <= s["max"] and s["rounds"] >= 3
    (summary,) = [t for t in sink.of("text") if t.title == "int8 against fp32"]
    assert ("unreliable" in summary.body) == final.result["noisy"]


# --- class 8: one set of words per choice -----------------------------------------------------


@pytest.mark.parametrize("topic", ["amp", "training"])
def test_a_value_this_machine_cannot_run_names_only_declared_choices(topic):
    declared = get_lab(topic).param("amp").choices
    with pytest.raises(ParamError) as err:
        devices.choose_amp("fp16", "cpu", Available(), declared)
    allowed = err.value.allowed.split(": ", 1)[1].split(" (")[0].split(", ")
    assert allowed and set(allowed) <= set(declared) and "fp16" not in allowed
    assert all(devices.amp_runs(a, "cpu", Available()) for a in allowed)
    help_text = build_parser(get_lab(topic)).format_help()
    assert "one of " + ", ".join(declared) in " ".join(help_text.split())


def test_the_command_line_says_the_same():
    fp16 = pttui("run", "amp", "--amp", "fp16", "--device", "cpu", "--no-record")
    off = pttui("run", "amp", "--amp", "off", "--no-record")
    assert fp16.returncode == off.returncode == 2
    assert "auto, bf16" in fp16.stderr and "off" not in fp16.stderr.split("expected")[1]
    assert "auto, bf16, fp16" in off.stderr


def test_every_lab_help_lists_its_declared_choices():
    from pttui.engine.labs import all_labs

    for lab in all_labs().values():
        help_text = " ".join(build_parser(lab).format_help().split())  # a "%" in a help must not break it
        for p in lab.params:
            if p.kind == "choice":
                assert "one of " + ", ".join(p.choices) in help_text, (lab.name, p.name)


def test_a_sweep_that_loads_nothing_says_why():
    final, sink = run_lab(
        "data", dataset="moons", size=20, batch_size=8, drop_last=True, epochs=1, sweep=True,
        sweep_workers="0", sweep_batch="64,128",
    )  # fmt: skip
    assert isinstance(final, ev.Done), final
    assert "sweep" not in final.result and "best" not in final.result
    (note,) = [t for t in sink.of("text") if t.title == "sweep"]
    assert "no setting of the sweep loaded a batch" in note.body
