"""The thesis grid at full size: 144 feature spaces × 2 tasks at 30 Optuna trials.

Builds a synthetic 200-row table with the thesis' column layout — six text–frame families
(`prompt_sim`, aggregated and the first 100 values), LPIPS, SSIM and the 18 RAFT signals
(aggregated and non-aggregated) — with a score that depends on a few of them, runs
``run_grid`` on it, and compares its time with a straightforward implementation timed on
a subset of the jobs spread over the grid and extrapolated to all of them: one job after
another in this process, each an Optuna study stored trial by trial in SQLite whose trials
fit the whole forest at once (no pruning), then the same cross-validation.

    uv run python benchmarks/grid.py [--trials 30] [--subset 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import accuracy_score, mean_absolute_error

from qualitylab.features.aggregate import feature_table
from qualitylab.features.registry import FLOW_QUANTITIES, FLOW_REDUCTIONS
from qualitylab.learn import cv
from qualitylab.learn.experiment import GridExperiment
from qualitylab.learn.grid import run_grid
from qualitylab.learn.spaces import TEXT_FRAME_MODELS, thesis_spaces
from qualitylab.learn.tune import make_model, suggest_params

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


def straightforward_job(
    table: pd.DataFrame, experiment: GridExperiment, task: str, columns: list[str], storage: str
) -> None:
    """One (task, space) the plain way: tune with a study persisted per trial, then CV."""
    protocol = experiment.training
    y = table["human_score"].to_numpy(np.float64)
    if task == "classification":
        y = (y >= protocol.threshold).astype(int)
    X = table[columns].to_numpy(np.float64)
    labels = cv.strata(y, protocol.cv, task)
    train_rows, test_rows = cv.holdout(labels, protocol.seed)

    def objective(trial: optuna.Trial) -> float:
        model = make_model(task, suggest_params(trial), protocol.seed)
        predicted = model.fit(X[train_rows], y[train_rows]).predict(X[test_rows])
        if task == "classification":
            return accuracy_score(y[test_rows], predicted)
        return mean_absolute_error(y[test_rows], predicted)

    study = optuna.create_study(
        storage=storage,
        study_name=f"{task}:{len(columns)}:{time.perf_counter()}",
        direction="maximize" if task == "classification" else "minimize",
        sampler=optuna.samplers.TPESampler(seed=protocol.seed),
    )
    study.optimize(objective, n_trials=protocol.trials)
    for fold_train, fold_test in cv.kfold(labels, protocol.cv, protocol.seed):
        model = make_model(task, study.best_params, protocol.seed)
        model.fit(X[fold_train], y[fold_train]).predict(X[fold_test])


def straightforward(
    table: pd.DataFrame, experiment: GridExperiment, subset: int
) -> tuple[float, int]:
    """Seconds per job of the straightforward implementation over ``subset`` jobs of each
    task, evenly spread over the grid's spaces (narrow and wide), and the number of jobs
    of the whole grid."""
    spaces, _ = thesis_spaces(list(table.columns))
    jobs = [(task, space) for task in experiment.tasks for space in spaces]
    spread = np.linspace(0, len(spaces) - 1, subset).round().astype(int)
    sample = [(task, spaces[index]) for task in experiment.tasks for index in spread]
    with tempfile.TemporaryDirectory() as scratch:
        storage = f"sqlite:///{scratch}/optuna.db"
        started = time.perf_counter()
        for task, space in sample:
            straightforward_job(table, experiment, task, list(space.columns), storage)
        seconds = time.perf_counter() - started
    return seconds / len(sample), len(jobs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--subset", type=int, default=8, help="jobs per task timed sequentially")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    table = synthetic_table()
    experiment = GridExperiment().with_overrides(trials=args.trials)
    spaces, skipped = thesis_spaces(list(table.columns))
    print(
        f"{ROWS} rows × {table.shape[1]} columns; {len(spaces)} spaces × {len(experiment.tasks)} tasks, {args.trials} trials"
    )

    per_job, jobs = straightforward(table, experiment, args.subset)
    print(
        f"straightforward: {per_job:.2f} s per job → {per_job * jobs / 60:.1f} min for {jobs} jobs (extrapolated)"
    )

    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        summary = run_grid(table, experiment, Path(scratch))
        seconds = time.perf_counter() - started
    print(
        f"grid: {summary.ran} jobs in {seconds / 60:.1f} min ({seconds:.0f} s); target under 10 min"
    )
    print(f"ratio (extrapolated straightforward / grid): {per_job * jobs / seconds:.2f}x")


if __name__ == "__main__":
    main()
