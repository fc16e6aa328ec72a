"""The scoring service: ``qualitylab serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qualitylab.cli.common import app, fail


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8000,
    model: Annotated[
        list[Path] | None,
        typer.Option(
            help="A model directory to score with (repeat); more are found under the roots."
        ),
    ] = None,
    root: Annotated[
        list[Path] | None,
        typer.Option(help="A directory whose files the service may read (repeat)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="QUALITYLAB_TOKEN",
            help="Token every request must carry; required to listen beyond 127.0.0.1.",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where jobs and uploads are kept (default: QUALITYLAB_HOME/serve)."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Jobs run at the same time.", min=1)] = 1,
    max_upload_mb: Annotated[
        float, typer.Option(help="Largest uploaded file, in MB.", min=0.001)
    ] = 200.0,
) -> None:
    """Run the scoring service: a JSON API (docs at /docs) with jobs kept in SQLite, and
    a web UI of the runs, A/B comparisons, predictors and the benchmark history."""
    from qualitylab.serve.app import ServeSettings, run_service

    settings = ServeSettings(
        host=host,
        port=port,
        models=model or [],
        roots=root or [],
        token=token,
        data_dir=data_dir,
        workers=workers,
        max_upload_mb=max_upload_mb,
    )
    try:
        run_service(settings)
    except ValueError as exc:
        fail(str(exc))
