"""``qualitylab evaluate``: any scorer against human ratings, beside yardsticks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from qualitylab.cli.common import (
    IdCol,
    PromptCol,
    VideoCol,
    app,
    console,
    extraction_progress,
    print_plain,
    split_list,
)

CONSOLE_HIDDEN = ("Pearson", "Kendall")


@app.command()
def evaluate(
    source: Annotated[
        str,
        typer.Argument(
            metavar="RATED",
            help="A rated manifest, a feature table (.parquet/.csv) or an extract-features "
            "directory.",
        ),
    ],
    target: Annotated[str, typer.Option(help="The human rating column.")],
    scorer: Annotated[
        list[str],
        typer.Option(
            help="What to evaluate (repeat): a model directory, quality_index, a scores CSV, "
            "or a column such as ssim.adjacent.mean (-NAME or NAME:lower: lower is better)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Directory for evaluation.json/.md/.png.")],
    features: Annotated[
        Path | None,
        typer.Option(help="Feature table or extract-features directory joined on id."),
    ] = None,
    group_by: Annotated[
        str | None,
        typer.Option(help="Column of groups (e.g. model): within-group and system-level."),
    ] = None,
    pair_by: Annotated[
        str | None,
        typer.Option(help="Column of pair groups for pairwise accuracy ('' for none)."),
    ] = "prompt",
    cluster_by: Annotated[
        str | None,
        typer.Option(
            help="Column resampled whole by the bootstrap, or 'rows' (default: --pair-by, "
            "else --group-by)."
        ),
    ] = None,
    raters: Annotated[
        list[str] | None,
        typer.Option(help="Per-rater columns for the human ceiling (comma-separate)."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Also score accuracy of target >= THRESHOLD (with majority class)."),
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples.", min=100)] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and the folds.")] = 0,
    workers: Annotated[
        int, typer.Option(help="Worker processes for a predictor's extraction (0: per core).")
    ] = 0,
    video_col: VideoCol = "video",
    prompt_col: PromptCol = "prompt",
    id_col: IdCol = None,
) -> None:
    """Evaluate scorers against human ratings: Spearman, Pearson and Kendall with bootstrap
    intervals, MAE where scales match, per group and at system level, pairwise accuracy
    within prompt; beside the constant predictor, the majority class, the best single
    feature chosen on training data, and the human ceiling."""
    from qualitylab.data.manifest import ColumnMapping
    from qualitylab.evaluate import EvaluationConfig, write_evaluation
    from qualitylab.evaluate import evaluate as run_evaluation
    from qualitylab.evaluate.output import summary_table

    config = EvaluationConfig(
        target=target,
        scorers=tuple(scorer),
        group_by=group_by,
        pair_by=pair_by or None,
        cluster_by=cluster_by,
        raters=split_list(raters),
        threshold=threshold,
        n_resamples=bootstrap,
        seed=seed,
    )
    mapping = ColumnMapping(video=video_col, prompt=prompt_col, id=id_col)
    with extraction_progress() as (on_start, on_result):
        evaluation = run_evaluation(
            source,
            config,
            features=features,
            mapping=mapping,
            work_dir=out / "features",
            workers=workers or None,
            on_start=on_start,
            on_result=on_result,
        )
    paths = write_evaluation(evaluation, out)
    summary = summary_table(evaluation.to_dict()).drop(
        columns=["role", *CONSOLE_HIDDEN], errors="ignore"
    )
    table = Table(
        *summary.columns,
        title=f"agreement with {target} ({evaluation.rows} videos; all metrics in {out})",
        box=box.SIMPLE,
    )
    for row in summary.itertuples(index=False):
        table.add_row(*(escape(str(cell)) for cell in row))
    console.print(table)
    for result in evaluation.results:
        print_plain(result.notes, f"note: {result.name}: ")
    print_plain(evaluation.notes, "note: ")
    console.print(f"written: {', '.join(str(p) for p in paths.values())}")
