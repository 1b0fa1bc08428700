"""New cases of issue 11/12's classes, found by an adversarial pass: each fault once, as a test.

Right values come from plain PyTorch (or `statistics`) in the test; no speed is asserted, only
that every speed figure carries the spread of its rounds and agrees with the headline.
"""

from __future__ import annotations

import statistics

import pytest
from conftest import run_lab

from pttui.engine import events as ev


def _within(value: float, spread: dict) -> bool:
    return spread["min"] - 1e-6 * abs(spread["min"]) - 1e-9 <= value <= spread["max"] * (1 + 1e-6) + 1e-9


@pytest.mark.slow
def test_amp_variant_speeds_carry_their_spread_and_match_the_headline():
    """Each variant's own samples/s used to be its last epoch by the wall clock, without a
    spread, and could say bf16 was slower while the headline said faster."""
    final, _ = run_lab("amp", dataset="moons", size=300, hidden="16", batch_size=64, epochs=3)
    assert isinstance(final, ev.Done), final
    r = final.result
    for name, headline in (("fp32", r["fp32_samples_per_s"]), (r["dtype"], r["amp_samples_per_s"])):
        v = r[name]
        assert v["samples_per_s"] == headline, (name, v)
        assert v["samples_per_s_spread"] == r["samples_per_s_spread"][name]
        assert _within(v["samples_per_s"], v["samples_per_s_spread"])
        assert "seconds" not in v and "train_seconds" not in v  # one time: no spread, so not reported


@pytest.mark.slow
def test_quantization_latencies_carry_their_spread():
    final, _ = run_lab(
        "quantization", hidden="32", side=8, epochs=1, rounds=3, calibration_batches=1, torchao=False
    )
    assert isinstance(final, ev.Done), final
    for name, v in final.result["variants"].items():
        for key in ("b1", "b64"):
            s = v[f"latency_{key}_ms_spread"]
            assert s["rounds"] >= 3 and isinstance(s["noisy"], bool), (name, s)
            assert _within(v[f"latency_{key}_ms"], s), (name, key, v[f"latency_{key}_ms"], s)
            assert s["min"] <= statistics.median([s["min"], s["max"]]) <= s["max"]


@pytest.mark.parametrize(
    ("expr", "build"),
    [
        # one inner list shared 100,000 times: 800 KB of list, but its repr walks 10**10 numbers
        # (the run was ended by the supervisor's memory ceiling, exit 1, before)
        ("[[0]*100000]*100000", lambda: [[0] * 100_000]),
        ("((0,)*1000,)*1001", lambda: ((0,) * 1000,)),
        ("[[0.0]*2000] + [[0.0]*999000]", lambda: [[0.0] * 2000, [0.0] * 999_000]),
    ],
)
def test_nested_python_lists_count_every_level(expr, build):
    from pttui.engine.safe_eval import MAX_SEQUENCE

    inner = build()
    times = 100_000 if "100000]*100000" in expr else 1001 if "*1001" in expr else 1
    numbers = sum(len(v) for v in inner) * times  # what repr or torch.tensor would walk
    assert numbers > MAX_SEQUENCE
    final, _ = run_lab("tensors", expr=expr, max_mb=8)
    assert isinstance(final, ev.Error) and final.field == "expr", final
    assert "nested lists" in final.message and not final.detail


def test_nested_lists_within_the_bound_still_run():
    final, _ = run_lab("tensors", expr="[[1]*1000]*1000", max_mb=64)
    assert isinstance(final, ev.Done), final
    assert final.result["value"] == repr([[1] * 1000] * 1000)


def test_an_empty_list_times_a_big_number_is_empty():
    final, _ = run_lab("tensors", expr="[] * 1000000000", max_mb=8)
    assert isinstance(final, ev.Done), final
    assert final.result["value"] == repr([] * 1_000_000_000)


def test_a_legacy_checkpoint_says_it_carries_no_checksums(tmp_path):
    """The pre-1.6 format has no CRC: a flipped byte loads silently in plain PyTorch too, so the
    honest thing is to say nothing could be checked (a zip's flip is refused, tested elsewhere)."""
    import torch

    path = tmp_path / "legacy.pt"
    original = torch.arange(100, dtype=torch.float32)
    torch.save({"w": original}, path, _use_new_zipfile_serialization=False)
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0x40  # inside the tensor's bytes, which come last
    path.write_bytes(bytes(raw))
    damaged = torch.load(path, weights_only=True)["w"]
    assert not torch.equal(damaged, original)  # plain PyTorch loads the damage without a word
    final, sink = run_lab("checkpoint", load=str(path))
    assert isinstance(final, ev.Done), final
    assert final.result["format"] == "torch legacy"
    assert final.result["checksums"] == "none in this format"
    assert final.result["parameters"] == damaged.numel()
    warned = [t.body for t in sink.of("text") if t.level == "warning"]
    assert any("no checksums" in body for body in warned), warned


# --- crafted --resume files: the optimizer's own state and settings -----------------------------

RESUME = dict(dataset="moons", size=200, hidden="8", batch_size=32, threads=1, device="cpu", seed=3)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    import torch

    folder = tmp_path_factory.mktemp("resume")
    path = folder / "ck.pt"
    final, _ = run_lab("training", epochs=1, save=str(path), **RESUME)
    assert isinstance(final, ev.Done), final
    resumed, _ = run_lab("training", epochs=2, resume=str(path), **RESUME)
    assert isinstance(resumed, ev.Done), resumed
    return torch.load(path, weights_only=True), resumed.result


def _crafted(tmp_path, saved, change):
    import copy

    import torch

    ck = copy.deepcopy(saved[0])
    change(ck)
    path = tmp_path / "crafted.pt"
    torch.save(ck, path)
    return path


def _state0(ck):
    return ck["optimizer"]["state"][next(iter(ck["optimizer"]["state"]))]


def _refusals():
    import torch

    return [
        ("no exp_avg", lambda ck: _state0(ck).pop("exp_avg"), "exp_avg' is missing"),
        ("scalar exp_avg", lambda ck: _state0(ck).__setitem__("exp_avg", torch.tensor(0.5)), "has shape []"),
        ("list exp_avg", lambda ck: _state0(ck).__setitem__("exp_avg", [1, 2]), "is a list"),
        ("negative step", lambda ck: _state0(ck).__setitem__("step", torch.tensor(-5.0)), "step' is -5.0"),
        ("str step", lambda ck: _state0(ck).__setitem__("step", "x"), "step' is a str"),
        ("extra weight", lambda ck: ck["model"].__setitem__("bogus.weight", torch.zeros(3)), "bogus.weight"),
        (
            "complex weight",
            lambda ck: ck["model"].__setitem__(
                next(iter(ck["model"])), next(iter(ck["model"].values())).cfloat()
            ),
            "complex64",
        ),
    ]


@pytest.mark.parametrize("case", range(7), ids=[c[0] for c in _refusals()])
def test_a_crafted_optimizer_state_is_refused_with_its_field(tmp_path, saved, case):
    """Each of these ended mid-step with a KeyError, TypeError or RuntimeError (exit 1)."""
    _, change, words = _refusals()[case]
    path = _crafted(tmp_path, saved, change)
    final, sink = run_lab("training", epochs=2, resume=str(path), **RESUME)
    assert isinstance(final, ev.Error) and final.field == "resume", final
    assert words in final.message and not final.detail, final.message
    assert not sink.of("step")


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("amsgrad without its state", {"amsgrad": True}),
        ("betas as text", {"betas": ("a", "b")}),
        ("negative eps", {"eps": -1.0}),
    ],
)
def test_saved_optimizer_settings_never_replace_this_runs(tmp_path, saved, name, group):
    """pttui sets the optimizer from its values: a crafted group's settings are not used, so the
    run resumes exactly as from the untouched file (which plain PyTorch would not: its
    load_state_dict takes the saved group, then step() fails or divides by a negative eps)."""
    path = _crafted(tmp_path, saved, lambda ck: ck["optimizer"]["param_groups"][0].update(group))
    final, _ = run_lab("training", epochs=2, resume=str(path), **RESUME)
    assert isinstance(final, ev.Done), final
    assert final.result["train_loss"] == saved[1]["train_loss"]
    assert final.result["val_loss"] == saved[1]["val_loss"]


def test_an_embedding_bag_first_gets_integer_indices(tmp_path):
    """nn.EmbeddingBag is not an nn.Embedding subclass: auto gave it floats, and the run failed."""
    import torch

    (tmp_path / "bag.py").write_text(
        "from torch import nn\n\n\n"
        "class Bag(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.bag = nn.EmbeddingBag(10, 3, mode='mean')\n"
        "        self.head = nn.Linear(3, 2)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(self.bag(x))\n"
    )
    final, _ = run_lab("modules", model="custom", model_spec=f"{tmp_path / 'bag.py'}:Bag", input_shape="2,5")
    assert isinstance(final, ev.Done), final
    bag = torch.nn.EmbeddingBag(10, 3, mode="mean")
    head = torch.nn.Linear(3, 2)
    out = head(bag(torch.randint(0, 10, (2, 5))))  # what plain PyTorch gives indices of (2, 5)
    assert final.result["output"] == str(list(out.shape))
    assert final.result["total_params"] == sum(p.numel() for p in (*bag.parameters(), *head.parameters()))


def test_torchsummary_is_not_ok_when_its_totals_agree_only_by_chance(tmp_path):
    """One Linear called twice (torchsummary counts it twice) and a spare one never called (it
    misses it): the totals agree with parameters(), the rows do not."""
    import torch

    (tmp_path / "twice.py").write_text(
        "from torch import nn\n\n\n"
        "class Twice(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.l = nn.Linear(4, 4)\n"
        "        self.spare = nn.Linear(4, 4)\n\n"
        "    def forward(self, x):\n"
        "        return self.l(self.l(x))\n"
    )
    final, sink = run_lab(
        "modules", model="custom", model_spec=f"{tmp_path / 'twice.py'}:Twice", input_shape="2,4"
    )
    assert isinstance(final, ev.Done), final
    layer = torch.nn.Linear(4, 4)
    per_call = sum(p.numel() for p in layer.parameters())
    assert final.result["total_params"] == 2 * per_call  # parameters(): l and spare, once each
    assert final.result["torchsummary"] != "ok" and "rows do not" in final.result["torchsummary"]
    (table,) = [t for t in sink.of("table") if t.title.startswith("layers")]
    assert sum(row[3] for row in table.rows) == final.result["total_params"]


@pytest.mark.parametrize("wrap", [("checkpoint", "model", "optimizer"), ("train_state", "params", "opt")])
def test_a_model_and_optimizer_inside_a_wrapper_dict_are_told_apart(tmp_path, wrap):
    """{"checkpoint": {"model": ..., "optimizer": ...}} was taken for one state_dict: Adam's
    exp_avg and exp_avg_sq were counted as parameters (255 instead of 83)."""
    import torch
    from torch import nn

    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    model(torch.randn(5, 4)).sum().backward()
    adam = torch.optim.Adam(model.parameters())
    adam.step()
    outer, model_key, optim_key = wrap
    path = tmp_path / "wrapped.pt"
    torch.save({outer: {model_key: model.state_dict(), optim_key: adam.state_dict()}, "epoch": 3}, path)
    final, _ = run_lab("checkpoint", load=str(path))
    assert isinstance(final, ev.Done), final
    r = final.result
    assert r["parameters"] == sum(p.numel() for p in model.parameters())
    assert r["buffers"] == sum(b.numel() for b in model.buffers())
    state = adam.state_dict()["state"].values()
    assert r["optimizer_state"] == sum(v.numel() for s in state for v in s.values() if torch.is_tensor(v))
    assert r["optimizer"] == "Adam"
    assert r["layout"] == {"model": f"{outer}.{model_key}", "optimizer": f"{outer}.{optim_key}"}


def test_models_under_names_that_say_nothing_are_found(tmp_path):
    """A GAN's {"G", "D", "optG", "optD"}: the weights were counted as other tensors, 0 parameters."""
    import torch
    from torch import nn

    g, d = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8)), nn.Linear(8, 1)
    opt_g, opt_d = torch.optim.SGD(g.parameters(), lr=0.1), torch.optim.SGD(d.parameters(), lr=0.1)
    path = tmp_path / "gan.pt"
    torch.save(
        {"G": g.state_dict(), "D": d.state_dict(), "optG": opt_g.state_dict(), "optD": opt_d.state_dict()},
        path,
    )
    final, _ = run_lab("checkpoint", load=str(path))
    assert isinstance(final, ev.Done), final
    r = final.result
    assert r["parameters"] == sum(p.numel() for m in (g, d) for p in m.parameters())
    assert r["buffers"] == sum(b.numel() for m in (g, d) for b in m.buffers())
    assert r["other_tensors"] == 0 and r["layout"]["model"] == "G, D"
