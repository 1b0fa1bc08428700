"""pttui's engine: every piece of PyTorch work, usable from a script without any UI.

Nothing in this package imports textual; lab declarations import without torch so that
`pttui --help`, `pttui topics` and the app's forms stay light.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
