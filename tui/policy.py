"""What the app may do when `pttui serve` shares it: code-running fields off, paths kept at home.

`pttui serve` lets anyone who reaches its port drive the app. `--model-spec` runs the Python in
a file and `--trust` unpickles one (which can run code), so both are off unless the server was
started with `--allow-code`. Every path field (`--data`, `--save`, `--load`, `--folder`, ...,
and the file in `--model-spec`) must stay inside the folder the server started in: no absolute
paths, no `..`, no symlinks that lead out, unless the server was started with `--allow-files`.

The server hands the policy to each app process through the environment (`environment`), and the
form asks `refusal` about every value, so a refused field shows why and a run, an export or the
code view never gets it. The plain `pttui` app, run by a person on their own machine, has no
policy: everything is their choice. Torch-free.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT_ENV = "PTTUI_SERVE_ROOT"  # set: the app is served; the folder paths must stay in
CODE_ENV = "PTTUI_SERVE_ALLOW_CODE"
FILES_ENV = "PTTUI_SERVE_ALLOW_FILES"

# Fields that run code, and how.
CODE_FIELDS = {
    "model_spec": "runs the Python code in the file",
    "trust": "unpickles the file with weights_only=False, which can run code",
}


@dataclass(frozen=True)
class Policy:
    """What the served app allows; `root` None means not served (everything allowed)."""

    root: Path | None = None
    allow_code: bool = False
    allow_files: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Policy:
        env = dict(os.environ if env is None else env)
        root = env.get(ROOT_ENV)
        if not root:
            return cls()
        return cls(Path(root), env.get(CODE_ENV) == "1", env.get(FILES_ENV) == "1")

    @property
    def served(self) -> bool:
        return self.root is not None

    def disabled(self, name: str) -> str | None:
        """Why the field `name` is off altogether in this app, or None."""
        if self.served and not self.allow_code and name in CODE_FIELDS:
            return (
                f"off in pttui serve: it {CODE_FIELDS[name]}; the server's owner can allow it "
                "with pttui serve --allow-code"
            )
        return None

    def refusal(self, name: str, kind: str, value: Any) -> str | None:
        """Why this value of the field `name` (of kind `kind`) is refused here, or None."""
        if not self.served or value in ("", None, False):
            return None
        off = self.disabled(name)
        if off:
            return off
        if self.allow_files:
            return None
        if name == "model_spec":
            value = str(value).rpartition(":")[0] or str(value)
        elif kind != "path":
            return None
        problem = outside(str(value), self.root)
        if problem:
            return (
                f"a path inside the folder pttui serve started in ({problem}); "
                "the server's owner can allow any path with pttui serve --allow-files"
            )
        return None


def outside(text: str, root: Path) -> str | None:
    """Why `text` is not a relative path that stays inside `root` (symlinks followed), or None."""
    path = Path(text)
    if text.startswith("~") or path.is_absolute() or path.drive:
        return "not an absolute path"
    if ".." in path.parts:
        return "no .. in it"
    base = root.resolve()
    try:
        resolved = (base / path).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return "no symlink loops"
    if resolved != base and base not in resolved.parents:
        return "no symlink that leads out of it"
    return None


def environment(root: str | Path, allow_code: bool, allow_files: bool) -> dict[str, str]:
    """The variables that make an app process apply this policy (pttui serve sets them)."""
    return {
        ROOT_ENV: str(Path(root).resolve()),
        CODE_ENV: "1" if allow_code else "0",
        FILES_ENV: "1" if allow_files else "0",
    }
