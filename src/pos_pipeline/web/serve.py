"""Running the dashboard with uvicorn until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import socket

import uvicorn

from pos_pipeline.errors import ConfigError
from pos_pipeline.web.app import create_app
from pos_pipeline.web.feed import Feed

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
# Open event streams get this long to end before the server exits anyway.
SHUTDOWN_GRACE_S = 2


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a ConfigError saying why not."""
    if not 0 <= port < 65536:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot serve the dashboard on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run_dashboard(feed: Feed, sock: socket.socket) -> None:
    """Serve the dashboard of ``feed`` on ``sock`` until stopped by a signal."""
    config = uvicorn.Config(
        create_app(feed),
        log_level=logging.WARNING,
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        lifespan="on",
    )
    uvicorn.Server(config).run(sockets=[sock])
