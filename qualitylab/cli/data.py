"""Commands on datasets: validate a manifest, build the embedded demo dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from qualitylab.cli.common import (
    MANIFEST_OPTIONS,
    ManifestArg,
    app,
    command_group,
    console,
    fail,
    open_manifest,
    progress_bar,
    with_options,
)

datasets_app = command_group("datasets", "Load and check datasets of rated videos.")


@datasets_app.command("validate")
@with_options("reading", MANIFEST_OPTIONS)
def datasets_validate(
    manifest: ManifestArg,
    reading: dict[str, Any],
    probe: Annotated[bool, typer.Option(help="Open every video to check it decodes.")] = True,
) -> None:
    """Load a dataset, print a summary and every problem with its row number; exit 1 on errors."""
    from qualitylab.data.manifest import validate_manifest

    loaded = open_manifest(manifest, **reading)
    with progress_bar() as progress:
        task = progress.add_task("checking videos", total=len(loaded))
        report = validate_manifest(
            loaded,
            probe_videos=probe,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    print_validation(report)
    if not report.ok:
        raise typer.Exit(1)


def print_validation(report) -> None:
    """Print a validation report: source, targets, containers, every problem, the verdict."""
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
    clips: Annotated[int, typer.Option(help="Number of clips (24-400).")] = 32,
    seed: Annotated[int, typer.Option(help="Random seed of defects and motion.")] = 0,
    overwrite: Annotated[
        bool, typer.Option(help="Rebuild even if OUT_DIR holds a dataset.")
    ] = False,
) -> None:
    """Build the embedded demo dataset: clips of scikit-image photographs with graded defects
    and a SYNTHETIC score (not human ratings)."""
    manifest = build_demo(out_dir, clips, seed, overwrite)
    console.print(f"demo dataset (synthetic scores): {manifest}")


def build_demo(out_dir: Path, clips: int, seed: int, overwrite: bool) -> Path:
    """Build (or reuse) the demo dataset in ``out_dir`` with a progress bar; its manifest."""
    from qualitylab.data.samples import build_demo_dataset

    try:
        with progress_bar() as progress:
            task = progress.add_task("rendering demo clips", total=clips)
            return build_demo_dataset(
                out_dir,
                n_clips=clips,
                seed=seed,
                overwrite=overwrite,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except (ValueError, FileExistsError) as exc:
        fail(str(exc))
