"""The one model catalogue: a model's name -> the class and the arguments that build it.

`pttui.engine.models.build` builds from it and the exported scripts write the same call, so
what the engine trains and what the code view shows cannot drift. Torch-free: the app's
code view reads it on every edit (the classes themselves live in `pttui.engine.models`).
"""

from __future__ import annotations

from typing import Any


class Code(str):
    """Python source written into a call as it is (a script's expression), not as a literal."""

    def __repr__(self) -> str:
        return str(self)


def constructor(
    name: str,
    in_features: Any = 64,
    n_classes: Any = 10,
    hidden=(64,),
    activation: str = "relu",
    side: int = 8,
    dropout: float = 0.0,
) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """(class name in pttui.engine.models, positional args, keyword args) for model `name`.

    `side` is the image side (cnn) or the features per step (lstm, which reads an 8x8 digit
    as 8 rows of 8); the lstm's width is the last of `hidden`. `dropout` (mlp and cnn) is
    left out of the call when 0, so those calls read as they always did. Raises ValueError
    for an unknown name, and for dropout where the model has no hidden layer to drop from.
    """
    drop = {"dropout": dropout} if dropout else {}
    if dropout and name not in ("mlp", "cnn"):
        raise ValueError(f"{name} takes no dropout; mlp and cnn do")
    if name == "simplenet":
        return "SimpleNet", (in_features, n_classes), {}
    if name == "mlp":
        return "MLP", (in_features, tuple(hidden), n_classes, activation), drop
    if name == "cnn":
        return "CNN", (n_classes,), {"side": side, **drop}
    if name == "lstm":
        return "LSTMClassifier", (side, tuple(hidden)[-1], n_classes), {}
    if name == "dynamic":
        return "DynamicModel", (), {}
    if name == "loop":
        return "LoopModel", (in_features,), {}
    raise ValueError(f"unknown model {name!r}; choose one of simplenet, mlp, cnn, lstm, dynamic, loop")


def constructor_call(name: str, *args: Any, **kwargs: Any) -> str:
    """The Python expression that builds model `name` (same arguments as `constructor`)."""
    cls, positional, keywords = constructor(name, *args, **kwargs)
    words = [repr(a) for a in positional] + [f"{k}={v!r}" for k, v in keywords.items()]
    return f"{cls}({', '.join(words)})"


def class_name(name: str) -> str:
    """The class behind model `name` (what the exported script copies by source)."""
    return constructor(name)[0]
