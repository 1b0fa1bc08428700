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


def test_bench_rejects_bad_rounds():
    out = pttui("bench", "--rounds", "0")
    assert out.returncode == 2 and "--rounds" in out.stderr
