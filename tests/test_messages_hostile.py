"""One-line messages naming the flag, exit 2, where tracebacks or silent misreadings were:
export paths and refused values, pttui serve's host and port, checkpoint --folder, --hidden."""

from __future__ import annotations

import socket

import pytest
from conftest import pttui

from pttui.engine import export
from pttui.engine.labs import get_lab
from pttui.engine.params import ParamError, validate
from pttui.tui import serve
from tests.test_app import built, sync


def _one_line_exit_2(out, *words):
    said = " ".join(out.stderr.split())
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    for w in words:
        assert w in said, said
    return said


def test_export_to_a_folder_or_under_a_missing_folder(tmp_path):
    _one_line_exit_2(
        pttui("run", "tensors", "--export-script", str(tmp_path)), "export_script", "is a folder"
    )
    missing = tmp_path / "nope" / "x.py"
    _one_line_exit_2(
        pttui("run", "tensors", "--export-script", str(missing)), "export_script", "does not exist"
    )
    assert not missing.parent.exists()


HOSTILE = [
    ("tensors", {"expr": "__import__('os').system('touch /tmp/pwned')"}, "expr"),
    ("tensors", {"expr": "torch.tensor(1).__class__"}, "expr"),
    ("autograd", {"leaves": "x = __import__('os')", "expr": "x"}, "leaves"),
    ("autograd", {"leaves": "x = torch.ones(2)", "expr": "open('/etc/passwd')"}, "expr"),
]


@pytest.mark.parametrize(("topic", "raw", "field"), HOSTILE)
def test_export_refuses_what_a_run_refuses_and_writes_nothing(tmp_path, topic, raw, field):
    lab = get_lab(topic)
    values = validate(lab.params, raw)
    target = tmp_path / "script.py"
    with pytest.raises(ParamError) as caught:
        export.write_script(lab, values, target)
    assert caught.value.field == field
    assert not target.exists()
    # the run's own message: the run refuses the same value with the same words
    from conftest import run_lab

    final, _ = run_lab(topic, **raw)
    assert final.field == field and str(caught.value) == final.message


def test_export_cli_refuses_a_hostile_expression(tmp_path):
    target = tmp_path / "s.py"
    out = pttui("run", "tensors", "--expr", "__import__('os').system('id')", "--export-script", str(target))
    _one_line_exit_2(out, "expr:")
    assert not target.exists()


def test_export_of_allowed_values_still_writes(tmp_path):
    lab = get_lab("autograd")
    values = validate(lab.params, {"leaves": "x = torch.ones(2)", "expr": "(x * 3).sum()"})
    written = export.write_script(lab, values, tmp_path / "ok.py")
    assert written.read_text() == lab.code(values)


@pytest.fixture
def busy_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_serve_on_a_busy_port(busy_port):
    _one_line_exit_2(pttui("serve", "--port", str(busy_port), timeout=60), f"--port {busy_port}", "in use")


def test_serve_on_an_ipv4_mapped_loopback(busy_port):
    assert serve.is_loopback("::ffff:127.0.0.1") and serve.unmapped("::ffff:127.0.0.1") == "127.0.0.1"
    out = pttui("serve", "--host", "::ffff:127.0.0.1", "--port", str(busy_port), timeout=60)
    said = _one_line_exit_2(out, "127.0.0.1", "in use")
    assert "WARNING" not in said  # it is loopback: no public-binding warning


def test_serve_on_an_unknown_host():
    _one_line_exit_2(
        pttui("serve", "--host", "no-such-host.invalid", timeout=60), "--host no-such-host.invalid"
    )


def test_checkpoint_folder_dev_null_names_folder():
    said = _one_line_exit_2(pttui("run", "checkpoint", "--folder", "/dev/null", "--epochs", "1"), "folder:")
    assert "save:" not in said


@pytest.mark.parametrize("text", ["1,,2", "1,2,", ",8"])
def test_hidden_with_an_empty_item_is_refused(text):
    _one_line_exit_2(pttui("run", "training", "--hidden", text, "--epochs", "1"), "hidden", "empty")


def test_big_int_from_a_string():
    _one_line_exit_2(pttui("run", "tensors", "--expr", "int('1'*15000, 2)"), "expr", "4096 bits")


@sync
async def test_the_apps_export_refuses_what_a_run_refuses(tmp_path, monkeypatch):
    """A leaf's value is not judged as you type (only its `name = value` form): `e` judges it."""
    from textual.widgets import Input

    from pttui.tui.app import PlaygroundApp

    monkeypatch.chdir(tmp_path)
    app = PlaygroundApp("autograd")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await built(pilot)
        editor = screen.form.field("leaves").query_one(Input)
        editor.value = "x = __import__('os').system('id')"
        await pilot.pause()
        screen.action_export()
        await pilot.pause()
        said = " ".join(str(n.message) for n in app._notifications)
        assert "Not exported" in said and "leaves:" in said, said
        assert list(tmp_path.iterdir()) == []  # nothing written
        editor.value = "x = torch.ones(2)"
        await pilot.pause()
        screen.action_export()
        await pilot.pause()
        assert [p.name for p in tmp_path.iterdir()] == ["pttui_autograd.py"]
