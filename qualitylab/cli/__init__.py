"""The ``qualitylab`` command line: each command parses its options and calls the library.

The commands live in the modules of this package, grouped by what they work on; importing
them registers them on the one Typer ``app`` of ``qualitylab.cli.common``.
"""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from qualitylab import __version__
from qualitylab.cli import (  # noqa: F401  (importing a module registers its commands)
    apply_predictor,
    compare,
    data,
    demo,
    environment,
    evaluate,
    features,
    generate,
    intervals,
    learn,
    serve,
    store,
)
from qualitylab.cli.common import app, console

__all__ = ["app", "run"]


def _version(value: bool) -> None:
    if value:
        console.print(f"qualitylab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = None,
) -> None:
    """qualitylab: learn to predict how people rate AI-generated videos."""


def run() -> None:
    """The ``qualitylab`` program: the command line, with SIGTERM handled as Ctrl-C, so
    that a stopped command still ends its worker processes and keeps what it finished."""
    signal.signal(signal.SIGTERM, _terminated)
    app(prog_name="qualitylab")


def _terminated(_signum: int, _frame) -> None:
    raise KeyboardInterrupt
