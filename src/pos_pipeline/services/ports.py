"""Free TCP ports on the loopback interface, and whether something listens on one."""

from __future__ import annotations

import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Return True if a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do: a port whose last connections are in TIME_WAIT can be listened on again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def stable_port(remembered: Path, host: str = LOOPBACK) -> int:
    """The port used last time (kept in ``remembered``) if it is still free, else a new free one.

    A restarted service then keeps its address, so exported URLs and running clients stay valid.
    """
    try:
        port = int(remembered.read_text())
        if 1024 <= port < 65536 and _bindable(host, port):
            return port
    except (OSError, ValueError):
        pass
    port = free_port(host)
    remembered.parent.mkdir(parents=True, exist_ok=True)
    remembered.write_text(str(port))
    return port
