"""What every command module shares: the Typer app, the consoles, the progress bar, the
common options and the helpers that turn library errors into messages."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

app = typer.Typer(
    help="qualitylab: learn to predict how people rate AI-generated videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def progress_bar(frames_per_second: bool = False) -> Progress:
    """A transient progress bar on stderr: description, bar, M/N, elapsed, time left."""
    rate = [TextColumn("{task.fields[fps]:.0f} frames/s")] if frames_per_second else []
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *rate,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
    )


ManifestArg = Annotated[
    str, typer.Argument(help="CSV/TSV/JSONL/Parquet file, saved HF dataset dir, or hub id.")
]
VideoCol = Annotated[str, typer.Option(help="Column holding the video path.")]
PromptCol = Annotated[str, typer.Option(help="Column holding the prompt.")]
IdCol = Annotated[
    str | None,
    typer.Option(help="Column holding a unique id (default: 'id' or derived from the path)."),
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="Target column(s); repeat or comma-separate (default: every numeric column)."
    ),
]
SplitOpt = Annotated[str | None, typer.Option(help="Split of a Hugging Face dataset.")]
StoreOpt = Annotated[
    Path | None,
    typer.Option(
        help="Feature store of the signals, shared by runs (default: $QUALITYLAB_HOME/store)."
    ),
]


@contextmanager
def extraction_progress() -> Iterator[tuple[Callable[[int], None], Callable[[object], None]]]:
    """A progress bar of an extraction (videos, frames/s, time left); yields the
    ``on_start(total)`` and ``on_result(result)`` callbacks that drive it. A second
    ``on_start`` (e.g. a scoring after a training extraction) starts a new bar."""
    with progress_bar(frames_per_second=True) as progress:
        task, started, decoded = None, time.perf_counter(), 0

        def on_start(total: int) -> None:
            nonlocal task, started, decoded
            task, started, decoded = (
                progress.add_task("extracting", total=total, fps=0.0),
                time.perf_counter(),
                0,
            )

        def on_result(result) -> None:
            nonlocal decoded
            decoded += result.frames
            rate = decoded / max(time.perf_counter() - started, 1e-9)
            progress.update(task, advance=1, fps=rate)

        yield on_start, on_result


def split_list(values: list[str] | None) -> tuple[str, ...]:
    """Names from repeated and comma-separated option values, in order."""
    return tuple(name.strip() for item in values or () for name in item.split(",") if name.strip())


def open_manifest(
    manifest: str,
    video_col: str,
    prompt_col: str,
    id_col: str | None,
    target: list[str] | None,
    split: str | None,
):
    """The manifest loaded with the command's column options; exits with its problem."""
    from qualitylab.data.manifest import ColumnMapping, ManifestError, load_manifest

    targets = split_list(target) or None
    mapping = ColumnMapping(video=video_col, prompt=prompt_col, id=id_col, targets=targets)
    try:
        return load_manifest(manifest, mapping, split=split)
    except ManifestError as exc:
        fail(str(exc))


def fail(message: str, code: int = 1):
    """Print ``message`` as an error on stderr and exit with ``code``."""
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


FeaturesArg = Annotated[
    Path,
    typer.Argument(help="A feature table (.parquet/.csv) or an extract-features --out directory."),
]


def read_features(path: Path):
    """The feature table at ``path`` and its extractor descriptions; exits on a missing file."""
    from qualitylab.features.layout import read_feature_table

    try:
        return read_feature_table(path)
    except FileNotFoundError as exc:
        fail(str(exc))
