"""The whole loop in one command: `qualitylab demo` and `qualitylab run EXPERIMENT`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from qualitylab.cli.common import app, console, errors, extraction_progress, fail


@app.command()
def demo(
    out_dir: Annotated[
        Path | None,
        typer.Option(help="Where to put everything the demo makes (default: the cache root)."),
    ] = None,
    aspects: Annotated[
        bool,
        typer.Option(
            help="Learn the synthetic aspects (visual, temporal, alignment) as one bundle, "
            "with synthetic_score as overall, folds grouped by prompt."
        ),
    ] = False,
) -> None:
    """Run the whole loop on the embedded demo data: build it, extract features (classical,
    plus learned ones whose weights are present), train, explain, score a new demo run and
    write the HTML report. Its scores are SYNTHETIC, not human ratings."""
    from qualitylab.config import demo_dir
    from qualitylab.data.samples import ASPECTS
    from qualitylab.experiment_loop import LoopExperiment

    experiment = LoopExperiment()
    if aspects:
        experiment = LoopExperiment(
            name="demo_aspects",
            target=list(ASPECTS),
            overall="synthetic_score",
            training=experiment.training.model_copy(update={"group_by": "prompt"}),
        )
    _run_loop(experiment, out_dir or demo_dir().with_name(experiment.name), Path.cwd())


@app.command("run")
def run_experiment(
    experiment: Annotated[
        Path, typer.Argument(help="Loop experiment YAML, e.g. experiments/demo.yaml.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default: runs/<experiment name>).")
    ] = None,
) -> None:
    """Run a loop experiment: data → features → train → explain → score → report.
    Manifest paths in the YAML are relative to the YAML file."""
    from qualitylab.experiment_loop import load_loop_experiment

    try:
        loaded = load_loop_experiment(experiment)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    _run_loop(loaded, out or Path("runs") / loaded.name, experiment.parent)


def _run_loop(experiment, out_dir: Path, base_dir: Path) -> None:
    import optuna

    from qualitylab.data.manifest import ManifestError
    from qualitylab.experiment_loop import LoopHooks, run_loop, summary_line
    from qualitylab.features.extraction_run import RunError
    from qualitylab.learn.predictor import PredictorError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    with extraction_progress() as (on_start, on_result):

        def step(name: str) -> None:
            # The time since the start at which the step begins (not how long it takes).
            errors.print(f"at {time.perf_counter() - started:4.0f} s: [bold]{name}[/]")

        hooks = LoopHooks(step=step, extraction_start=on_start, extraction_result=on_result)
        try:
            result = run_loop(experiment, out_dir, base_dir=base_dir, hooks=hooks)
        except (RunError, ManifestError, PredictorError, ValueError, FileExistsError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            errors.print(f"interrupted: what finished is kept in {out_dir}; run again to resume")
            raise typer.Exit(130) from None
    failed = len(result.extraction.failed)
    if failed:
        errors.print(f"{failed} videos failed extraction: see {out_dir / 'features'}")
    if result.scoring is not None:
        best = result.scoring.scores.head(3)
        console.print(f"scored run ({result.scores}), best 3:")
        for row in best.to_dict("records"):
            predicted = ", ".join(
                f"{column.removeprefix('predicted_')} {value:.3f}"
                if column != "predicted_score"
                else f"{value:.3f}"
                for column, value in row.items()
                if column.startswith("predicted_")
            )
            console.print(f"  {row['rank']}. {row['id']}: {predicted}", markup=False)
    console.print(f"features: {', '.join(result.features)}")
    console.print(f"finished in {time.perf_counter() - started:.0f} s")
    console.print(f"report: {result.report}")
    console.print(summary_line(result, experiment.target))
