"""Paired comparison of two scoring runs or feature tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qualitylab.cli.common import app, console, fail, split_list


@app.command()
def compare(
    run_a: Annotated[
        Path, typer.Argument(help="Run A: a score CSV, a feature table or a features directory.")
    ],
    run_b: Annotated[Path, typer.Argument(help="Run B, on the same prompts.")],
    metrics: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME[,NAME...]",
            help="Metrics to compare: names or patterns (e.g. 'clip_b32.*'); repeat or "
            "comma-separate (default: every numeric column of both).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples of the prompts.", min=1)
    ] = 2000,
    top: Annotated[
        int, typer.Option(help="Metrics shown besides predicted_score and quality_index.", min=0)
    ] = 20,
    out: Annotated[
        Path | None,
        typer.Option(help="Directory for compare.md, compare.csv and deltas.csv."),
    ] = None,
) -> None:
    """Compare RUN_B with RUN_A prompt by prompt: mean delta (B − A), win rate of B, a
    bootstrap 95% CI of the mean delta, and a verdict per metric."""
    from qualitylab.compare import CompareError, compare_runs, to_markdown, write_comparison

    try:
        comparison = compare_runs(
            run_a, run_b, metrics=list(split_list(metrics)) or None, n_boot=bootstrap, seed=seed
        )
    except (FileNotFoundError, CompareError) as exc:
        fail(str(exc))
    console.print(to_markdown(comparison, top), markup=False, highlight=False)
    if out is not None:
        paths = write_comparison(comparison, out, top)
        console.print(f"written: {', '.join(str(p) for p in paths.values())}", highlight=False)
