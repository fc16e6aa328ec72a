"""Using a trained predictor: score new runs, explain it with SHAP, report on it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table

from qualitylab.cli.checks import require_paths
from qualitylab.cli.common import (
    AllowFailuresOpt,
    StoreOpt,
    WorkersOpt,
    app,
    console,
    errors,
    extraction_progress,
    fail,
    print_plain,
)

ModelOpt = Annotated[Path, typer.Option(help="A model directory written by `qualitylab train`.")]
SUMMARY_ROWS = 20


def load_model(model: Path):
    """The predictor in ``model``; exits with the reason when it cannot be used."""
    from qualitylab.learn.predictor import PredictorError, load_predictor

    try:
        return load_predictor(model)
    except PredictorError as exc:
        fail(str(exc))


def training_features(predictor, features: Path | None) -> Path:
    """``features``, or the table the predictor was trained on when it is still there."""
    if features is not None:
        return features
    source = predictor.info.features_source
    if source is None or not Path(source).exists():
        where = f" ({source} is gone)" if source else ""
        fail(f"pass --features: the predictor's training features are not available{where}")
    return Path(source)


@app.command()
def score(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="A manifest, or a folder of videos with prompts (prompts.json/.csv or one "
            ".txt per video; a folder holding manifest.csv is read as that manifest).",
        ),
    ],
    model: ModelOpt,
    out: Annotated[Path, typer.Option(help="CSV file of scores.")],
    prompts: Annotated[
        Path | None, typer.Option(help="Prompts file (.json/.csv) for a folder of videos.")
    ] = None,
    features_dir: Annotated[
        Path | None,
        typer.Option(
            help="Directory of this scoring's index and feature tables (default: OUT's name + "
            "_features); never one that another run wrote."
        ),
    ] = None,
    store: StoreOpt = None,
    workers: WorkersOpt = 0,
    allow_failures: AllowFailuresOpt = False,
) -> None:
    """Score a new run: extract the predictor's features (reusing the store), predict,
    and write per video the predicted score, its uncertainty (spread across the forest's
    trees; rf only), the Webench quality index, what lies outside the training
    distribution (ood), the top 3 SHAP contributions and the predictor's id, plus every
    manifest column; print the ranking.
    """
    require_paths([source, model, *([prompts] if prompts else [])], "score")
    from qualitylab.data.folder import read_input
    from qualitylab.data.manifest import ManifestError
    from qualitylab.features.extraction_run import RunError
    from qualitylab.learn.predictor import PredictorError
    from qualitylab.score import needs_prompts, score_manifest

    predictor = load_model(model)
    try:
        manifest, skipped = read_input(source, prompts, prompts_needed=needs_prompts(predictor))
    except ManifestError as exc:
        fail(str(exc))
    for row in skipped.itertuples():
        errors.print(f"[yellow]skipped:[/] {escape(row.id)}: {escape(row.error)}")
    run_dir = features_dir or out.with_name(out.stem + "_features")
    with extraction_progress() as (on_start, on_result):
        try:
            result = score_manifest(
                manifest,
                predictor,
                run_dir,
                skipped=skipped,
                workers=workers or None,
                store=store,
                on_start=on_start,
                on_result=on_result,
            )
        except (RunError, PredictorError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            errors.print("interrupted: the finished videos are kept in the store; run again")
            raise typer.Exit(130) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    result.scores.to_csv(out, index=False)
    _print_scores(result, predictor)
    console.print(
        f"{len(result.scores)} videos: {result.computed} computed, {result.reused} from the "
        f"store, {int(result.scores['error'].notna().sum())} not scored"
    )
    console.print(f"scores: {out}  (features: {run_dir})")
    failed = int(result.scores["error"].notna().sum())
    if failed and not allow_failures:
        fail(f"{failed} of {len(result.scores)} videos could not be scored (see 'error' in {out})")


def _print_scores(result, predictor) -> None:
    scores = result.scores
    scored = scores[scores["error"].isna()]
    what = "P(class 1)" if predictor.info.task == "classification" else "predicted"
    table = Table("rank", Column("id", overflow="fold"), what, "± trees", "quality index", "ood")
    shown = scored if len(scored) <= SUMMARY_ROWS else scored.head(SUMMARY_ROWS)
    for row in shown.itertuples():
        table.add_row(
            str(row.rank),
            escape(str(row.id)),
            f"{row.predicted_score:.3f}",
            "-" if math.isnan(row.uncertainty) else f"{row.uncertainty:.3f}",
            f"{row.quality_index:.3f}",
            "yes" if isinstance(row.ood, str) and row.ood else "",
        )
    console.print(table)
    if len(scored) > len(shown):
        console.print(f"... {len(scored) - len(shown)} more in the CSV")
    if len(scored):
        for label, row in (("best", scored.iloc[0]), ("worst", scored.iloc[-1])):
            console.print(f"{label} ({row['id']}), top SHAP: {row['top_shap']}", markup=False)
    for row in scores[scores["error"].notna()].itertuples():
        console.print(f"[red]not scored:[/] {escape(str(row.id))}: {escape(str(row.error))}")
    print_plain(result.notes, "note: ")


@app.command()
def explain(
    model: ModelOpt,
    out: Annotated[Path, typer.Option(help="Directory of the PNG figures and CSV numbers.")],
    features: Annotated[
        Path | None,
        typer.Option(
            help="Feature table or extract-features directory to explain (default: the "
            "predictor's training features)."
        ),
    ] = None,
    video_id: Annotated[
        list[str] | None,
        typer.Option("--id", help="Video to explain one by one (repeat; default: best and worst)."),
    ] = None,
) -> None:
    """Explain a predictor with SHAP (TreeExplainer for rf and hgb, LinearExplainer for
    ridge and pairwise): the top-10 mean |SHAP| bar, the beeswarm, a waterfall per video,
    and a timeline mapping the SHAP of temporal aggregations back to the frames that
    drive them. PNG files plus the numbers as CSV."""
    from qualitylab.cli.common import read_features
    from qualitylab.learn.predictor import PredictorError
    from qualitylab.report.explanations import write_explanations

    predictor = load_model(model)
    source = training_features(predictor, features)
    table, _ = read_features(source)
    with console.status(f"SHAP for {len(table)} videos × {len(predictor.columns)} features"):
        try:
            written = write_explanations(
                predictor, table, out, ids=video_id or None, signals_dir=source
            )
        except PredictorError as exc:
            fail(str(exc))
        except KeyError as exc:
            fail(f"--id: {exc.args[0]} in {source}")
    top = Table("feature", "mean |SHAP|", title=f"top features ({written.explanation.output})")
    for row in written.importance.head(10).itertuples():
        top.add_row(row.feature, f"{row.mean_abs_shap:.4f}")
    console.print(top)
    print_plain(written.notes, "note: ")
    console.print(f"{len(written.files)} files in {out}")


@app.command()
def report(
    model: ModelOpt,
    out: Annotated[Path, typer.Option(help="HTML file to write (self-contained).")],
    features: Annotated[
        Path | None,
        typer.Option(help="Feature table the predictor was trained on (default: its record)."),
    ] = None,
    scores: Annotated[
        list[Path] | None, typer.Option(help="Score files of `qualitylab score` (repeat).")
    ] = None,
    grid: Annotated[
        Path | None, typer.Option(help="A `qualitylab grid` output directory to include.")
    ] = None,
    evaluation: Annotated[
        Path | None, typer.Option(help="A `qualitylab evaluate` output directory to include.")
    ] = None,
) -> None:
    """Write one self-contained HTML report: dataset, CV results, the predictor beside the
    Webench quality index, SHAP figures, best and worst videos with frame strips, and the
    grid tables, scored runs and evaluation when given."""
    from qualitylab.cli.common import read_features
    from qualitylab.evaluate.output import JSON_FILE
    from qualitylab.learn.predictor import PredictorError
    from qualitylab.report.html import ReportInputs, build_report

    predictor = load_model(model)
    table, _ = read_features(training_features(predictor, features))
    for path in [*(scores or []), *([grid] if grid else [])]:
        if not path.exists():
            fail(f"{path}: no such file or directory")
    if evaluation is not None and not (evaluation / JSON_FILE).is_file():
        fail(f"{evaluation}: no {JSON_FILE} here (write one with qualitylab evaluate)")
    inputs = ReportInputs(
        predictor,
        model,
        table,
        grid_dir=grid,
        score_files=list(scores or []),
        evaluation_dir=evaluation,
    )
    with console.status("writing the report"):
        try:
            written = build_report(inputs, out)
        except PredictorError as exc:
            fail(str(exc))
    console.print(f"report: {written}")
