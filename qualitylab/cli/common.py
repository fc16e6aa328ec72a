"""What every command module shares: the Typer app, the consoles, the progress bar, the
common options and the helpers that turn library errors into messages."""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import click
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
from typer.core import TyperGroup

from qualitylab.errors import QualitylabError


class _Commands(TyperGroup):
    """The command group that turns every qualitylab error into one printed message and
    exit code 1, for all commands at once; other exceptions are bugs and keep their
    traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except QualitylabError as exc:
            fail(str(exc))


app = typer.Typer(
    cls=_Commands,
    help="qualitylab: learn to predict how people rate AI-generated videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help: descriptions wrap under their options at any width (rich's
    # boxed panels squeeze them into a narrow column at 80 columns).
    rich_markup_mode=None,
)


def command_group(name: str, help: str) -> typer.Typer:
    """The subcommand group ``qualitylab NAME``, registered on :data:`app`; run without a
    subcommand it prints its help."""
    group = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(group, name=name)
    return group


console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)
logger = logging.getLogger("qualitylab")


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
        metavar="COLUMN[,COLUMN...]",
        help="Target column(s); repeat or comma-separate (default: every numeric column).",
    ),
]
SplitOpt = Annotated[str | None, typer.Option(help="Split of a Hugging Face dataset.")]
LayoutOpt = Annotated[
    str | None,
    typer.Option(
        help="Column layout of a multi-aspect rating set: videofeedback or fetv (renames its "
        "aspects to visual, temporal, ...; --video-col/--prompt-col/--id-col override it)."
    ),
]
# The options of a command that reads a manifest, by parameter name: (annotation, default),
# in --help order; open_manifest takes them as keywords.
MANIFEST_OPTIONS: dict[str, tuple[Any, Any]] = {
    "video_col": (VideoCol, "video"),
    "prompt_col": (PromptCol, "prompt"),
    "id_col": (IdCol, None),
    "target": (TargetOpt, None),
    "split": (SplitOpt, None),
    "layout": (LayoutOpt, None),
}
StoreOpt = Annotated[
    Path | None,
    typer.Option(
        help="Feature store of the signals, shared by runs (default: $QUALITYLAB_HOME/store)."
    ),
]
# The choices of qualitylab.device, for every command with --device and --precision.
DEVICE_CHOICES = "auto, cpu, cuda or mps (default auto)."
PRECISION_CHOICES = "auto (fp16 on CUDA, else fp32), fp32, fp16 or bf16."
WorkersOpt = Annotated[int, typer.Option(help="Worker processes (0: one per CPU core).", min=0)]
ALLOW_FAILURES_HELP = "Exit 0 even when some videos failed or could not be scored."
AllowFailuresOpt = Annotated[bool, typer.Option(help=ALLOW_FAILURES_HELP)]


def with_options(
    group: str, options: Mapping[str, tuple[Any, Any]]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A decorator for a command whose parameter ``group`` stands for several options
    declared once for many commands: on the command line ``options`` (name -> (annotation,
    default)) take its place, in order; the command receives their values as one mapping,
    ``group``."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        parameters: list[inspect.Parameter] = []
        for parameter in inspect.signature(command, eval_str=True).parameters.values():
            if parameter.name == group:
                parameters += [
                    inspect.Parameter(
                        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind
                    )
                    for name, (kind, default) in options.items()
                ]
            else:
                # Typer passes every value by keyword; keyword-only parameters may follow
                # in any order of defaults.
                parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(command)
        def with_group(**values: Any) -> None:
            chosen = {name: values.pop(name) for name in options}
            command(**values, **{group: chosen})

        signature = inspect.Signature(parameters)
        with_group.__signature__ = signature  # type: ignore[attr-defined]
        with_group.__annotations__ = {p.name: p.annotation for p in parameters}
        return with_group

    return decorate


def print_plain(lines, prefix: str = "") -> None:
    """Print each of ``lines`` (e.g. notes) as plain text, with ``prefix``."""
    for line in lines:
        console.print(f"{prefix}{line}", markup=False, highlight=False)


# Without a terminal (nohup, a batch job's log), progress is a plain line this often.
PLAIN_PROGRESS_SECONDS = 30.0


class PlainProgress:
    """Progress of an extraction as plain lines on stderr and in the log, at most one per
    ``every`` seconds plus the last: for logs, where a redrawn bar would be noise."""

    def __init__(self, every: float = PLAIN_PROGRESS_SECONDS) -> None:
        self.every = every
        self.total = self.done = self.frames = 0
        self.started = self.shown = time.perf_counter()

    def start(self, total: int) -> None:
        """A new extraction of ``total`` videos begins."""
        self.total, self.done, self.frames = total, 0, 0
        self.started = self.shown = time.perf_counter()
        self._line(f"extracting {total} videos")

    def advance(self, result) -> None:
        """One video finished."""
        self.done += 1
        self.frames += result.frames
        now = time.perf_counter()
        if now - self.shown >= self.every or self.done == self.total:
            self.shown = now
            elapsed = now - self.started
            left = elapsed / self.done * (self.total - self.done)
            self._line(
                f"extracting: {self.done}/{self.total} videos, "
                f"{self.frames / max(elapsed, 1e-9):.0f} frames/s, {elapsed:.0f} s elapsed, "
                f"about {left:.0f} s left"
            )

    def _line(self, text: str) -> None:
        errors.print(text, highlight=False, markup=False)
        logger.info(text)


@contextmanager
def extraction_progress() -> Iterator[tuple[Callable[[int], None], Callable[[object], None]]]:
    """Progress of an extraction: a bar (videos, frames/s, time left) on a terminal, plain
    periodic lines otherwise (see :class:`PlainProgress`); yields the ``on_start(total)`` and
    ``on_result(result)`` callbacks that drive it. A second ``on_start`` (e.g. a scoring
    after a training extraction) starts anew."""
    if not errors.is_terminal:
        plain = PlainProgress()
        yield plain.start, plain.advance
        return
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
    layout: str | None = None,
):
    """The manifest loaded with the command's column options (and ``layout``'s, where
    those are left at their defaults); exits with its problem."""
    from dataclasses import replace

    from qualitylab.data.layouts import get_layout
    from qualitylab.data.manifest import ColumnMapping, ManifestError, load_manifest

    targets = split_list(target) or None
    mapping = ColumnMapping(video=video_col, prompt=prompt_col, id=id_col, targets=targets)
    if layout is not None:
        try:
            chosen = get_layout(layout)
        except ValueError as exc:
            fail(f"--layout: {exc}")
        mapping = chosen.mapping(
            video=None if video_col == "video" else video_col,
            prompt=None if prompt_col == "prompt" else prompt_col,
            id=id_col,
        )
        mapping = replace(mapping, targets=targets or mapping.targets)
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
