"""`qualitylab demo`: the whole loop on the embedded demo data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qualitylab.cli.common import (
    app,
    console,
)
from qualitylab.cli.data import build_demo, print_validation
from qualitylab.cli.features import extract_with_progress, finish_run


@app.command()
def demo(
    out_dir: Annotated[
        Path | None,
        typer.Option(help="Where to put the demo data and features (default: the cache root)."),
    ] = None,
) -> None:
    """Run the main job on the embedded demo data: build it, validate it, extract the
    classical features."""
    from qualitylab.config import demo_dir
    from qualitylab.data.manifest import ColumnMapping, load_manifest, validate_manifest

    root = out_dir or demo_dir()
    manifest_path = build_demo(root / "data", 32, 0, False)
    manifest = load_manifest(manifest_path, ColumnMapping(targets=("synthetic_score",)))
    report = validate_manifest(manifest)
    print_validation(report)
    if not report.ok:
        raise typer.Exit(1)
    console.print(f"demo data: {manifest_path}  (synthetic_score is synthetic, not a human rating)")
    summary = extract_with_progress(manifest, DEMO_FEATURES, root / "features")
    finish_run(summary)


DEMO_FEATURES = ("ssim", "flow", "technical")
