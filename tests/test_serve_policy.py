"""`pttui serve`: code-running fields off and paths kept inside the start folder, unless allowed.

The policy reaches each served app process through its environment (in the command textual-serve
runs); the form then disables code fields with the reason and refuses paths that leave the folder.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from pttui.tui import policy, serve
from pttui.tui.policy import Policy


def sync(test):
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper


@pytest.fixture
def root(tmp_path):
    (tmp_path / "data.csv").write_text("a,label\n1,0\n")
    (tmp_path / "sub").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir(exist_ok=True)
    (tmp_path / "escape").symlink_to(outside)
    (tmp_path / "inner").symlink_to(tmp_path / "sub")
    return tmp_path


def test_paths_stay_inside_the_start_folder(root):
    p = Policy(root)
    assert p.refusal("data", "path", "data.csv") is None
    assert p.refusal("save", "path", "sub/ck.pt") is None
    assert p.refusal("save", "path", "inner/ck.pt") is None  # a symlink that stays inside
    assert p.refusal("data", "path", "") is None  # empty: no file at all
    for bad, words in [
        ("/etc/passwd", "absolute"),
        ("~/x.csv", "absolute"),
        ("../x.csv", ".."),
        ("sub/../../x", ".."),
        ("escape/x.csv", "symlink"),
    ]:
        refused = p.refusal("data", "path", bad)
        assert refused and words in refused and "--allow-files" in refused, (bad, refused)
    assert Policy(root, allow_files=True).refusal("data", "path", "/etc/passwd") is None
    assert Policy().refusal("data", "path", "/etc/passwd") is None  # the plain app: the user's choice


def test_code_fields_are_off_unless_allowed(root):
    p = Policy(root)
    assert "--allow-code" in p.disabled("model_spec") and "runs the Python" in p.disabled("model_spec")
    assert "unpickles" in p.disabled("trust")
    assert p.refusal("model_spec", "path", "net.py:Net") == p.disabled("model_spec")
    assert p.refusal("trust", "bool", False) is None  # off is always fine
    assert p.disabled("lr") is None
    code = Policy(root, allow_code=True)
    assert code.disabled("model_spec") is None
    assert code.refusal("model_spec", "path", "net.py:Net") is None
    assert "absolute" in code.refusal("model_spec", "path", "/tmp/net.py:Net")  # still confined
    assert (
        Policy(root, allow_code=True, allow_files=True).refusal("model_spec", "path", "/tmp/n.py:N") is None
    )


def test_the_policy_travels_in_the_command_textual_serve_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cmd = serve.command("training", allow_code=False, allow_files=True)
    # The command runs through a shell: its assignments become the app's environment.
    out = subprocess.run(
        cmd.split(" -m ")[0].rsplit(" ", 1)[0] + " env",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    got = Policy.from_env(env)
    assert got.root == tmp_path.resolve() and not got.allow_code and got.allow_files
    assert shlex.split(cmd)[-3:] == ["-m", "pttui.tui", "training"]


def test_serve_flags_reach_the_command(monkeypatch, tmp_path):
    import textual_serve.server

    made = []

    class FakeServer:
        def __init__(self, command, **kw):
            made.append(command)

        def serve(self):
            pass

    monkeypatch.setattr(textual_serve.server, "Server", FakeServer)
    monkeypatch.chdir(tmp_path)
    assert serve.main([]) == 0
    assert serve.main(["--allow-code", "--allow-files"]) == 0
    assert f"{policy.CODE_ENV}=0" in made[0] and f"{policy.FILES_ENV}=0" in made[0]
    assert f"{policy.CODE_ENV}=1" in made[1] and f"{policy.FILES_ENV}=1" in made[1]
    assert policy.ROOT_ENV not in os.environ  # the server's own environment is left alone


@sync
async def test_the_served_form_disables_code_fields_and_refuses_outside_paths(root, monkeypatch):
    from textual.widgets import Input

    from pttui.tui.app import PlaygroundApp
    from tests.test_app import built

    monkeypatch.chdir(root)
    for key, value in policy.environment(root, False, False).items():
        monkeypatch.setenv(key, value)
    app = PlaygroundApp("training", spares=False)
    async with app.run_test(size=(100, 40)) as pilot:
        form = (await built(pilot)).form
        spec = form.field("model_spec")
        assert spec.editor.disabled and "--allow-code" in str(spec.query_one(".error").render())
        data = form.field("data")
        data.editor.value = "/etc/passwd"
        await pilot.pause()
        assert data.has_class("-invalid") and "--allow-files" in str(data.query_one(".error").render())
        assert form.values() is None  # so neither a run nor an export gets it
        data.query_one(Input).value = "data.csv"
        await pilot.pause()
        assert not data.has_class("-invalid")
        assert form.field("dataset").has_class("-overridden")  # --data wins over --dataset
        assert "data wins" in str(form.field("dataset").query_one(".error").render())


@sync
async def test_the_plain_app_greys_out_model_when_model_spec_wins(monkeypatch):
    from pttui.tui.app import PlaygroundApp
    from tests.test_app import built

    for key in (policy.ROOT_ENV, policy.CODE_ENV, policy.FILES_ENV):
        monkeypatch.delenv(key, raising=False)
    app = PlaygroundApp("training", spares=False)
    async with app.run_test(size=(100, 40)) as pilot:
        form = (await built(pilot)).form
        assert not form.field("model_spec").editor.disabled
        assert not form.field("model").has_class("-overridden")
        form.field("model_spec").editor.value = "net.py:Net"
        await pilot.pause()
        assert form.field("model").has_class("-overridden")
        assert str(form.field("model").query_one(".error").render()) == "↳ not used: model spec wins"
        assert "--model-spec wins over --model" in form.field("model").why_unused
        form.field("model_spec").editor.value = ""
        await pilot.pause()
        assert not form.field("model").has_class("-overridden")


def test_paths_are_judged_without_reading_them(root):
    # Nothing is opened: a FIFO or a huge file inside the folder is the loader's business.
    os.mkfifo(root / "pipe")
    assert Policy(root).refusal("data", "path", "pipe") is None
    assert Path(root / "pipe").exists()
