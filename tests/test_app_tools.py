"""The app's side commands: `pttui serve`, `pttui bench --ui`, `python -m pttui.tui.screenshots`."""

from __future__ import annotations

from typing import ClassVar

import pytest

from pttui.tui import screenshots, serve
from tests.conftest import pttui


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("127.8.0.1", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("example.org", False),
        ("::", False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert serve.is_loopback(host) is loopback


class FakeServer:
    made: ClassVar[list] = []

    def __init__(self, command, host, port, title=None, public_url=None):
        FakeServer.made.append((command, host, port))

    def serve(self):
        pass


@pytest.fixture
def fake_server(monkeypatch):
    import textual_serve.server

    FakeServer.made = []
    monkeypatch.setattr(textual_serve.server, "Server", FakeServer)
    return FakeServer


def test_serve_binds_loopback_by_default_without_a_warning(fake_server, capsys):
    assert serve.main([]) == 0
    command, host, port = fake_server.made[0]
    assert (host, port) == ("127.0.0.1", 8000) and command.endswith("-m pttui.tui")
    assert "WARNING" not in capsys.readouterr().err


def test_serve_warns_for_any_other_host(fake_server, capsys):
    assert serve.main(["--host", "0.0.0.0", "--port", "8123", "--topic", "training"]) == 0
    assert fake_server.made[0][1:] == ("0.0.0.0", 8123)
    assert fake_server.made[0][0].endswith("-m pttui.tui training")
    assert "no authentication" in capsys.readouterr().err


def test_serve_refuses_bad_ports_and_topics(fake_server, capsys):
    assert serve.main(["--port", "70000"]) == 2
    assert serve.main(["--topic", "nope"]) == 2
    assert not fake_server.made


def test_bench_ui_is_reached_through_pttui_bench():
    out = pttui("bench", "--ui", "--help")
    assert out.returncode == 0 and "UI event-loop lag" in out.stdout


def test_a_fresh_app_process_draws_its_first_frame():
    from pttui.tui.bench_ui import process_first_frame

    assert 0 < process_first_frame("training") < 30


def test_png_keeps_indentation():
    svg = '<text class="r" x="10" y="5" textLength="48" clip-path="u">&#160;&#160;ab&#160;c</text>'
    fixed = screenshots._shift_leading_spaces(svg)
    assert fixed == '<text class="r" x="26" y="5" textLength="32" clip-path="u">ab&#160;c</text>'
