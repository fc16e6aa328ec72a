"""Where in a video quality breaks: ``qualitylab intervals train`` and ``evaluate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from qualitylab.cli.common import (
    StoreOpt,
    WorkersOpt,
    command_group,
    console,
    errors,
    extraction_progress,
    fail,
)

intervals_app = command_group(
    "intervals", "Defect intervals: detectors that say where in a video quality breaks."
)

ClipsOpt = Annotated[int, typer.Option(help="Clips per demo seed (24-80).", min=24, max=80)]
WorkDirOpt = Annotated[
    Path | None,
    typer.Option(
        help="Where the labelled demo sets are built (default: $QUALITYLAB_HOME/intervals)."
    ),
]


@intervals_app.command("train")
def train(
    out: Annotated[Path, typer.Option(help="Directory for rules/, model/ and metrics.json.")],
    train_seed: Annotated[
        list[int] | None, typer.Option(help="Demo seed to train on (repeat; default 10 and 11).")
    ] = None,
    test_seed: Annotated[int, typer.Option(help="Demo seed of the held-out clips.")] = 20,
    clips: ClipsOpt = 80,
    epochs: Annotated[
        int, typer.Option(help="Training epochs of the sequence model.", min=1)
    ] = 300,
    hidden: Annotated[int, typer.Option(help="Width of the sequence model.", min=1)] = 32,
    work_dir: WorkDirOpt = None,
    store: StoreOpt = None,
    workers: WorkersOpt = 0,
) -> None:
    """Fit the rule-based detector and train the sequence model on demo clips with known
    defect intervals, measure both on clips built with another seed, and save both."""
    from pydantic import ValidationError

    from qualitylab.intervals.experiment import (
        IntervalsExperiment,
        Progress,
        summary_lines,
        train_detectors,
    )
    from qualitylab.intervals.model import SequenceConfig

    try:
        experiment = IntervalsExperiment(
            train_seeds=tuple(train_seed or (10, 11)),
            test_seed=test_seed,
            clips=clips,
            model=SequenceConfig(epochs=epochs, hidden=hidden),
        )
    except ValidationError as exc:
        fail(str(exc))
    with extraction_progress() as (on_start, on_result):
        progress = Progress(lambda name: errors.print(name), on_start, on_result)
        try:
            metrics = train_detectors(
                out, experiment, work_dir, workers=workers or None, store=store, progress=progress
            )
        except (RuntimeError, ValueError, FileExistsError) as exc:
            fail(str(exc))
    for line in summary_lines(metrics):
        console.print(line, markup=False, highlight=False)
    console.print(f"detectors: {out / 'rules'}, {out / 'model'}; measures: {out / 'metrics.json'}")


@intervals_app.command("evaluate")
def evaluate(
    detector: Annotated[Path, typer.Argument(help="A detector directory (rules/ or model/).")],
    seed: Annotated[int, typer.Option(help="Demo seed of the clips to measure on.")] = 20,
    clips: ClipsOpt = 80,
    out: Annotated[Path | None, typer.Option(help="JSON file for the measures.")] = None,
    work_dir: WorkDirOpt = None,
    store: StoreOpt = None,
    workers: WorkersOpt = 0,
) -> None:
    """Measure a saved detector on demo clips built with ``--seed``: frame-level F1 and
    mean interval IoU, for any defect and per defect."""
    from qualitylab.intervals.experiment import (
        Progress,
        evaluate_detector,
        json_ready,
        summary_lines,
    )

    with extraction_progress() as (on_start, on_result):
        progress = Progress(lambda name: errors.print(name), on_start, on_result)
        try:
            metrics = evaluate_detector(
                detector,
                seed,
                clips,
                work_dir,
                workers=workers or None,
                store=store,
                progress=progress,
            )
        except (FileNotFoundError, RuntimeError, ValueError) as exc:
            fail(str(exc))
    for line in summary_lines({detector.name: metrics}):
        console.print(line, markup=False, highlight=False)
    for name, measures in metrics.items():
        console.print(
            f"  {name:12s} F1 {measures['f1']:.3f}  mean IoU {measures['mean_iou']:.3f}  "
            f"({measures['truth_intervals']} intervals)",
            markup=False,
            highlight=False,
        )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(json_ready(metrics), indent=2) + "\n", encoding="utf-8")
