"""The thesis grid at full size: 144 feature spaces × 2 tasks at 30 Optuna trials.

Builds a synthetic 200-row table with the thesis' column layout — six text–frame families
(`prompt_sim`, aggregated and the first 100 values), LPIPS, SSIM and the 18 RAFT signals
(aggregated and non-aggregated) — with a score that depends on a few of them, runs
``run_grid`` on it, and compares its time with a straightforward sequential loop (one
``train`` call after another in one process) timed on a subset of the jobs and
extrapolated to all of them.

    uv run python benchmarks/grid.py [--trials 30] [--subset 6]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from qualitylab.features.aggregate import feature_table
from qualitylab.features.registry import FLOW_QUANTITIES, FLOW_REDUCTIONS
from qualitylab.learn.experiment import GridExperiment
from qualitylab.learn.grid import run_grid
from qualitylab.learn.spaces import TEXT_FRAME_MODELS, thesis_spaces
from qualitylab.learn.train import TrainConfig, train

ROWS = 200
FRAMES = 16


def synthetic_table(seed: int = 0) -> pd.DataFrame:
    """200 videos × the thesis' families, with a score driven by CLIP B/32, LPIPS and RAFT."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=ROWS)
    signals: list[dict[str, np.ndarray]] = []
    for row in range(ROWS):
        video: dict[str, np.ndarray] = {}
        for model in TEXT_FRAME_MODELS:
            strength = 0.05 if model == "clip_b32" else 0.01
            video[f"{model}.prompt_sim"] = (
                0.25 + strength * quality[row] + 0.02 * rng.normal(size=FRAMES)
            )
        video["lpips.adjacent"] = 0.2 - 0.05 * quality[row] + 0.05 * rng.normal(size=FRAMES - 1)
        video["ssim.adjacent"] = 0.8 + 0.05 * rng.normal(size=FRAMES - 1)
        for quantity in FLOW_QUANTITIES:
            for reduction in FLOW_REDUCTIONS:
                video[f"raft.{quantity}_{reduction}"] = rng.normal(
                    1 + 0.2 * quality[row], 0.3, FRAMES - 1
                )
        signals.append(video)
    table = feature_table(signals, "combined")
    score = np.clip(5.5 + 1.5 * quality + 0.5 * rng.normal(size=ROWS), 1, 10)
    described = pd.DataFrame(
        {
            "id": [f"v{i:03d}" for i in range(ROWS)],
            "prompt": [f"p{i // 5:02d}" for i in range(ROWS)],
            "human_score": score,
        }
    )
    return pd.concat([described, table], axis=1)


def sequential(table: pd.DataFrame, experiment: GridExperiment, subset: int) -> tuple[float, int]:
    """Seconds per job of a plain loop of ``train`` calls over the first ``subset`` jobs
    of each task, and the number of jobs of the whole grid."""
    spaces, _ = thesis_spaces(list(table.columns))
    jobs = [(task, space) for task in experiment.tasks for space in spaces]
    sample = []
    for task in experiment.tasks:
        sample += [job for job in jobs if job[0] == task][:subset]
    started = time.perf_counter()
    for task, space in sample:
        config = TrainConfig(
            target="human_score",
            task=task,
            trials=experiment.trials,
            cv=experiment.cv,
            seed=experiment.seed,
        )
        train(table, list(space.columns), config, fit_final=False)
    return (time.perf_counter() - started) / len(sample), len(jobs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--subset", type=int, default=4, help="jobs per task timed sequentially")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    table = synthetic_table()
    experiment = GridExperiment(trials=args.trials)
    spaces, skipped = thesis_spaces(list(table.columns))
    print(
        f"{ROWS} rows × {table.shape[1]} columns; {len(spaces)} spaces × {len(experiment.tasks)} tasks, {args.trials} trials"
    )

    per_job, jobs = sequential(table, experiment, args.subset)
    print(
        f"sequential loop: {per_job:.2f} s per job → {per_job * jobs / 60:.1f} min for {jobs} jobs (extrapolated)"
    )

    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        summary = run_grid(table, experiment, Path(scratch))
        seconds = time.perf_counter() - started
    print(
        f"grid: {summary.ran} jobs in {seconds / 60:.1f} min ({seconds:.0f} s); target under 10 min"
    )
    print(f"ratio (extrapolated sequential / grid): {per_job * jobs / seconds:.2f}x")


if __name__ == "__main__":
    main()
