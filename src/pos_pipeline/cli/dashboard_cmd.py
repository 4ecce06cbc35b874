"""``pos dashboard``: the live web page of the chain and the pipeline."""

from __future__ import annotations

from typing import Annotated

import typer

from pos_pipeline.cli.common import err_console, state
from pos_pipeline.services import resolve_endpoints
from pos_pipeline.web.feed import Feed
from pos_pipeline.web.serve import DEFAULT_HOST, DEFAULT_PORT, bind, run_dashboard


def dashboard(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_PORT,
    group: Annotated[str, typer.Option(help="Consumer group whose lag to show.")] = "pos-warehouse",
) -> None:
    """Serve a live page of the chain and the pipeline until Ctrl-C."""
    settings = state.get_settings()
    endpoints = resolve_endpoints(settings)
    sock = bind(host, port)
    err_console.print(f"dashboard: http://{host}:{sock.getsockname()[1]}/", highlight=False)
    feed = Feed(
        endpoints.database_url,
        endpoints.bootstrap_servers,
        settings.kafka,
        group,
        [settings.topic, settings.inventory_topic],
        settings.dlq_topic,
    )
    run_dashboard(feed, sock)
