"""`python -m pttui.tui` is the same as the `pttui` command."""

from pttui.tui.cli import entry

entry()
