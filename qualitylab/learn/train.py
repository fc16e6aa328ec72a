"""Training with the thesis protocol: Optuna tunes the forest on an 80/20 split, K-fold
cross-validation evaluates the best settings, and a final fit uses every row.

Rows whose target is missing are left out (and counted). Classification labels are
``target >= threshold``. See :mod:`qualitylab.learn.tune` for the NaN policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.pipeline import Pipeline

from qualitylab.learn import cv, metrics
from qualitylab.learn.tune import make_model, tune

Task = Literal["regression", "classification"]


class TrainConfig(BaseModel):
    """What to learn and how: target, task, threshold, search budget, folds, groups, seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    task: Task = "regression"
    threshold: float = 5.5
    trials: int = Field(30, ge=1)
    cv: int = Field(5, ge=2)
    group_by: str | None = None
    seed: int = 0


@dataclass
class TrainResult:
    """A trained predictor's evaluation and, unless skipped, its final model."""

    config: TrainConfig
    columns: list[str]
    dropped: list[str]
    params: dict[str, Any]
    metrics: dict[str, dict]
    rows: int
    rows_without_target: int
    oof: pd.DataFrame = field(repr=False)
    model: Pipeline | None = None


def train(
    table: pd.DataFrame,
    columns: list[str],
    config: TrainConfig,
    *,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str = "qualitylab",
    fit_final: bool = True,
) -> TrainResult:
    """Tune, cross-validate and (when ``fit_final``) fit a Random Forest on ``columns``.

    Raises ValueError for a missing target or group column, a target that is not
    numeric, a single class, or fewer rows or groups than folds.
    """
    data, target, groups = _rows(table, config)
    usable = [c for c in columns if data[c].notna().any()]
    dropped = [c for c in columns if c not in usable]
    if not usable:
        raise ValueError("no usable feature columns: every selected feature is NaN")
    X = data[usable].to_numpy(np.float64)
    y = _labels(target, config)
    labels = cv.strata(y, config.cv, config.task)
    study = tune(
        config.task,
        X,
        y,
        cv.holdout(labels, config.seed, groups),
        trials=config.trials,
        seed=config.seed,
        storage=storage,
        study_name=study_name,
    )
    params = dict(study.best_params)
    folds = cv.kfold(labels, config.cv, config.seed, groups)
    oof, fold_scores = _cross_validate(config, params, X, y, target, folds)
    overall = metrics.scores(config.task, *_score_arguments(config, oof, target))
    ci = metrics.bootstrap_ci(
        config.task, *_score_arguments(config, oof, target), groups=groups, seed=config.seed
    )
    result = TrainResult(
        config=config,
        columns=usable,
        dropped=dropped,
        params=params,
        metrics=metrics.summarize(fold_scores, overall, ci),
        rows=len(data),
        rows_without_target=len(table) - len(data),
        oof=_oof_frame(data, target, oof),
    )
    if fit_final:
        result.model = make_model(config.task, params, config.seed).fit(X, y)
    return result


def _rows(table: pd.DataFrame, config: TrainConfig):
    for name, role in ((config.target, "target"), (config.group_by, "--group-by")):
        if name is not None and name not in table.columns:
            raise ValueError(f"{role} column {name!r} is not in the feature table")
    target = pd.to_numeric(table[config.target], errors="coerce")
    if target.isna().all():
        raise ValueError(f"target {config.target!r} has no numeric values")
    data = table[target.notna()].reset_index(drop=True)
    target = target[target.notna()].to_numpy(np.float64)
    groups = data[config.group_by].astype(str).to_numpy() if config.group_by else None
    return data, target, groups


def _labels(target: np.ndarray, config: TrainConfig) -> np.ndarray:
    if config.task == "regression":
        return target
    labels = (target >= config.threshold).astype(int)
    if len(np.unique(labels)) < 2:
        side = "at or above" if labels[0] else "below"
        raise ValueError(
            f"every {config.target} is {side} the threshold {config.threshold}: "
            "classification needs both classes (choose another --threshold)"
        )
    return labels


def _cross_validate(config, params, X, y, target, folds):
    predicted = np.empty(len(y))
    probability = np.full(len(y), np.nan)
    fold_scores = []
    for train_rows, test_rows in folds:
        model = make_model(config.task, params, config.seed).fit(X[train_rows], y[train_rows])
        predicted[test_rows] = model.predict(X[test_rows])
        if config.task == "classification":
            probability[test_rows] = _positive_probability(model, X[test_rows])
        fold = {"predicted": predicted[test_rows], "probability": probability[test_rows]}
        fold_scores.append(
            metrics.scores(config.task, *_score_arguments(config, fold, target[test_rows]))
        )
    return {"predicted": predicted, "probability": probability}, fold_scores


def _positive_probability(model: Pipeline, X: np.ndarray) -> np.ndarray:
    classes = list(model.classes_)
    probabilities = model.predict_proba(X)
    return probabilities[:, classes.index(1)] if 1 in classes else np.zeros(len(X))


def _score_arguments(config: TrainConfig, oof: dict, target: np.ndarray) -> tuple:
    """Positional arguments of ``metrics.scores`` for these predictions."""
    if config.task == "regression":
        return target, oof["predicted"]
    labels = (target >= config.threshold).astype(int)
    return labels, oof["predicted"].astype(int), oof["probability"], target


def _oof_frame(data: pd.DataFrame, target: np.ndarray, oof: dict) -> pd.DataFrame:
    frame = pd.DataFrame({"id": data["id"].to_numpy() if "id" in data else np.arange(len(data))})
    frame["target"] = target
    frame["predicted"] = oof["predicted"]
    if not np.isnan(oof["probability"]).all():
        frame["probability"] = oof["probability"]
    return frame
