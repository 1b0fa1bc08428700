"""Every flag of `pttui run TOPIC` in snake_case: the `--no_` forms of switches and the output
flags (`--ceiling_mb`) were refused as unknown, while `--batch_size` was taken."""

from __future__ import annotations

import pytest

from pttui.engine.headless import build_parser, parse
from pttui.engine.labs import all_labs, get_lab


def test_no_underscore_switches_and_output_flags_are_taken():
    raw, args = parse(
        get_lab("training"), ["--no_boundary", "--no_system", "--ceiling_mb", "500", "--no_record"]
    )
    assert raw["boundary"] is False and raw["system"] is False
    assert args.ceiling_mb == 500 and args.no_record
    raw, _ = parse(get_lab("quantization"), ["--no_torchao"])
    assert raw["torchao"] is False


@pytest.mark.parametrize("topic", sorted(all_labs()))
def test_every_flag_has_its_snake_case_spelling(topic):
    lab = get_lab(topic)
    parser = build_parser(lab)
    for action in parser._actions:
        for flag in action.option_strings:
            if not flag.startswith("--") or "-" not in flag[2:]:
                continue
            value = [] if action.nargs == 0 else ["1"]
            snake = "--" + flag[2:].replace("-", "_")
            try:
                parse(lab, [snake, *value])
            except SystemExit as exc:
                pytest.fail(f"{snake} refused (exit {exc.code})")
