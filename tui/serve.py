"""`pttui serve`: the app in a browser, through textual-serve.

Each browser tab starts its own `python -m pttui.tui [TOPIC]` process. textual-serve has no
authentication, and the app runs code on the server (every run is a PyTorch process), so it
binds to loopback unless told otherwise, and says so loudly when told otherwise.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def unmapped(host: str) -> str:
    """An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) as the IPv4 address it names; else `host`."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped) if mapped is not None else host


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(unmapped(host).strip("[]")).is_loopback
    except ValueError:
        return False


def bind_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port (a one-line message naming the flag), or None.

    Resolves the host and binds a socket the way the server will (SO_REUSEADDR), then closes it:
    an unknown host, an address of another machine and a busy port are found before serving.
    """
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        return f"--host {host}: not a known host or address ({getattr(exc, 'strerror', None) or exc})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"--port {port}: already in use on {host}; choose another port (e.g. --port {port + 1})"
                )
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                return f"--host {host}: not an address of this machine ({exc.strerror})"
            if exc.errno == errno.EACCES:
                return f"--port {port}: not allowed for this user (ports below 1024 need privileges)"
            return f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pttui serve",
        description="Serve the pttui app in a web browser (textual-serve). Loopback only by default.",
        epilog="textual-serve has no authentication: anyone who can reach the port can run code here. "
        "To use it from another machine, prefer an SSH tunnel: ssh -L 8000:127.0.0.1:8000 HOST",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--topic", default=None, help="open the app on this topic")
    parser.add_argument("--public-url", default=None, help="the URL browsers use, behind a proxy")
    parser.add_argument(
        "--allow-code",
        action="store_true",
        help="let browsers use the fields that run code (--model-spec runs a .py file, --trust unpickles); "
        "off by default",
    )
    parser.add_argument(
        "--allow-files",
        action="store_true",
        help="let path fields (--data, --save, --load, ...) name any file; by default they must stay inside "
        "the folder the server started in",
    )
    return parser


def command(topic: str | None = None, allow_code: bool = False, allow_files: bool = False) -> str:
    """The command textual-serve runs (through a POSIX shell) for each browser session: this
    Python, this app, with the policy (pttui.tui.policy) for this folder in its environment."""
    import os

    from pttui.tui.policy import environment

    policy = [f"{k}={shlex.quote(v)}" for k, v in environment(os.getcwd(), allow_code, allow_files).items()]
    parts = [sys.executable, "-m", "pttui.tui"] + ([topic] if topic else [])
    return " ".join(policy) + " " + shlex.join(parts)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        print(f"pttui serve: --port {args.port} is not a port (1-65535)", file=sys.stderr)
        return 2
    if args.topic is not None:
        from pttui.engine.labs import all_labs

        if args.topic not in all_labs():
            print(
                f"pttui serve: unknown topic {args.topic!r}; one of: {', '.join(all_labs())}", file=sys.stderr
            )
            return 2
    if unmapped(args.host) != args.host:  # ::ffff:127.0.0.1 is 127.0.0.1; IPv6 sockets may refuse it
        print(
            f"pttui serve: --host {args.host} is the IPv4 address {unmapped(args.host)}; using that",
            file=sys.stderr,
        )
        args.host = unmapped(args.host)
    problem = bind_problem(args.host, args.port)
    if problem:
        print(f"pttui serve: {problem}", file=sys.stderr)
        return 2
    if not is_loopback(args.host):
        print(
            f"pttui serve: WARNING: binding to {args.host}: textual-serve has no authentication, so "
            "anyone who can reach this port can run code on this machine as you. Prefer the "
            "default 127.0.0.1 with an SSH tunnel.",
            file=sys.stderr,
        )
    try:
        from textual_serve.server import Server
    except ImportError:
        print(
            "pttui serve needs textual-serve (a dependency of pttui): pip install textual-serve",
            file=sys.stderr,
        )
        return 2
    if args.allow_code:
        print(
            "pttui serve: --allow-code: browsers may run Python files and unpickle checkpoints here",
            file=sys.stderr,
        )
    server = Server(
        command(args.topic, args.allow_code, args.allow_files),
        host=args.host,
        port=args.port,
        title="pttui",
        public_url=args.public_url,
    )
    try:
        server.serve()
    except OSError as exc:  # taken between the check and the bind
        print(
            f"pttui serve: --host {args.host} --port {args.port}: cannot listen ({exc.strerror or exc})",
            file=sys.stderr,
        )
        return 2
    return 0
