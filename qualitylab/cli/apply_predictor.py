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
    """The predictor (or bundle of aspect predictors) in ``model``; exits with the reason
    when it cannot be used."""
    from qualitylab.learn.bundle import load_model as load
    from qualitylab.learn.predictor import PredictorError

    try:
        return load(model)
    except PredictorError as exc:
        fail(str(exc))


def _first(model):
    """A predictor's own record, or a bundle's first aspect's (they share their features)."""
    return getattr(model, "first", model)


def training_features(predictor, features: Path | None) -> Path:
    """``features``, or the table the predictor was trained on when it is still there."""
    if features is not None:
        return features
    source = _first(predictor).info.features_source
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
    intervals: Annotated[
        Path | None,
        typer.Option(
            help="A defect detector (`qualitylab intervals train`'s rules/ or model/): also "
            "write where each video's defects are to OUT's name + _intervals.json."
        ),
    ] = None,
) -> None:
    """Score a new run: extract the predictor's features (reusing the store), predict,
    and write per video the predicted score, its uncertainty (spread across the forest's
    trees; rf only), the Webench quality index, what lies outside the training
    distribution (ood), the top 3 SHAP contributions and the predictor's id, plus every
    manifest column; print the ranking. With --intervals, also the defect intervals.
    """
    require_paths(
        [source, model, *([prompts] if prompts else []), *filter(None, [intervals])], "score"
    )
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
    if intervals is not None:
        _write_intervals(intervals, manifest, run_dir, out, workers, store)
    failed = int(result.scores["error"].notna().sum())
    if failed and not allow_failures:
        fail(f"{failed} of {len(result.scores)} videos could not be scored (see 'error' in {out})")


def _write_intervals(detector: Path, manifest, run_dir: Path, out: Path, workers, store) -> None:
    from qualitylab.features.extraction_run import RunError
    from qualitylab.intervals.experiment import Progress, write_run_intervals
    from qualitylab.intervals.output import intervals_path

    with extraction_progress() as (on_start, on_result):
        try:
            path = write_run_intervals(
                detector,
                manifest,
                run_dir.with_name(run_dir.name + "_intervals"),
                intervals_path(out),
                workers=workers or None,
                store=store,
                progress=Progress(on_start=on_start, on_result=on_result),
            )
        except (FileNotFoundError, ValueError, RunError) as exc:
            fail(str(exc))
    console.print(f"defect intervals: {path}")


def _print_scores(result, predictor) -> None:
    scores = result.scores
    scored = scores[scores["error"].isna()]
    aspects = getattr(predictor, "aspects", None)
    if aspects is None:
        what = "P(class 1)" if predictor.info.task == "classification" else "predicted"
        columns = [(what, "predicted_score"), ("± trees", "uncertainty")]
    else:
        columns = [(aspect, f"predicted_{aspect}") for aspect in aspects]
    table = Table(
        "rank",
        Column("id", overflow="fold"),
        *(name for name, _ in columns),
        "quality index",
        "ood",
    )
    shown = scored if len(scored) <= SUMMARY_ROWS else scored.head(SUMMARY_ROWS)
    for row in shown.to_dict("records"):
        table.add_row(
            str(row["rank"]),
            escape(str(row["id"])),
            *("-" if math.isnan(row[column]) else f"{row[column]:.3f}" for _, column in columns),
            f"{row['quality_index']:.3f}",
            "yes" if isinstance(row["ood"], str) and row["ood"] else "",
        )
    console.print(table)
    if len(scored) > len(shown):
        console.print(f"... {len(scored) - len(shown)} more in the CSV")
    shap = "top_shap" if aspects is None else f"top_shap_{aspects[0]}"
    if len(scored):
        for label, row in (("best", scored.iloc[0]), ("worst", scored.iloc[-1])):
            console.print(f"{label} ({row['id']}), top SHAP: {row[shap]}", markup=False)
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
    drive them. PNG files plus the numbers as CSV; for a bundle, one OUT/ASPECT directory
    per aspect."""
    from qualitylab.cli.common import read_features
    from qualitylab.learn.predictor import PredictorError
    from qualitylab.report.aspects import write_aspect_explanations
    from qualitylab.report.explanations import write_explanations

    predictor = load_model(model)
    source = training_features(predictor, features)
    table, _ = read_features(source)
    with console.status(f"SHAP for {len(table)} videos × {len(predictor.columns)} features"):
        try:
            if hasattr(predictor, "aspects"):
                explained = write_aspect_explanations(
                    predictor, table, out, ids=video_id or None, signals_dir=source
                )
            else:
                explained = {
                    "": write_explanations(
                        predictor, table, out, ids=video_id or None, signals_dir=source
                    )
                }
        except PredictorError as exc:
            fail(str(exc))
        except KeyError as exc:
            fail(f"--id: {exc.args[0]} in {source}")
    for aspect, written in explained.items():
        title = f"top features{f' of {aspect}' if aspect else ''} ({written.explanation.output})"
        top = Table("feature", "mean |SHAP|", title=title)
        for row in written.importance.head(10).itertuples():
            top.add_row(row.feature, f"{row.mean_abs_shap:.4f}")
        console.print(top)
        print_plain(written.notes, "note: ")
    files = sum(len(written.files) for written in explained.values())
    console.print(f"{files} files in {out}")


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
    grid tables, scored runs and evaluation when given. For a bundle: one such report per
    aspect beside OUT (OUT's name + _ASPECT.html) and OUT as their overview."""
    from qualitylab.cli.common import read_features
    from qualitylab.evaluate.output import JSON_FILE
    from qualitylab.learn.predictor import PredictorError
    from qualitylab.report.html import ReportInputs, build_report

    predictor = load_model(model)
    table, _ = read_features(training_features(predictor, features))
    for path in [*(scores or []), *([grid] if grid else [])]:
        if not path.exists():
            fail(f"{path}: no such file or directory")
    if hasattr(predictor, "aspects"):
        from qualitylab.report.aspects import build_aspects_report

        if grid is not None or evaluation is not None:
            fail("--grid and --evaluation go into a single predictor's report, not a bundle's")
        with console.status("writing the reports"):
            written = build_aspects_report(
                predictor, model, table, out, score_files=list(scores or [])
            )
        console.print(f"report: {written} (one report per aspect beside it)")
        return
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
