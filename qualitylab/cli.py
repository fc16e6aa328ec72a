"""The ``qualitylab`` command line: each command parses its options and calls the library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from qualitylab import __version__

app = typer.Typer(
    help="qualitylab: learn to predict how people rate AI-generated videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="Load and check datasets of rated videos.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


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


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
    )


@app.command()
def doctor() -> None:
    """Report what works here: Python, torch, torchvision, CUDA/MPS, PyAV, caches and weights.

    Exits 0 when the core works, even with no pretrained weights present.
    """
    from qualitylab.doctor import environment_checks, weights_report

    checks = environment_checks()
    table = Table(title="environment", show_header=False)
    for check in checks:
        mark = (
            "[green]ok[/]" if check.ok else ("[red]FAIL[/]" if check.required else "[yellow]--[/]")
        )
        table.add_row(check.name, mark, check.detail)
    console.print(table)

    report = weights_report()
    weights = Table(title="pretrained weights")
    for column in ("model", "status", "used for", "location"):
        weights.add_column(column)
    for found in report:
        status = "[green]present[/]" if found.present else "[yellow]missing[/]"
        where = "\n".join(map(str, found.locations))
        weights.add_row(found.model.key, status, found.model.description, where)
    console.print(weights)
    missing = [found for found in report if not found.present]
    if missing:
        console.print(
            "To get the missing weights, run (or put a copy in the model's local directory):"
        )
        for found in missing:
            console.print(f"  {found.model.key}  [dim]({found.model.local_dir()})[/]")
            for command in found.fetch_commands():
                console.print(f"    {command}", markup=False, highlight=False)
            if found.model.note:
                console.print(f"    note: {found.model.note}", markup=False, highlight=False)

    broken = [check.name for check in checks if check.required and not check.ok]
    if broken:
        errors.print(f"[red]The core does not work:[/] {', '.join(broken)}")
        raise typer.Exit(1)
    console.print("The core works.")


@datasets_app.command("validate")
def datasets_validate(
    manifest: Annotated[
        str, typer.Argument(help="CSV/JSONL/Parquet file, saved HF dataset dir, or hub id.")
    ],
    video_col: Annotated[str, typer.Option(help="Column holding the video path.")] = "video",
    prompt_col: Annotated[str, typer.Option(help="Column holding the prompt.")] = "prompt",
    id_col: Annotated[
        str | None,
        typer.Option(help="Column holding a unique id (default: 'id' or derived from the path)."),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            help="Target column(s); repeat or comma-separate (default: every numeric column)."
        ),
    ] = None,
    split: Annotated[str | None, typer.Option(help="Split of a Hugging Face dataset.")] = None,
    probe: Annotated[bool, typer.Option(help="Open every video to check it decodes.")] = True,
) -> None:
    """Load a dataset, print a summary and every problem with its row number; exit 1 on errors."""
    from qualitylab.data.manifest import (
        ColumnMapping,
        ManifestError,
        load_manifest,
        validate_manifest,
    )

    targets = tuple(name for item in target for name in item.split(",") if name) if target else None
    mapping = ColumnMapping(video=video_col, prompt=prompt_col, id=id_col, targets=targets)
    try:
        loaded = load_manifest(manifest, mapping, split=split)
    except ManifestError as exc:
        errors.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    with _progress() as progress:
        task = progress.add_task("checking videos", total=len(loaded))
        report = validate_manifest(
            loaded,
            probe_videos=probe,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    _print_validation(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_validation(report) -> None:
    manifest = report.manifest
    console.print(f"[bold]{manifest.source}[/] ({manifest.format})")
    console.print(f"rows: {len(manifest)}    videos resolved against: {manifest.root}")
    if report.targets:
        table = Table("target", "count", "min", "mean", "max")
        for t in report.targets:
            table.add_row(
                t.name, str(t.count), f"{t.minimum:.4g}", f"{t.mean:.4g}", f"{t.maximum:.4g}"
            )
        console.print(table)
    else:
        console.print("targets: none")
    containers = ", ".join(f"{ext} {n}" for ext, n in sorted(report.containers.items()))
    console.print(f"containers: {containers or 'none'}")
    console.print(f"missing files: {report.missing_files}")
    for problem in report.problems:
        style = "red" if problem.severity == "error" else "yellow"
        console.print(f"[{style}]{problem}[/]", highlight=False, markup=True)
    verdict = "[green]valid[/]" if report.ok else "[red]invalid[/]"
    console.print(f"{verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")


@app.command("sample-data")
def sample_data(
    out_dir: Annotated[Path, typer.Argument(help="Directory to build the demo dataset in.")],
    clips: Annotated[int, typer.Option(help="Number of clips (24-40).")] = 32,
    seed: Annotated[int, typer.Option(help="Random seed of defects and motion.")] = 0,
    overwrite: Annotated[
        bool, typer.Option(help="Rebuild even if OUT_DIR holds a dataset.")
    ] = False,
) -> None:
    """Build the embedded demo dataset: clips of scikit-image photographs with graded defects
    and a SYNTHETIC score (not human ratings)."""
    manifest = _build_demo(out_dir, clips, seed, overwrite)
    console.print(f"demo dataset (synthetic scores): {manifest}")


def _build_demo(out_dir: Path, clips: int, seed: int, overwrite: bool) -> Path:
    from qualitylab.data.samples import build_demo_dataset

    try:
        with _progress() as progress:
            task = progress.add_task("rendering demo clips", total=clips)
            return build_demo_dataset(
                out_dir,
                n_clips=clips,
                seed=seed,
                overwrite=overwrite,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except (ValueError, FileExistsError) as exc:
        errors.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None


@app.command()
def demo(
    out_dir: Annotated[
        Path | None, typer.Option(help="Where to build the demo data (default: the cache root).")
    ] = None,
) -> None:
    """Run the main job on the embedded demo data: build it, validate it, print the summary."""
    from qualitylab.config import demo_data_dir
    from qualitylab.data.manifest import ColumnMapping, load_manifest, validate_manifest

    manifest = _build_demo(out_dir or demo_data_dir(), 32, 0, False)
    report = validate_manifest(load_manifest(manifest, ColumnMapping(targets=("synthetic_score",))))
    _print_validation(report)
    if not report.ok:
        raise typer.Exit(1)
    console.print(f"demo data: {manifest}  (synthetic_score is synthetic, not a human rating)")
