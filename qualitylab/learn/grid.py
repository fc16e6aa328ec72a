"""The thesis grid: every feature space × task, trained with the protocol, in parallel.

``DIR/`` after ``qualitylab grid``:

- ``experiment.yaml``: the resolved experiment (with the command line's overrides);
- ``optuna.db``: the Optuna study of each (task, space) in SQLite, named
  ``<task>:<space>``, written when its search ends or is interrupted in this process (a
  worker stopped with the grid loses the trials of its unfinished space);
- ``results/<task>/<space>.json``: each finished (task, space) with its CV metrics; a
  re-run skips these;
- ``results.csv``: one row per (task, space, metric) with mean, std, out-of-fold value and
  bootstrap CI;
- ``skipped.txt``: the spaces that could not run, with the reason;
- ``tables/<task>_<set type>.md`` and ``.csv``: the thesis tables (rows = text–frame model,
  columns = ONLY, L, S, OF, L_S, L_OF, S_OF, L_S_OF, cells "mean ± std").
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pandas as pd
from sqlalchemy import event

from qualitylab.atomic import write_text
from qualitylab.learn.experiment import GridExperiment, save_experiment
from qualitylab.learn.grid_tables import write_thesis_tables
from qualitylab.learn.metrics import PRIMARY, to_json_ready
from qualitylab.learn.spaces import FeatureSpace, thesis_spaces
from qualitylab.learn.train import TrainConfig, train
from qualitylab.workers import worker_pool

STUDIES_FILE = "optuna.db"


@dataclass
class GridSummary:
    """What a grid run did: jobs run and reused, what was skipped, the tables written."""

    ran: int = 0
    reused: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)


def run_grid(
    table: pd.DataFrame,
    experiment: GridExperiment,
    out_dir: str | Path,
    *,
    on_start: Callable[[int], None] | None = None,
    on_job: Callable[[str], None] | None = None,
) -> GridSummary:
    """Run every (task, space) of ``experiment`` that has no result yet in ``out_dir``, then
    write results.csv and the thesis tables. ``on_start(jobs to run)`` and
    ``on_job("task:space")`` report progress."""
    _check_target(table, experiment)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_experiment(experiment, out_dir / "experiment.yaml")
    spaces, skipped = thesis_spaces(
        list(table.columns),
        experiment.text_models,
        experiment.set_types,
        experiment.combinations,
        experiment.optical_flow,
    )
    summary = GridSummary(skipped=skipped)
    (out_dir / "skipped.txt").write_text("".join(f"{name}: {why}\n" for name, why in skipped))
    jobs = [(task, space) for task in experiment.tasks for space in spaces]
    pending = [
        (task, space) for task, space in jobs if not _result_path(out_dir, task, space).is_file()
    ]
    # The widest spaces first, so that no worker is left with a long job at the end.
    pending.sort(key=lambda job: len(job[1].columns), reverse=True)
    summary.reused = len(jobs) - len(pending)
    if on_start is not None:
        on_start(len(pending))
    # The database and its tables are made here, so that workers do not race to make them.
    _sqlite_storage(out_dir / STUDIES_FILE)
    _run_jobs(table, experiment, out_dir, pending, on_job)
    summary.ran = len(pending)
    results = _collect(out_dir, jobs)
    results.to_csv(out_dir / "results.csv", index=False)
    primary = results[results["metric"] == results["task"].map(PRIMARY)]
    summary.tables = write_thesis_tables(primary, out_dir / "tables")
    return summary


def _check_target(table: pd.DataFrame, experiment: GridExperiment) -> None:
    """ValueError before any work when the target is absent or a task cannot run."""
    if experiment.target not in table.columns:
        raise ValueError(f"target {experiment.target!r} is not in the feature table")
    group_by = experiment.training.group_by
    if group_by is not None and group_by not in table.columns:
        raise ValueError(f"group column {group_by!r} is not in the feature table")
    target = pd.to_numeric(table[experiment.target], errors="coerce").dropna()
    threshold = experiment.training.threshold
    if threshold is None or "classification" not in experiment.tasks:
        return
    if (target >= threshold).mean() in (0.0, 1.0):
        raise ValueError(
            f"classification needs {experiment.target} on both sides of the threshold "
            f"{threshold} (range {target.min():g}-{target.max():g}); set --threshold"
        )


def _run_jobs(table, experiment, out_dir, pending, on_job) -> None:
    workers = experiment.n_jobs or os.cpu_count() or 1
    if workers <= 1 or len(pending) <= 1:
        for task, space in pending:
            _run_job(table, experiment, out_dir, task, space)
            if on_job is not None:
                on_job(f"{task}:{space.name}")
        return
    with worker_pool(min(workers, len(pending))) as executor:
        futures = {
            executor.submit(
                _run_job, table, experiment, out_dir, task, space
            ): f"{task}:{space.name}"
            for task, space in pending
        }
        for future in as_completed(futures):
            future.result()
            if on_job is not None:
                on_job(futures[future])


def _run_job(
    table: pd.DataFrame, experiment: GridExperiment, out_dir: Path, task: str, space: FeatureSpace
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = TrainConfig.of(experiment.target, task, experiment.training)
    result = train(
        table,
        list(space.columns),
        config,
        storage=_sqlite_storage(out_dir / STUDIES_FILE),
        study_name=f"{task}:{space.name}",
        fit_final=False,
    )
    record = {
        "task": task,
        "space": space.name,
        "text_model": space.text_model or "none",
        "set_type": space.set_type,
        "combination": space.combination,
        "features": len(result.columns),
        "params": result.params,
        "metrics": result.metrics,
    }
    path = _result_path(out_dir, task, space)
    write_text(path, json.dumps(to_json_ready(record), allow_nan=False) + "\n")


@functools.cache
def _sqlite_storage(path: Path) -> optuna.storages.RDBStorage:
    """Optuna's storage in one SQLite file, opened once per process, with write-ahead
    logging and no disk flush per transaction. Each study is written once, when its search
    ends (see :func:`qualitylab.learn.tune.tune`), so the grid's workers rarely wait on
    each other's write locks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")

    def on_connect(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # reconnect, so that every connection gets the settings
    return storage


def _result_path(out_dir: Path, task: str, space: FeatureSpace) -> Path:
    return out_dir / "results" / task / f"{space.name.replace('/', '__')}.json"


def _collect(out_dir: Path, jobs) -> pd.DataFrame:
    rows = []
    for task, space in jobs:
        record = json.loads(_result_path(out_dir, task, space).read_text())
        for metric, values in record["metrics"].items():
            low, high = values["ci"] or (None, None)
            rows.append(
                {
                    "task": task,
                    "space": space.name,
                    "text_model": record["text_model"],
                    "set_type": record["set_type"],
                    "combination": record["combination"],
                    "features": record["features"],
                    "metric": metric,
                    "mean": values["mean"],
                    "std": values["std"],
                    "oof": values["oof"],
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows)
