"""`pttui bench` runs both loops and reports a ratio (its value is measured, never asserted)."""

import json

import pytest
from conftest import pttui


@pytest.mark.slow
def test_bench_json_reports_the_ratio():
    out = pttui("bench", "--json", "--only", "engine", "--rounds", "1", "--epochs", "2", timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["engine_vs_bare"] > 0
    assert report["engine_samples_per_s"] > 0 and report["bare_samples_per_s"] > 0
    assert len(report["ratios"]) == 1
    # one round cannot show a spread: the figure says it is noisy, with its spread
    assert report["noisy"] is True and report["spread"]["rounds"] == 1
    assert report["spread"]["min"] == report["spread"]["max"] == report["ratios"][0]
    for side in ("engine", "bare"):  # each speed with its rounds' spread, not only the ratio
        s = report[f"{side}_samples_per_s_spread"]
        assert s["rounds"] == 1 and s["noisy"] is True
        assert s["min"] - 0.1 <= report[f"{side}_samples_per_s"] <= s["max"] + 0.1


@pytest.mark.slow
def test_bench_sections_give_every_speed_its_spread():
    from pttui.engine import bench_speed

    data = bench_speed.data(quick=True)
    s = data["best_samples_per_s_spread"]
    assert s["min"] - 1 <= data["best_samples_per_s"] <= s["max"] + 1
    amp = bench_speed.amp(quick=True)
    for name, key in (("fp32", "fp32_samples_per_s"), (amp["dtype"], "amp_samples_per_s")):
        s = amp["samples_per_s_spread"][name]
        assert s["min"] - 1 <= amp[key] <= s["max"] + 1, (name, amp)


def test_bench_words_put_no_headline_on_a_noisy_figure():
    from pttui.engine.bench import engine_words
    from pttui.engine.timing import spread

    s = spread([6.944, 0.9])  # the "median of round ratios 6.944 over 2 rounds"
    report = {
        "spread": s.to_dict(),
        "noisy": s.noisy,
        "noisy_reason": s.noisy_reason,
        "engine_vs_bare": 2.901,
    }
    words = engine_words(report)
    assert words.startswith("engine_vs_bare unreliable") and "2.901" not in words


def test_bench_rejects_bad_rounds():
    out = pttui("bench", "--rounds", "0")
    assert out.returncode == 2 and "--rounds" in out.stderr


def test_bench_help_names_the_app_bench():
    out = pttui("bench", "--help")
    assert out.returncode == 0 and "--ui" in out.stdout, out.stdout
