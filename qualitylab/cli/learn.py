"""Training, prediction and the thesis grid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from qualitylab.cli.checks import require_column, require_paths
from qualitylab.cli.common import (
    FeaturesArg,
    app,
    console,
    errors,
    fail,
    print_plain,
    progress_bar,
    read_features,
    split_list,
)


@app.command()
def train(
    features: Annotated[
        list[Path],
        typer.Argument(
            metavar="FEATURES",
            help="Feature table(s) (.parquet/.csv) or extract-features --out directories; "
            "several are stacked with the target normalised per set.",
        ),
    ],
    target: Annotated[
        str,
        typer.Option(
            help="Column to predict, e.g. human_score; several comma-separated aspect "
            "columns train a bundle (one predictor per aspect)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Model directory to write.")],
    task: Annotated[str, typer.Option(help="regression or classification.")] = "regression",
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Classification: a row is positive when target >= threshold "
            "(default: the midpoint of the target's observed range)."
        ),
    ] = None,
    learner: Annotated[
        str,
        typer.Option(
            help="rf (Random Forest), ridge, hgb (gradient boosting), pairwise or vote "
            "(unit-weighted mean of the k strongest features)."
        ),
    ] = "rf",
    space: Annotated[
        str,
        typer.Option(
            help="Feature families and sets: 'all', or e.g. 'clip_b32:combined,ssim,flow'."
        ),
    ] = "all",
    tuning: Annotated[
        str, typer.Option(help="auto, nested, thesis (rf: Optuna on one hold-out) or defaults.")
    ] = "auto",
    trials: Annotated[int, typer.Option(help="Optuna trials (rf).", min=1)] = 30,
    cv: Annotated[
        str,
        typer.Option(help="Cross-validation folds (a number), or 'logo' (leave one group out)."),
    ] = "5",
    group_by: Annotated[
        str | None,
        typer.Option(
            help="Keep rows sharing this column's value in one fold (e.g. prompt, model)."
        ),
    ] = None,
    pair_by: Annotated[
        str,
        typer.Option(
            help="Compare videos within this column's groups (pairwise learner/accuracy)."
        ),
    ] = "prompt",
    within: Annotated[
        str | None,
        typer.Option(
            help="Also report the Spearman within each group of this column (e.g. model), "
            "without grouping the folds by it."
        ),
    ] = None,
    eval_source: Annotated[
        Path | None,
        typer.Option(
            "--eval",
            help="Another rated set to evaluate on: a feature table/directory, or a manifest "
            "(its features are extracted with the predictor's settings).",
        ),
    ] = None,
    normalise: Annotated[
        str, typer.Option(help="Several tables: the per-set target normalisation, rank or zscore.")
    ] = "rank",
    seed: Annotated[int, typer.Option(help="Random seed of splits, search and models.")] = 0,
    overall: Annotated[
        str | None,
        typer.Option(
            help="With aspects: also train 'overall' on this column, or on 'mean' (the mean "
            "of the aspect columns)."
        ),
    ] = None,
) -> None:
    """Train a predictor on FEATURES: choose settings, cross-validate, fit on every row.

    Writes MODEL_DIR/model.skops, predictor.json, metrics.json and oof.csv (and eval/ with
    --eval), and prints the cross-validated metrics with bootstrap 95% confidence
    intervals, pairwise accuracy within --pair-by, Spearman within each --group-by group
    and the constant-predictor yardstick. Several --target columns (or --overall) write a
    bundle: MODEL_DIR/bundle.json, metrics.json and one such directory per aspect.
    """
    require_paths([*features, *([eval_source] if eval_source else [])], "train")
    targets = list(split_list([target]))
    if not targets:
        fail("--target names no column")
    for column in [*targets, *([overall] if overall not in (None, "mean") else [])]:
        require_column(features[0], column, "--target" if column in targets else "--overall")
    if group_by is not None and len(features) == 1:  # stacked sets gain a dataset column
        require_column(features[0], group_by, "--group-by")
    import optuna

    from qualitylab.learn.predictor import PredictorError
    from qualitylab.learn.train import TrainConfig
    from qualitylab.learn.workflow import train_predictor

    try:
        config = TrainConfig(
            target=targets[0],
            task=task,
            threshold=threshold,
            learner=learner,
            tuning=tuning,
            trials=trials,
            cv=cv if cv == "logo" else _folds(cv),
            group_by=group_by,
            pair_by=pair_by,
            within=within,
            seed=seed,
        )
    except ValueError as exc:
        fail(_config_error(exc))
    if normalise not in ("rank", "zscore"):
        fail(f"--normalise must be rank or zscore, got {normalise!r}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with console.status(f"training {learner} on {', '.join(map(str, features))}"):
        try:
            trained = train_predictor(
                features,
                config,
                out,
                space=space,
                normalise=normalise,
                eval_source=eval_source,
                aspects=targets,
                overall=overall,
            )
        except (ValueError, FileNotFoundError, PredictorError) as exc:
            fail(str(exc))
    for result in trained.aspects.values() or [trained.result]:
        _print_metrics(result)
    print_plain(trained.notes, "note: ")
    console.print(f"model: {out}")
    if trained.external is not None:
        _print_external(trained.external, out)


def _folds(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        fail(f"--cv must be a number of folds or 'logo', got {value!r}")


def _config_error(exc: ValueError) -> str:
    """The message of a configuration error, without pydantic's decoration."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
    return str(exc)


def _print_metrics(result) -> None:
    from qualitylab.learn.evaluation import describe
    from qualitylab.learn.metrics import format_mean_std

    config = result.config
    console.print(
        f"{config.learner} {config.task} of {config.target} on {result.rows} rows × "
        f"{len(result.columns)} features"
        + (f"; {len(result.dropped)} all-NaN features dropped" if result.dropped else "")
        + (
            f"; {result.rows_without_target} rows without a target left out"
            if result.rows_without_target
            else ""
        ),
        markup=False,
    )
    console.print(f"tuning: {result.tuning}", markup=False, highlight=False)
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
    print_plain(describe(result.evaluation))


def _print_external(external, out: Path) -> None:
    from qualitylab.learn.evaluation import describe

    table = Table("metric (other set)", "value", "95% CI (bootstrap)")
    for name, values in external.metrics.items():
        low, high = values["ci"]
        table.add_row(name, f"{values['value']:.3f}", f"[{low:.3f}, {high:.3f}]")
    console.print(table)
    print_plain(describe(external.report))
    print_plain(external.notes, "note: ")
    console.print(f"evaluation: {out / 'eval'}")


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
