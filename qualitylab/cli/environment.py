"""What works on this machine: `doctor`, and the pretrained weights (`weights ...`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table

from qualitylab.cli.common import (
    app,
    command_group,
    console,
    errors,
    fail,
)

weights_app = command_group("weights", "List, fetch, import and verify the pretrained weights.")


@app.command()
def doctor() -> None:
    """Report what works here: Python, torch, torchvision, CUDA/MPS, PyAV, caches and weights.

    Exits 0 when the core works, even with no pretrained weights present.
    """
    from qualitylab.doctor import environment_checks, extractor_checks
    from qualitylab.weights import report

    checks = environment_checks()
    _print_checks("environment", checks)
    _print_weights(report())
    _print_checks("extractors that can run here, by family", extractor_checks())

    broken = [check.name for check in checks if check.required and not check.ok]
    if broken:
        errors.print(f"[red]The core does not work:[/] {', '.join(broken)}")
        raise typer.Exit(1)
    console.print("The core works.")


def _print_checks(title: str, checks) -> None:
    table = Table(title=title, show_header=False)
    for check in checks:
        mark = (
            "[green]ok[/]" if check.ok else ("[red]FAIL[/]" if check.required else "[yellow]--[/]")
        )
        table.add_row(check.name, mark, escape(check.detail))
    console.print(table)


KeysArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="[KEY]...", help="Models by key (see `qualitylab weights list`)."),
]


def _chosen_models(keys: list[str] | None, every: bool) -> list:
    """The catalogue entries named by ``keys``, or all of them when ``every``."""
    from qualitylab.weights import CATALOGUE, find_model

    if keys and every:
        fail("name models or pass --all, not both")
    if every:
        return list(CATALOGUE)
    if not keys:
        fail("name at least one model (see `qualitylab weights list`), or pass --all")
    try:
        return [find_model(key) for key in keys]
    except KeyError as exc:
        fail(exc.args[0])


def _format_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _print_weights(report) -> None:
    """The pretrained-weights table (of `weights list` and `doctor`), then the notes on
    partial local copies and unpinned revisions, then what fetches each missing model."""
    from qualitylab.weights import disk_size

    table = Table(
        Column("model", no_wrap=True),
        "status",
        "used for",
        "where",
        "size",
        title="pretrained weights",
    )
    for found in report:
        if found.present:
            where = "\n".join([found.where, *map(str, found.directories())])
            status, size = "[green]present[/]", _format_size(disk_size(found))
        else:
            where, status, size = "", "[yellow]missing[/]", ""
        table.add_row(found.model.key, status, found.model.description, escape(where), size)
    console.print(table)
    for found in report:
        if found.local_lacks:
            console.print(
                f"{found.model.key}: the local copy {found.model.local_dir()} is incomplete and "
                f"not used; it lacks {', '.join(found.local_lacks)}",
                markup=False,
                highlight=False,
            )
        for repo in found.model.unpinned_repos():
            console.print(
                f"{found.model.key}: revision not pinned for {repo} (its main branch is used)",
                markup=False,
                highlight=False,
            )
    missing = [found for found in report if not found.present]
    if missing:
        console.print(
            "To fetch the missing weights, run the first command (or the ones below it), or "
            "copy the files in with `qualitylab weights import KEY DIR`:",
            markup=False,
            highlight=False,
        )
    for found in missing:
        commands = found.fetch_commands()
        # A model made of several files needs every one of them: not alternatives.
        raw = (
            [f"    or: {commands[0]}"]
            if len(commands) == 1
            else ["    or all of:", *(f"      {command}" for command in commands)]
        )
        lines = [
            f"  {found.model.key}  (local copy: {found.model.local_dir()})",
            f"    {found.download_command}",
            *raw,
            *([f"    note: {found.model.note}"] if found.model.note else []),
        ]
        console.print("\n".join(lines), markup=False, highlight=False)


@weights_app.command("list")
def weights_list() -> None:
    """List every pretrained model: what it is for, whether it is here, where and its size
    on disk, and for a missing one the command that fetches it."""
    from qualitylab.weights import report

    _print_weights(report())


@weights_app.command("download")
def weights_download(
    keys: KeysArg = None,
    every: Annotated[
        bool, typer.Option("--all", help="Fetch every model of the catalogue.")
    ] = False,
) -> None:
    """Fetch models into the Hugging Face or torch hub cache, at their pinned revisions.

    Models already present are left alone. Exits 1 when a model could not be fetched; the
    message says why and what to do (e.g. on a machine without internet access).
    """
    from qualitylab.weights import download

    models = _chosen_models(keys, every)
    styles = {"present": "green", "downloaded": "green", "failed": "red", "skipped": "yellow"}
    not_fetched: list[str] = []
    hints: dict[str, None] = {}
    for result in download(models):
        style = styles[result.status]
        console.print(
            f"{result.model.key}: [{style}]{result.status}[/]: {escape(result.message)}",
            highlight=False,
        )
        if result.status in ("failed", "skipped"):
            not_fetched.append(result.model.key)
            hints.setdefault(result.hint)
    if not_fetched:
        for hint in filter(None, hints):
            errors.print(hint, markup=False, highlight=False)
        fail(f"{len(not_fetched)} of {len(models)} model(s) not fetched: {', '.join(not_fetched)}")


@weights_app.command("import")
def weights_import(
    key: Annotated[str, typer.Argument(help="The model (see `qualitylab weights list`).")],
    directory: Annotated[
        Path,
        typer.Argument(
            help="A directory holding the model's files, e.g. its Hugging Face snapshot "
            "directory copied from another machine."
        ),
    ],
    replace: Annotated[bool, typer.Option(help="Replace an existing local copy.")] = False,
) -> None:
    """Copy a model's files from DIRECTORY into its local weights directory, after checking
    that every file it needs is there and whole."""
    from qualitylab.weights import WeightsError, availability, disk_size, import_weights

    (model,) = _chosen_models([key], False)
    try:
        target = import_weights(model, directory, replace=replace)
    except WeightsError as exc:
        if exc.hint:
            errors.print(exc.hint, markup=False, highlight=False)
        fail(str(exc))
    except OSError as exc:
        fail(f"copying {directory} failed: {exc}")
    size = _format_size(disk_size(availability(model)))
    console.print(f"{key}: imported into {target} ({size})", markup=False, highlight=False)


@weights_app.command("verify")
def weights_verify(keys: KeysArg = None) -> None:
    """Check the files of present models (all, or those named): each there, non-empty, and
    matching its SHA-256 where one is known. Exits 1 on any problem."""
    from qualitylab.weights import verify

    models = _chosen_models(keys, not keys)
    failed: list[str] = []
    for model in models:
        with errors.status(f"checking {model.key}"):
            result = verify(model)
        problems = list(result.problems)
        if not result.present and keys:
            problems.append(f"missing: fetch it with `qualitylab weights download {model.key}`")
        if problems:
            failed.append(model.key)
            console.print(f"{model.key}: [red]{len(problems)} problem(s)[/]")
            for problem in problems:
                console.print(f"  {problem}", markup=False, highlight=False)
        elif result.present:
            console.print(f"{model.key}: [green]ok[/] ({result.files} files)")
        else:
            console.print(f"{model.key}: [yellow]missing[/], not checked")
    if failed:
        fail(f"{len(failed)} model(s) with problems: {', '.join(failed)}")
