"""Serving a registry on ``/metrics`` from a background thread of the process that owns it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Gauge, disable_created_metrics, start_http_server

from pos_pipeline import __version__
from pos_pipeline.errors import ConfigError
from pos_pipeline.metrics import DEFAULT_HOST

__all__ = ["DEFAULT_HOST", "MetricsServer", "build_info", "serve"]


def build_info(registry: CollectorRegistry) -> None:
    """Register ``pos_build_info{version}``, always 1: joins version to any other series in PromQL."""
    # The ``_created`` series double every counter and histogram; Prometheus does not need them.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    Gauge(
        "pos_build_info", "The pos-pipeline version of this process.", ["version"], registry=registry
    ).labels(version=__version__).set(1)


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint; ``close`` stops it and frees the port."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """Where Prometheus scrapes."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(registry: CollectorRegistry, port: int, host: str = DEFAULT_HOST) -> MetricsServer:
    """Serve ``registry`` at http://HOST:PORT/metrics; ConfigError if the port cannot be bound."""
    if not 0 <= port < 65536:
        raise ConfigError(f"--metrics-port must be between 0 and 65535, got {port}")
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
    return MetricsServer(host, server.server_port, server, thread)
