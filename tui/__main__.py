"""`python -m tui` is the same as the `pttui` command."""

from tui.cli import entry

entry()
