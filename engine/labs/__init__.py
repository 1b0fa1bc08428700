"""The lab registry: every module in this package that defines `LAB` is a topic.

Adding a topic is adding one file here; nothing else lists the topics. Importing the
registry imports each lab module, which must not import torch at module level.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from pttui.engine.lab import Lab


class UnknownTopic(KeyError):
    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown topic {self.name!r}; choose one of: {', '.join(self.known)}"


@cache
def all_labs() -> dict[str, Lab]:
    labs: list[Lab] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        lab = getattr(module, "LAB", None)
        if isinstance(lab, Lab):
            labs.append(lab)
    labs.sort(key=lambda lab: (lab.order, lab.name))
    return {lab.name: lab for lab in labs}


def get_lab(name: str) -> Lab:
    labs = all_labs()
    if name not in labs:
        raise UnknownTopic(name, list(labs))
    return labs[name]
