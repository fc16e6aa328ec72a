"""Training, prediction and the thesis grid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from qualitylab.cli.common import (
    FeaturesArg,
    app,
    console,
    errors,
    fail,
    progress_bar,
    read_features,
)


@app.command()
def train(
    features: FeaturesArg,
    target: Annotated[str, typer.Option(help="Column to predict, e.g. human_score.")],
    out: Annotated[Path, typer.Option(help="Model directory to write.")],
    task: Annotated[str, typer.Option(help="regression or classification.")] = "regression",
    threshold: Annotated[
        float, typer.Option(help="Classification: a row is positive when target >= threshold.")
    ] = 5.5,
    space: Annotated[
        str,
        typer.Option(
            help="Feature families and sets: 'all', or e.g. 'clip_b32:combined,ssim,flow'."
        ),
    ] = "all",
    trials: Annotated[int, typer.Option(help="Optuna trials.", min=1)] = 30,
    cv: Annotated[int, typer.Option(help="Cross-validation folds.", min=2)] = 5,
    group_by: Annotated[
        str | None,
        typer.Option(help="Keep rows sharing this column's value in one fold (e.g. prompt)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of splits, search and forest.")] = 0,
) -> None:
    """Train a Random Forest on FEATURES: Optuna on an 80/20 split, K-fold CV, final fit.

    Writes MODEL_DIR/model.skops, predictor.json, metrics.json and oof.csv, and prints
    the cross-validated metrics with bootstrap 95% confidence intervals.
    """
    import optuna

    from qualitylab.features.layout import feature_run
    from qualitylab.learn.predictor import save_predictor
    from qualitylab.learn.spaces import parse_space
    from qualitylab.learn.train import TrainConfig
    from qualitylab.learn.train import train as train_model

    table, extractors = read_features(features)
    try:
        config = TrainConfig(
            target=target,
            task=task,
            threshold=threshold,
            trials=trials,
            cv=cv,
            group_by=group_by,
            seed=seed,
        )
        chosen = parse_space(space, list(table.columns))
    except ValueError as exc:
        fail(str(exc))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with console.status(f"training on {len(table)} rows × {len(chosen.columns)} features"):
        try:
            result = train_model(table, list(chosen.columns), config)
        except ValueError as exc:
            fail(str(exc))
    run = feature_run(features)
    save_predictor(
        out,
        result,
        table,
        space=chosen.name,
        extractors=extractors,
        sampling=run["sampling"] if run else None,
        source=features,
    )
    _print_metrics(result)
    console.print(f"model: {out}")


def _print_metrics(result) -> None:
    from qualitylab.learn.metrics import format_mean_std

    config = result.config
    grouped = f", grouped by {config.group_by}" if config.group_by else ""
    console.print(
        f"{config.task} of {config.target} on {result.rows} rows × {len(result.columns)} features; "
        f"{config.cv}-fold CV{grouped}"
        + (f"; {len(result.dropped)} all-NaN features dropped" if result.dropped else "")
        + (
            f"; {result.rows_without_target} rows without a target left out"
            if result.rows_without_target
            else ""
        )
    )
    table = Table("metric", "CV mean ± std", "out-of-fold", "95% CI (bootstrap)")
    for name, values in result.metrics.items():
        low, high = values["ci"]
        table.add_row(
            name,
            format_mean_std(values["mean"], values["std"]),
            f"{values['oof']:.3f}",
            f"[{low:.3f}, {high:.3f}]",
        )
    console.print(table)


@app.command()
def predict(
    features: FeaturesArg,
    model: Annotated[Path, typer.Option(help="A model directory written by `qualitylab train`.")],
    out: Annotated[Path, typer.Option(help="CSV file of predictions.")],
) -> None:
    """Predict with a trained model for every row of FEATURES; write id, video, prompt,
    predicted_score (and probability for classification)."""
    from qualitylab.learn.predictor import PredictorError, load_predictor

    table, _ = read_features(features)
    try:
        predictions = load_predictor(model).predict(table)
    except PredictorError as exc:
        fail(str(exc))
    predictions.to_csv(out, index=False)
    console.print(f"{len(predictions)} predictions: {out}")


@app.command()
def grid(
    features: FeaturesArg,
    out: Annotated[Path, typer.Option(help="Directory of results, Optuna studies and tables.")],
    experiment: Annotated[
        Path | None,
        typer.Option(
            help="Experiment YAML (default: the thesis grid, as experiments/thesis_grid.yaml "
            "in the repository writes it out)."
        ),
    ] = None,
    target: Annotated[str | None, typer.Option(help="Override the experiment's target.")] = None,
    trials: Annotated[
        int | None, typer.Option(help="Override the experiment's Optuna trials.")
    ] = None,
    group_by: Annotated[
        str | None, typer.Option(help="Override the experiment's group column.")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Override the classification threshold (target >= it).")
    ] = None,
    jobs: Annotated[int | None, typer.Option(help="Parallel spaces (0: one per core).")] = None,
) -> None:
    """Run the thesis grid: every feature space present × regression and classification.

    Resumable: finished spaces are kept and saved Optuna searches continue.
    """
    from qualitylab.learn.experiment import GridExperiment, load_experiment
    from qualitylab.learn.grid import run_grid

    table, _ = read_features(features)
    try:
        loaded = load_experiment(experiment) if experiment is not None else GridExperiment()
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    try:
        loaded = loaded.with_overrides(
            target=target, trials=trials, group_by=group_by, threshold=threshold, n_jobs=jobs
        )
    except ValueError as exc:
        fail(str(exc))
    with progress_bar() as progress:
        task = progress.add_task("grid", total=None)
        try:
            summary = run_grid(
                table,
                loaded,
                out,
                on_start=lambda jobs: progress.update(task, total=jobs),
                on_job=lambda name: progress.update(task, advance=1),
            )
        except ValueError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            errors.print(
                f"interrupted: the finished spaces are kept in {out}; "
                "run the same command again to continue"
            )
            raise typer.Exit(130) from None
    console.print(f"{summary.ran} (task, space) trained, {summary.reused} reused from {out}")
    if summary.skipped:
        from collections import Counter

        console.print(
            f"{len(summary.skipped)} spaces skipped (each listed in {out / 'skipped.txt'}):"
        )
        reasons = Counter(reason for _, why in summary.skipped for reason in why.split("; "))
        for reason, count in reasons.most_common():
            console.print(f"  {reason}: {count} spaces", highlight=False)
    for path in summary.tables:
        if path.suffix == ".md":
            console.print(path.read_text(), highlight=False, markup=False)
