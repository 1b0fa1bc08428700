"""`checkpoint --load` says what is what (issue 11, class 4).

Each file is saved here with torch.save and inspected through the lab (weights_only load);
the right figures come from the model and optimizer themselves: `model.parameters()`,
`model.buffers()`, `optimizer.state_dict()["state"]`, the storages' own byte counts.
"""

from __future__ import annotations

import pytest
import torch
from conftest import run_lab
from torch import nn

from pttui.engine import checkpoint_contents as contents
from pttui.engine import events as ev


def _numel(tensors) -> int:
    return sum(t.numel() for t in tensors)


def _inspect(tmp_path, obj, name="ck.pt", **params):
    path = tmp_path / name
    torch.save(obj, path)
    final, sink = run_lab("checkpoint", load=str(path), **params)
    assert isinstance(final, ev.Done), final
    return final.result, sink


def _bn_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 5)
    )


def test_batchnorm_running_statistics_are_buffers(tmp_path):
    model = _bn_model()
    result, sink = _inspect(tmp_path, model.state_dict())
    assert result["parameters"] == _numel(model.parameters())
    assert result["buffers"] == _numel(model.buffers())
    assert result["split"] == "names" and result["layout"] == {"model": "(root)"}
    notes = [t.body for t in sink.of("text")]
    assert any("inferred" in n for n in notes)


def test_tied_embeddings_count_one_storage(tmp_path):
    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 16)
            self.head = nn.Linear(16, 100, bias=False)
            self.head.weight = self.embed.weight

    model = LM()
    storage = model.embed.weight.untyped_storage().nbytes()
    result, sink = _inspect(tmp_path, model.state_dict())
    assert result["parameters"] == _numel(model.parameters()) == 1_600
    assert result["tensor_bytes"] == storage == 6_400
    assert result["stored_bytes"] == storage
    table = sink.of("table")[0]
    assert ["head.weight", "100x16", "float32", 1600, 6400, "same tensor as embed.weight"] in table.rows


def test_the_tutorial_checkpoint_separates_adam_state(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = model(torch.rand(4, 10)).pow(2).mean()
    loss.backward()
    optimizer.step()
    saved = {
        "epoch": 3,
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "loss": loss.detach(),
    }
    result, _ = _inspect(tmp_path, saved)
    state = optimizer.state_dict()["state"]
    assert result["parameters"] == _numel(model.parameters()) == 283
    assert result["optimizer_state"] == sum(
        v.numel() for per in state.values() for v in per.values() if isinstance(v, torch.Tensor)
    )
    assert result["optimizer"] == "Adam"
    assert result["other_tensors"] == loss.numel()
    assert result["layout"] == {"model": "model_state_dict", "optimizer": "optimizer_state_dict"}


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), "SGD"),
        (lambda p: torch.optim.AdamW(p, lr=0.1), "AdamW"),
        (lambda p: torch.optim.RMSprop(p, lr=0.1), "RMSprop"),
        (lambda p: torch.optim.Adagrad(p, lr=0.1), "Adagrad"),
    ],
)
def test_other_layouts_and_optimizers(make, name):
    model = nn.Linear(4, 2)
    optimizer = make(model.parameters())
    model(torch.rand(3, 4)).sum().backward()
    optimizer.step()
    got = contents.count(
        {"net": model.state_dict(), "optim": optimizer.state_dict(), "ema": model.state_dict()}
    )
    assert got.parameters == _numel(model.parameters())
    assert got.optimizer == name
    assert got.layout == {"model": "net", "optimizer": "optim", "ema": "ema"}
    state = optimizer.state_dict()["state"]
    assert got.optimizer_state == sum(
        v.numel() for per in state.values() for v in per.values() if isinstance(v, torch.Tensor)
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # torch.ao's deprecation
def test_a_quantized_state_dict_counts_integer_weights(tmp_path):
    from torch.ao.quantization import quantize_dynamic

    float_model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))
    q = quantize_dynamic(float_model, {nn.Linear}, dtype=torch.qint8)
    result, sink = _inspect(tmp_path, q.state_dict())
    assert result["parameters"] == _numel(float_model.parameters())  # weights and biases, packed
    assert result["quantized"] is True
    rows = sink.of("table")[0].rows
    weight_rows = [r for r in rows if r[2] == "qint8"]
    assert weight_rows and all(r[4] == r[3] for r in weight_rows)  # 1 byte per qint8 element


def test_a_small_view_keeps_its_big_storage(tmp_path):
    big = torch.zeros(100_000)
    view = big[:10]
    result, sink = _inspect(tmp_path, {"w": view})
    assert result["tensor_bytes"] == view.numel() * view.element_size() == 40
    assert result["stored_bytes"] == big.untyped_storage().nbytes()
    assert any("keeps its whole" in t.body for t in sink.of("text"))


def test_a_whole_model_splits_by_its_class(tmp_path):
    model = _bn_model()
    result, _ = _inspect(tmp_path, model, trust=True)
    assert result["split"] == "class"
    assert result["parameters"] == _numel(model.parameters())
    assert result["buffers"] == _numel(model.buffers())


def test_pttuis_own_training_checkpoint():
    from pttui.engine.checkpoint import training_checkpoint
    from pttui.engine.train import TrainState

    model = nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.rand(3, 4)).sum().backward()
    optimizer.step()
    generator = torch.Generator().manual_seed(0)
    ck = training_checkpoint(model, optimizer, None, TrainState(), generator, {"lr": 0.1})
    got = contents.count(ck)
    assert got.kind.startswith("pttui training checkpoint")
    assert got.parameters == _numel(model.parameters()) and got.optimizer == "Adam"
    rng = _numel(v for v in ck["rng"].values() if isinstance(v, torch.Tensor))
    assert got.other_tensors == rng  # the generators' states are neither weights nor optimizer state


@pytest.mark.filterwarnings("ignore::FutureWarning")  # the old weight_norm, as old checkpoints have it
def test_a_gan_checkpoint_and_normalised_weights():
    torch.manual_seed(0)
    net_g = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    net_d = nn.utils.spectral_norm(nn.Linear(2, 1))  # weight_orig a parameter; weight_u/_v buffers
    opt_g = torch.optim.Adam(net_g.parameters())
    opt_d = torch.optim.SGD(net_d.parameters(), lr=0.1, momentum=0.9)
    net_g(torch.rand(3, 4)).sum().backward()
    net_d(torch.rand(3, 2)).sum().backward()
    opt_g.step()
    opt_d.step()
    got = contents.count(
        {"netG": net_g.state_dict(), "netD": net_d.state_dict(), "optG": opt_g.state_dict(),
         "optD": opt_d.state_dict(), "epoch": 4}
    )  # fmt: skip
    assert got.parameters == _numel(net_g.parameters()) + _numel(net_d.parameters())
    assert got.buffers == _numel(net_g.buffers()) + _numel(net_d.buffers())
    assert got.layout == {"model": "netG, netD", "optimizer": "optG, optD"}
    assert got.optimizer == "Adam, SGD"
    wn = nn.utils.weight_norm(nn.Linear(3, 3))  # weight_g and weight_v: both parameters
    assert contents.count(wn.state_dict()).parameters == _numel(wn.parameters())
