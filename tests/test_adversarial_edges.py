"""New cases of issue 11/12's classes, found by an adversarial pass: each fault once, as a test.

Right values come from plain PyTorch (or `statistics`) in the test; no speed is asserted, only
that every speed figure carries the spread of its rounds and agrees with the headline.
"""

from __future__ import annotations

import statistics

import pytest
from conftest import run_lab

from pttui.engine import events as ev


def _within(value: float, spread: dict) -> bool:
    return spread["min"] - 1e-6 * abs(spread["min"]) - 1e-9 <= value <= spread["max"] * (1 + 1e-6) + 1e-9


@pytest.mark.slow
def test_amp_variant_speeds_carry_their_spread_and_match_the_headline():
    """Each variant's own samples/s used to be its last epoch by the wall clock, without a
    spread, and could say bf16 was slower while the headline said faster."""
    final, _ = run_lab("amp", dataset="moons", size=300, hidden="16", batch_size=64, epochs=3)
    assert isinstance(final, ev.Done), final
    r = final.result
    for name, headline in (("fp32", r["fp32_samples_per_s"]), (r["dtype"], r["amp_samples_per_s"])):
        v = r[name]
        assert v["samples_per_s"] == headline, (name, v)
        assert v["samples_per_s_spread"] == r["samples_per_s_spread"][name]
        assert _within(v["samples_per_s"], v["samples_per_s_spread"])
        assert "seconds" not in v  # one epoch's wall clock: no spread, so not reported


@pytest.mark.slow
def test_quantization_latencies_carry_their_spread():
    final, _ = run_lab(
        "quantization", hidden="32", side=8, epochs=1, rounds=3, calibration_batches=1, torchao=False
    )
    assert isinstance(final, ev.Done), final
    for name, v in final.result["variants"].items():
        for key in ("b1", "b64"):
            s = v[f"latency_{key}_ms_spread"]
            assert s["rounds"] >= 3 and isinstance(s["noisy"], bool), (name, s)
            assert _within(v[f"latency_{key}_ms"], s), (name, key, v[f"latency_{key}_ms"], s)
            assert s["min"] <= statistics.median([s["min"], s["max"]]) <= s["max"]
