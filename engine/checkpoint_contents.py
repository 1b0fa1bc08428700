"""What a loaded checkpoint holds: parameters, buffers, optimizer state and other tensors.

`torch.load` gives back containers of tensors; counting every floating tensor as a parameter
is wrong three ways (issue 11): BatchNorm's running statistics are buffers, a tied weight is
one storage under two keys, and an optimizer's `exp_avg`/`exp_avg_sq`/`step` are not the
model's. So:

- the layout is recognised first: the model's weights under a bare state_dict, `model`,
  `state_dict`, `model_state_dict`, `net`, `ema`, ... and the optimizer's state under
  `optimizer`, `optimizer_state_dict`, `optim`, ... (see MODEL_KEYS and OPTIMIZER_KEYS);
- every tensor is counted once, however many keys reach it (a tied weight, a shared view),
  by its storage, offset, shape and stride;
- parameters and buffers are told apart by the model's class where the file holds a whole
  model (exact), else by the standard buffer names (BUFFER_NAMES) and by dtype (a parameter
  is never an integer tensor), and `split` says which was done;
- `tensor_bytes` are logical (numel x element size of each distinct tensor); `stored_bytes`
  are the storages the file really holds, each once: a small view of a big tensor keeps the
  whole storage, and a note says so.

Quantized state_dicts count their packed weights as parameters, in their integer dtype.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

# Where checkpoints keep the model's weights and the optimizer's state, most specific first.
MODEL_KEYS = (
    "model_state_dict",
    "state_dict",
    "model",
    "model_state",
    "net",
    "network",
    "module",
    "weights",
    "params",
    "ema",
    "model_ema",
    "ema_state_dict",
    "ema_model",
)
OPTIMIZER_KEYS = (
    "optimizer_state_dict",
    "optimizer",
    "optimizer_state",
    "optim",
    "opt",
    "optimizers",
    "optimizer_states",
)
# Buffers that standard modules register (BatchNorm/InstanceNorm statistics, quantized modules'
# scale and zero point, observers' ranges, pruning masks, common transformer tables).
BUFFER_NAMES = frozenset(
    {
        "running_mean",
        "running_var",
        "num_batches_tracked",
        "scale",
        "zero_point",
        "min_val",
        "max_val",
        "eps",
        "weight_mask",
        "bias_mask",
        "position_ids",
        "inv_freq",
        "relative_position_index",
        "freqs_cis",
        "cos_cached",
        "sin_cached",
        "masked_bias",
        "_float_tensor",
        "weight_u",  # spectral_norm's power-iteration vectors (weight_v too, beside weight_orig)
        "_u",  # torch.nn.utils.parametrizations.spectral_norm's
        "_v",
        "fake_quant_enabled",
        "observer_enabled",
    }
)
# A view is worth a note when its storage is this many times its own bytes (and at least 64 KiB more).
VIEW_WASTE_RATIO = 4
VIEW_WASTE_MIN_BYTES = 64 << 10

SPLIT_CLASS = "class"  # named_parameters()/named_buffers() of a saved nn.Module: exact
SPLIT_NAMES = "names"  # inferred from standard buffer names and dtypes


@dataclass
class Row:
    """One key of the file that leads to a tensor."""

    key: str
    shape: tuple[int, ...]
    dtype: str
    numel: int
    bytes: int  # logical: numel x element size
    role: str  # "parameter", "buffer", "optimizer state", "other", or "same tensor as KEY"


@dataclass
class Contents:
    """The census of one loaded checkpoint; counts are elements, sizes are bytes."""

    layout: dict[str, str]  # role ("model", "optimizer", "ema", ...) -> the key path found
    kind: str  # "bare state_dict", "whole model (Net)", "dict with model + optimizer", ...
    parameters: int = 0  # what model.parameters() of the saved model would count, each once
    buffers: int = 0
    optimizer_state: int = 0
    optimizer: str = ""  # the optimizer's name when recognisable, "" when there is none
    other_tensors: int = 0
    tensor_bytes: int = 0
    stored_bytes: int = 0
    split: str = SPLIT_NAMES
    quantized: bool = False
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        """The figures as a done event's result carries them."""
        return {
            "parameters": self.parameters,
            "buffers": self.buffers,
            "optimizer_state": self.optimizer_state,
            "optimizer": self.optimizer or None,
            "other_tensors": self.other_tensors,
            "tensor_bytes": self.tensor_bytes,
            "stored_bytes": self.stored_bytes,
            "layout": dict(self.layout),
            "split": self.split,
            "quantized": self.quantized,
        }


def leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every tensor and plain value inside dicts, lists and tuples."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, (list, tuple)) and not _is_size(obj):
        for i, value in enumerate(obj):
            yield from leaves(value, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix or "(root)", obj


def _is_size(obj: Any) -> bool:
    return isinstance(obj, torch.Size) or (
        isinstance(obj, (list, tuple))
        and not any(isinstance(v, (dict, list, tuple, torch.Tensor)) for v in obj)
    )


def is_optimizer_state(obj: Any) -> bool:
    """An `Optimizer.state_dict()`: {"state": {...}, "param_groups": [...]}."""
    return isinstance(obj, dict) and "state" in obj and "param_groups" in obj


def _tensors_in(obj: Any) -> int:
    if isinstance(obj, torch.nn.Module):
        return 1
    return sum(1 for _, v in leaves(obj) if isinstance(v, torch.Tensor))


def _looks_like_state_dict(obj: Any) -> bool:
    """Mostly tensors under string keys (quantized modules add dtypes and packed tuples)."""
    if isinstance(obj, torch.nn.Module):
        return True
    if not isinstance(obj, dict) or not obj or is_optimizer_state(obj):
        return False
    values = list(leaves(obj))
    tensors = sum(1 for _, v in values if isinstance(v, torch.Tensor))
    return tensors > 0 and tensors >= len(values) / 2


# Other top-level keys that hold a model's weights (GANs keep two: netG/netD, generator/...).
MODEL_WORDS = re.compile(r"model|net|state_dict|weights|generator|discriminator|encoder|decoder|ema", re.I)
NOT_MODEL_WORDS = re.compile(r"optim|sched|scaler|rng|random|generator_state|sampler", re.I)


def _is_optimizer_part(part: Any) -> bool:
    parts = part if isinstance(part, (list, tuple)) else [part]
    return bool(parts) and all(is_optimizer_state(p) for p in parts)


def find_layout(obj: Any, depth: int = 0) -> dict[str, list[tuple[str, Any]]]:
    """{"model": [(key, part), ...], "optimizer": [...], "ema": [...]}: where each role lives.

    Models: a whole nn.Module, a bare state_dict, or the top-level keys named in MODEL_KEYS
    (else any key with a model-ish name, MODEL_WORDS) whose value looks like a state_dict; a
    key with "ema" in its name is an EMA copy when another model is there. Optimizers: every
    top-level value that is an `Optimizer.state_dict()` (or a list of them), whatever its key.
    """
    if isinstance(obj, torch.nn.Module):
        return {"model": [("(root)", obj)]}
    if not isinstance(obj, dict):
        return {}
    if is_optimizer_state(obj):
        return {"optimizer": [("(root)", obj)]}
    found: dict[str, list[tuple[str, Any]]] = {}
    optimizers = [(str(k), v) for k, v in obj.items() if _is_optimizer_part(v)]
    if optimizers:
        found["optimizer"] = optimizers
    lowered = {str(k).lower(): k for k in obj}
    named = [lowered[k] for k in MODEL_KEYS if k in lowered and _looks_like_state_dict(obj[lowered[k]])]
    main = [k for k in named if "ema" not in str(k).lower()][:1]  # the first common name is the model
    ema = [k for k in named if "ema" in str(k).lower()]
    if not named:  # no common name: every model-ish key (a GAN's netG and netD, say)
        words = [k for k in obj if MODEL_WORDS.search(str(k)) and not NOT_MODEL_WORDS.search(str(k))]
        words = [k for k in words if _looks_like_state_dict(obj[k])]
        main = [k for k in words if "ema" not in str(k).lower()]
        ema = [k for k in words if "ema" in str(k).lower()]
    if not named and not main:  # names that say nothing (a GAN's "G" and "D"): layer-like keys
        main = [
            k
            for k in obj
            if isinstance(obj[k], dict)
            and not NOT_MODEL_WORDS.search(str(k))
            and "ema" not in str(k).lower()
            and _looks_like_state_dict(obj[k])
            and any(str(name).rsplit(".", 1)[-1] in ("weight", "bias") for name in obj[k])
        ]
    if not main and ema:  # only an EMA copy: it is the model
        main, ema = ema[:1], ema[1:]
    if main:
        found["model"] = [(str(k), obj[k]) for k in main]
        if ema:
            found["ema"] = [(str(k), obj[k]) for k in ema]
        return found
    if "optimizer" not in found and depth < MAX_WRAPPER_DEPTH:
        # a wrapper such as {"checkpoint": {"model": ..., "optimizer": ...}}: the roles inside it,
        # before the whole is taken for one state_dict (its optimizer state counted as parameters)
        for key, value in obj.items():
            if isinstance(value, dict) and not is_optimizer_state(value):
                inner = find_layout(value, depth + 1)
                if "model" in inner or "optimizer" in inner:
                    for role, parts in inner.items():
                        where = [(f"{key}" if k == "(root)" else f"{key}.{k}", part) for k, part in parts]
                        found.setdefault(role, []).extend(where)
        if "model" in found or "optimizer" in found:
            return found
    if "optimizer" not in found and _looks_like_state_dict(obj):
        found["model"] = [("(root)", obj)]  # a bare state_dict
    return found


MAX_WRAPPER_DEPTH = 3  # dicts inside dicts searched for a model or an optimizer


def _identity(t: torch.Tensor) -> tuple:
    """The same tensor under another key (a tied weight) has the same identity."""
    try:
        ptr = t.untyped_storage().data_ptr()
    except Exception:  # a tensor without a plain storage (sparse, nested): the object itself
        return ("object", id(t))
    if ptr == 0:  # empty storages all sit at 0
        return ("object", id(t))
    return (ptr, t.storage_offset(), tuple(t.shape), tuple(t.stride()), str(t.dtype))


def _storage(t: torch.Tensor) -> tuple[int | None, int]:
    """(storage id or None, storage bytes); the tensor's own bytes where it has no plain storage."""
    try:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        return (ptr if ptr else None), storage.nbytes()
    except Exception:
        return None, t.numel() * t.element_size()


def _is_buffer_name(key: str, keys: set[str]) -> bool:
    parts = key.split(".")
    if parts[-1] == "weight_v" and ".".join([*parts[:-1], "weight_orig"]) in keys:
        return True  # spectral_norm's weight_v is a buffer; weight_norm's (beside weight_g) a parameter
    return parts[-1] in BUFFER_NAMES or "activation_post_process" in parts


def _model_roles(part: Any, prefix: str) -> tuple[list[tuple[str, Any, str]], str]:
    """(key, tensor, "parameter" | "buffer") for the model part, and how they were told apart."""
    if isinstance(part, torch.nn.Module):
        rows = [(f"{prefix}{k}", v, "parameter") for k, v in part.named_parameters(remove_duplicate=False)]
        rows += [(f"{prefix}{k}", v, "buffer") for k, v in part.named_buffers(remove_duplicate=False)]
        return rows, SPLIT_CLASS
    rows = []
    items = list(leaves(part))
    keys = {k for k, _ in items}
    for key, value in items:
        if not isinstance(value, torch.Tensor):
            continue
        numeric = value.is_floating_point() or value.is_complex() or value.is_quantized
        role = "buffer" if _is_buffer_name(key, keys) or not numeric else "parameter"
        rows.append((f"{prefix}{key}", value, role))
    return rows, SPLIT_NAMES


def optimizer_name(state: dict[str, Any]) -> str:
    """The optimizer's class name, recognised from its per-parameter state and group settings."""
    keys: set[str] = set()
    for per_param in state.get("state", {}).values():
        if isinstance(per_param, dict):
            keys.update(map(str, per_param))
    groups = [g for g in state.get("param_groups", []) if isinstance(g, dict)]
    group = set().union(*(map(str, g) for g in groups)) if groups else set()
    decoupled = any(g.get("decoupled_weight_decay") for g in groups)
    if "mu_product" in keys or "momentum_decay" in group:
        return "NAdam"
    if "exp_inf" in keys:
        return "Adamax"
    if "acc_delta" in keys or ("rho" in group and "lr_decay" not in group and "betas" not in group):
        return "Adadelta"
    if "betas" in group and "amsgrad" in group:
        return "AdamW" if decoupled else "Adam"
    if "betas" in group and "decoupled_weight_decay" in group:
        return "RAdam"
    if "exp_avg" in keys and "exp_avg_sq" in keys:
        return "AdamW" if decoupled else "Adam"
    if "square_avg" in keys or "centered" in group:
        return "RMSprop"
    if "sum" in keys or "lr_decay" in group:
        return "Adagrad"
    if "prev" in keys or "etas" in group:
        return "Rprop"
    if "momentum_buffer" in keys or "nesterov" in group:
        return "SGD"
    if "ax" in keys or "t0" in group:
        return "ASGD"
    if "func_evals" in keys or "history_size" in group:
        return "LBFGS"
    return "unrecognised optimizer"


def count(obj: Any) -> Contents:
    """The census of a loaded checkpoint object (what `torch.load` or safetensors gave)."""
    layout = find_layout(obj)
    roles: list[tuple[str, Any, str]] = []  # (key, tensor, role), models first
    split = SPLIT_NAMES
    for key, part in layout.get("model", []):
        model_rows, split = _model_roles(part, "" if key == "(root)" else f"{key}.")
        roles += model_rows
    names = []
    for key, part in layout.get("optimizer", []):
        several = isinstance(part, (list, tuple))
        for i, one in enumerate(part if several else [part]):
            base = "" if key == "(root)" else f"{key}." + (f"{i}." if several else "")
            names.append(optimizer_name(one))
            for k, v in leaves(one.get("state", {}), f"{base}state"):
                if isinstance(v, torch.Tensor):
                    roles.append((k, v, "optimizer state"))
    claimed = {id(v) for _, v, _ in roles}
    if not isinstance(obj, torch.nn.Module):
        for k, v in leaves(obj):
            if isinstance(v, torch.Tensor) and id(v) not in claimed:
                roles.append((k, v, "other"))
    return _tally(obj, layout, roles, split, ", ".join(dict.fromkeys(names)))


def _tally(obj, layout, roles, split, optimizer) -> Contents:
    kinds = [r for r in ("model", "optimizer", "ema") if r in layout]
    keys = {r: ", ".join(k for k, _ in layout[r]) for r in kinds}
    from pttui.engine.checkpoint import FORMAT  # pttui's own training checkpoints

    if isinstance(obj, torch.nn.Module):
        kind = f"whole model ({type(obj).__name__})"
    elif isinstance(obj, dict) and obj.get("format") == FORMAT:
        kind = "pttui training checkpoint (model, optimizer, RNG states)"
    elif keys.get("model") == "(root)":
        kind = "state_dict"
    elif keys.get("optimizer") == "(root)":
        kind = "optimizer state_dict"
    elif kinds:
        kind = "dict with " + " + ".join(kinds)
    else:
        kind = f"{type(obj).__name__} with no model weights recognised"
    c = Contents(keys, kind, split=split, optimizer=optimizer)
    seen: dict[tuple, str] = {}
    storages: dict[int, int] = {}
    for key, t, role in roles:
        ident = _identity(t)
        shape = tuple(t.shape)
        logical = t.numel() * t.element_size()
        dtype = str(t.dtype).removeprefix("torch.")
        if ident in seen:
            c.rows.append(Row(key, shape, dtype, t.numel(), logical, f"same tensor as {seen[ident]}"))
            continue
        seen[ident] = key
        c.rows.append(Row(key, shape, dtype, t.numel(), logical, role))
        c.quantized = c.quantized or t.is_quantized
        if role == "parameter":
            c.parameters += t.numel()
        elif role == "buffer":
            c.buffers += t.numel()
        elif role == "optimizer state":
            c.optimizer_state += t.numel()
        else:
            c.other_tensors += t.numel()
        c.tensor_bytes += logical
        sid, nbytes = _storage(t)
        if sid is None:
            c.stored_bytes += nbytes
        elif sid not in storages:
            storages[sid] = nbytes
            c.stored_bytes += nbytes
            if nbytes >= VIEW_WASTE_RATIO * max(logical, 1) and nbytes - logical >= VIEW_WASTE_MIN_BYTES:
                c.notes.append(
                    f"{key} is a view of {logical:,} bytes that keeps its whole {nbytes:,}-byte storage in "
                    "the file (torch.save writes storages, not views): save a .clone() to keep only the view"
                )
    tied = [r for r in c.rows if r.role.startswith("same tensor as")]
    if tied:
        c.notes.append(
            f"{len(tied)} key(s) name a tensor already counted (tied weights, shared views): counted once"
        )
    if "model" in layout and split == SPLIT_NAMES:
        c.notes.append(
            "without the model's class, buffers are told apart from parameters by their standard names "
            "(running_mean, running_var, num_batches_tracked, ...) and by dtype: the split is inferred"
        )
    if "model" not in layout:
        c.notes.append("no model weights recognised in this file: its tensors are counted as other tensors")
    if c.quantized:
        c.notes.append("quantized tensors are counted in their integer dtype (1 byte per qint8 element)")
    return c
