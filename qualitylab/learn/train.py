"""Training: choose a learner's settings, cross-validate, and fit a final model on every row.

Validation: K folds stratified on the target (grouped by ``group_by`` when given, e.g.
prompt), or ``cv="logo"``: leave one ``group_by`` group out at a time (e.g. generator).

Tuning (``TrainConfig.tuning``; the resolved choice and its reason are in
``TrainResult.tuning``):

- ``thesis``: Optuna tunes the forest once on a grouped 80/20 hold-out of all rows, and
  every fold uses those settings (the thesis protocol; the CV estimate saw the rows the
  settings were chosen on). ``rf`` only.
- ``nested``: each fold chooses its settings from its own training rows only: Optuna on a
  grouped hold-out of them (``rf``), or the one setting of the learner's grid (``ridge``,
  ``pairwise``: regularisation strength; ``vote``: number of features) with the best
  inner grouped cross-validation (leave-one-group-out inside a leave-one-group-out fold,
  else 3 grouped folds). The final model chooses on all rows.
- ``defaults``: the learner's robust defaults (:data:`qualitylab.learn.learners.DEFAULTS`).
- ``auto``: ``nested`` for ridge, pairwise and vote; for rf ``nested`` when a fold's hold-out
  would hold at least ``MIN_HOLDOUT_ROWS`` rows, else ``defaults``; ``defaults`` for hgb.

Rows whose target is missing are left out (and counted). Classification labels are
``target >= threshold``; without a threshold, the midpoint of the target's observed range
(recorded in the result's config). See :mod:`qualitylab.learn.tune` for the NaN policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from qualitylab.learn import cv, evaluation, learners, metrics
from qualitylab.learn.learners import LearnerName
from qualitylab.learn.tune import tune

Task = Literal["regression", "classification"]
Tuning = Literal["auto", "thesis", "nested", "defaults"]
MIN_HOLDOUT_ROWS = 30
INNER_FOLDS = 3


class TrainProtocol(BaseModel):
    """How to learn, declared once for ``train``, the loop and the grid: threshold
    (classification: a row is positive when target >= threshold; None: the midpoint of
    the target's observed range), learner, tuning, search budget, validation (K folds or
    ``"logo"``), groups, pair groups and seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float | None = None
    learner: LearnerName = "rf"
    tuning: Tuning = "auto"
    trials: int = Field(30, ge=1)
    cv: int | Literal["logo"] = 5
    group_by: str | None = None
    pair_by: str | None = "prompt"
    within: str | None = None
    seed: int = Field(0, ge=0)

    @field_validator("cv")
    @classmethod
    def _folds(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 2:
            raise ValueError(f"--cv must be at least 2 folds or 'logo', got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainProtocol:
        if self.cv == "logo" and self.group_by is None:
            raise ValueError("--cv logo needs --group-by (the column whose groups are held out)")
        if self.tuning == "thesis" and self.learner != "rf":
            raise ValueError("--tuning thesis (Optuna on one hold-out) is for --learner rf only")
        if self.tuning == "nested" and self.learner == "hgb":
            raise ValueError("hgb is not tuned: use --tuning defaults or auto")
        return self


class TrainConfig(TrainProtocol):
    """What to learn (``target``, ``task``) and how (the :class:`TrainProtocol`)."""

    target: str
    task: Task = "regression"

    @model_validator(mode="after")
    def _learner_fits_task(self) -> TrainConfig:
        learners.check_learner(self.learner, self.task)
        return self

    @classmethod
    def of(cls, target: str, task: Task, protocol: TrainProtocol) -> TrainConfig:
        """The configuration that learns ``target`` as ``task`` with ``protocol``."""
        return cls(target=target, task=task, **protocol.model_dump())


def nest_protocol(data: Any, default: TrainProtocol, key: str = "training") -> Any:
    """An experiment's raw fields with its training protocol under ``key``: the fields a
    partial ``key`` mapping leaves out keep ``default``'s values, and protocol fields at
    the top level (where experiment files before the protocol was nested put them) move
    under ``key``."""
    if not isinstance(data, dict):
        return data
    nested = data.get(key, {})
    if not isinstance(nested, dict):
        return data
    moved = {name: data[name] for name in TrainProtocol.model_fields if name in data}
    rest = {name: value for name, value in data.items() if name not in moved}
    return {**rest, key: {**default.model_dump(), **nested, **moved}}


def resolve_threshold(config: TrainConfig, target: np.ndarray) -> TrainConfig:
    """``config`` with a classification threshold: the given one, or the midpoint of the
    observed ``target`` range when none is given."""
    if config.task != "classification" or config.threshold is not None:
        return config
    midpoint = (float(np.nanmin(target)) + float(np.nanmax(target))) / 2
    return config.model_copy(update={"threshold": midpoint})


@dataclass
class TrainResult:
    """A trained predictor's evaluation and, unless skipped, its final model.

    ``metrics`` has the metrics.json structure of :func:`metrics.summarize`;
    ``evaluation`` the counts, pairwise accuracy, within-group correlations and yardstick
    of :mod:`qualitylab.learn.evaluation`; ``tuning`` says how settings were chosen.
    """

    config: TrainConfig
    columns: list[str]
    dropped: list[str]
    params: dict[str, Any]
    metrics: dict[str, dict]
    rows: int
    rows_without_target: int
    oof: pd.DataFrame = field(repr=False)
    tuning: str = ""
    fold_params: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] = field(default_factory=dict)
    model: Pipeline | None = None


@dataclass
class _Data:
    X: np.ndarray
    y: np.ndarray
    target: np.ndarray
    strata: np.ndarray
    groups: np.ndarray | None
    pair_groups: np.ndarray | None
    within: np.ndarray | None = None


def train(
    table: pd.DataFrame,
    columns: list[str],
    config: TrainConfig,
    *,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str = "qualitylab",
    fit_final: bool = True,
    fold_of: np.ndarray | None = None,
) -> TrainResult:
    """Choose settings, cross-validate and (when ``fit_final``) fit ``config.learner`` on
    ``columns``. ``storage`` and ``study_name`` persist the Optuna search of the thesis
    tuning. ``fold_of`` (one fold number per row of ``table``) fixes the folds, e.g. the
    same folds for every aspect of a bundle; by default they are drawn for this target.

    Raises ValueError for a missing target, group or pair column, a target that is not
    numeric, a single class, or fewer rows or groups than folds. Models are fitted on one
    thread (OpenMP and BLAS included: their threads cost far more than they give on a few
    hundred rows, and the grid runs spaces in parallel).
    """
    with threadpool_limits(limits=1):
        return _train(table, columns, config, storage, study_name, fit_final, fold_of)


def _train(
    table: pd.DataFrame,
    columns: list[str],
    config: TrainConfig,
    storage: str | optuna.storages.BaseStorage | None,
    study_name: str,
    fit_final: bool,
    fold_of: np.ndarray | None = None,
) -> TrainResult:
    frame, target, groups, pair_groups = _rows(table, config)
    config = resolve_threshold(config, target)
    usable = [c for c in columns if frame[c].notna().any()]
    dropped = [c for c in columns if c not in usable]
    if not usable:
        raise ValueError("no usable feature columns: every selected feature is NaN")
    X = frame[usable].to_numpy(np.float64)
    y = _labels(target, config)
    n_splits = len(np.unique(groups)) if config.cv == "logo" else config.cv
    data = _Data(X, y, target, cv.strata(y, n_splits, config.task), groups, pair_groups)
    if config.within is not None:
        data.within = frame[config.within].astype(str).to_numpy()
    if fold_of is not None:
        rated = pd.to_numeric(table[config.target], errors="coerce").notna().to_numpy()
        folds = _given_folds(np.asarray(fold_of)[rated])
    elif config.cv == "logo":
        folds = cv.logo(groups)
    else:
        folds = cv.kfold(data.strata, config.cv, config.seed, groups)
    mode, note = _resolve_tuning(config, len(y))

    def choose(rows: np.ndarray, name: str) -> dict[str, Any]:
        return _choose(config, mode, data, rows, storage=None, study_name=name)

    params: dict[str, Any] = {}
    if mode in ("thesis", "defaults"):
        params = _choose(config, mode, data, np.arange(len(y)), storage, study_name)
        fold_params = [params] * len(folds)
    else:
        fold_params = [
            choose(train_rows, f"{study_name}:fold{i}") for i, (train_rows, _) in enumerate(folds)
        ]
    oof, fold_scores = _cross_validate(config, fold_params, data, folds)
    score_args = _score_arguments(config, oof, target)
    clusters, cluster_role = evaluation.bootstrap_clusters(groups, pair_groups)
    overall = metrics.scores(config.task, *score_args)
    ci = metrics.bootstrap_ci(config.task, *score_args, groups=clusters, seed=config.seed)
    result = TrainResult(
        config=config,
        columns=usable,
        dropped=dropped,
        params=params,
        metrics=metrics.summarize(fold_scores, overall, ci),
        rows=len(frame),
        rows_without_target=len(table) - len(frame),
        oof=_oof_frame(frame, target, oof, folds, groups),
        tuning=note,
        fold_params=fold_params,
        evaluation=_evaluation(config, data, oof, folds, cluster_role),
    )
    if fit_final:
        if mode == "nested":
            result.params = choose(np.arange(len(y)), f"{study_name}:final")
        model = learners.build(config.learner, config.task, result.params, config.seed, len(y))
        result.model = learners.fit(config.learner, model, X, y, pair_groups)
    return result


def _given_folds(fold_of: np.ndarray) -> list[cv.Split]:
    """(train, test) pairs of a fold number per row; folds without rows are left out."""
    return [
        (np.flatnonzero(fold_of != number), np.flatnonzero(fold_of == number))
        for number in np.unique(fold_of)
    ]


def _rows(table: pd.DataFrame, config: TrainConfig):
    named = (
        (config.target, "target"),
        (config.group_by, "--group-by"),
        (config.within, "--within"),
    )
    for name, role in named:
        if name is not None and name not in table.columns:
            raise ValueError(f"{role} column {name!r} is not in the feature table")
    if config.learner == "pairwise" and (config.pair_by is None or config.pair_by not in table):
        raise ValueError(
            f"the pairwise learner compares videos within --pair-by groups, and the column "
            f"{config.pair_by!r} is not in the feature table"
        )
    target = pd.to_numeric(table[config.target], errors="coerce")
    if target.isna().all():
        raise ValueError(f"target {config.target!r} has no numeric values")
    frame = table[target.notna()].reset_index(drop=True)
    target = target[target.notna()].to_numpy(np.float64)
    groups = frame[config.group_by].astype(str).to_numpy() if config.group_by else None
    pair_by = config.pair_by if config.pair_by in frame else None
    pair_groups = frame[pair_by].astype(str).to_numpy() if pair_by else None
    return frame, target, groups, pair_groups


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


def _resolve_tuning(config: TrainConfig, rows: int) -> tuple[str, str]:
    """The tuning mode ``auto`` stands for, and a sentence saying what is done and why."""
    mode = config.tuning
    folds = 5 if config.cv == "logo" else config.cv
    holdout_rows = int(rows * (1 - 1 / folds) * 0.2)
    if mode == "auto":
        if config.learner in ("ridge", "pairwise", "vote"):
            mode = "nested"
        elif config.learner == "rf" and holdout_rows >= MIN_HOLDOUT_ROWS:
            mode = "nested"
        else:
            mode = "defaults"
    grouped = f"grouped by {config.group_by}" if config.group_by else "not grouped"
    if mode == "thesis":
        note = (
            f"thesis: Optuna ({config.trials} trials) on one 80/20 hold-out of all rows "
            f"({grouped}), the same settings in every fold (the CV saw the tuning rows)"
        )
    elif mode == "nested" and config.learner == "rf":
        note = (
            f"nested: in each fold Optuna ({config.trials} trials) on a hold-out of that "
            f"fold's training rows ({grouped}); the final model's on all rows"
        )
    elif mode == "nested":
        name, values = _grid_values(config.learner)
        inner = "leave-one-group-out" if config.cv == "logo" else f"{INNER_FOLDS}-fold"
        note = (
            f"nested: in each fold {name} chosen from {values} by an inner {inner} CV of "
            f"that fold's training rows ({grouped}); the final model's on all rows"
        )
    else:
        reason = (
            f"a fold's hold-out would hold {holdout_rows} rows, under {MIN_HOLDOUT_ROWS}"
            if config.tuning == "auto" and config.learner == "rf"
            else "asked for"
            if config.tuning == "defaults"
            else "this learner is not tuned"
        )
        note = f"defaults {learners.DEFAULTS[config.learner]} ({reason})"
    return mode, note


def _grid_values(learner: str) -> tuple[str, list]:
    grid = learners.GRIDS[learner]
    name = next(iter(grid[0]))
    return name, [candidate[name] for candidate in grid]


def _choose(
    config: TrainConfig,
    mode: str,
    data: _Data,
    rows: np.ndarray,
    storage: str | optuna.storages.BaseStorage | None,
    study_name: str,
) -> dict[str, Any]:
    """The settings chosen from ``rows`` (indices into ``data``) in tuning ``mode``."""
    if mode == "defaults":
        return dict(learners.DEFAULTS[config.learner])
    X, y = data.X[rows], data.y[rows]
    groups, cv_groups = _inner_groups(data, rows)
    if config.learner == "rf":
        split = cv.holdout(cv.strata(y, 5, config.task), config.seed, groups)
        study = tune(
            config.task,
            X,
            y,
            split,
            trials=config.trials,
            seed=config.seed,
            storage=storage,
            study_name=study_name,
        )
        return dict(study.best_params)
    return _grid_search(config, data, rows, groups, cv_groups)


def _inner_groups(data: _Data, rows: np.ndarray) -> tuple[np.ndarray | None, bool]:
    """The groups inner splits keep together, and whether they are the CV groups: the CV
    groups, else (when the training rows hold fewer than ``INNER_FOLDS`` of those, e.g.
    one of two held-out sets) the pair groups, else none."""
    for groups, is_cv in ((data.groups, True), (data.pair_groups, False)):
        if groups is not None and len(np.unique(groups[rows])) >= INNER_FOLDS:
            return groups[rows], is_cv
    return None, False


def _grid_search(
    config: TrainConfig,
    data: _Data,
    rows: np.ndarray,
    groups: np.ndarray | None,
    cv_groups: bool,
) -> dict[str, Any]:
    """The candidate of the learner's grid with the best inner cross-validated Spearman
    (pairwise accuracy for the pairwise learner); ties go to the earlier, more strongly
    regularised candidate."""
    y, target = data.y[rows], data.target[rows]
    pair_groups = None if data.pair_groups is None else data.pair_groups[rows]
    n_groups = len(np.unique(groups)) if groups is not None else len(rows)
    if config.cv == "logo" and cv_groups:
        inner = cv.logo(groups)
    else:
        k = min(INNER_FOLDS, n_groups)
        inner = cv.kfold(cv.strata(y, k, config.task), k, config.seed, groups)
    candidates = learners.GRIDS[config.learner]
    predicted = np.empty((len(candidates), len(rows)))
    for train_rows, test_rows in inner:
        # The preprocessing does not depend on the candidate: fitted once per split.
        pipeline = learners.build(
            config.learner, config.task, candidates[0], config.seed, len(train_rows)
        )
        prepare = pipeline[:-1].fit(data.X[rows][train_rows])
        fitted_rows = prepare.transform(data.X[rows][train_rows])
        scored_rows = prepare.transform(data.X[rows][test_rows])
        for number, candidate in enumerate(candidates):
            estimator = clone(pipeline[-1]).set_params(
                **learners.final_step_params(config.learner, config.task, candidate)
            )
            if config.learner == "pairwise":
                estimator.fit(fitted_rows, y[train_rows], groups=pair_groups[train_rows])
            else:
                estimator.fit(fitted_rows, y[train_rows])
            predicted[number, test_rows] = _output(config, estimator, scored_rows)
    best, best_score = candidates[0], -math.inf
    for candidate, output in zip(candidates, predicted):
        if config.learner == "pairwise":
            score = metrics.pairwise_accuracy(target, output, pair_groups)[0]
        else:
            score = metrics.scores("regression", target, output)["spearman"]
        if not math.isnan(score) and score > best_score:
            best, best_score = candidate, score
    return dict(best)


def _output(config: TrainConfig, model: Pipeline, X: np.ndarray) -> np.ndarray:
    """The prediction compared with the rating: the score, or P(class 1)."""
    if config.task == "classification":
        return learners.positive_probability(model, X)
    return model.predict(X)


def _cross_validate(config: TrainConfig, fold_params: list[dict], data: _Data, folds: list):
    predicted = np.empty(len(data.y))
    probability = np.full(len(data.y), np.nan)
    fold_scores = []
    for params, (train_rows, test_rows) in zip(fold_params, folds):
        model = learners.build(config.learner, config.task, params, config.seed, len(train_rows))
        pairs = None if data.pair_groups is None else data.pair_groups[train_rows]
        model = learners.fit(config.learner, model, data.X[train_rows], data.y[train_rows], pairs)
        predicted[test_rows] = model.predict(data.X[test_rows])
        if config.task == "classification":
            probability[test_rows] = learners.positive_probability(model, data.X[test_rows])
        fold = {"predicted": predicted[test_rows], "probability": probability[test_rows]}
        fold_scores.append(
            metrics.scores(config.task, *_score_arguments(config, fold, data.target[test_rows]))
        )
    return {"predicted": predicted, "probability": probability}, fold_scores


def _score_arguments(config: TrainConfig, oof: dict, target: np.ndarray) -> tuple:
    """Positional arguments of ``metrics.scores`` for these predictions."""
    if config.task == "regression":
        return target, oof["predicted"]
    labels = (target >= config.threshold).astype(int)
    return labels, oof["predicted"].astype(int), oof["probability"], target


def _evaluation(
    config: TrainConfig, data: _Data, oof: dict, folds: list, cluster_role: str
) -> dict[str, Any]:
    score = oof["probability"] if config.task == "classification" else oof["predicted"]
    report: dict[str, Any] = {
        "rows": len(data.y),
        "target_mean": float(data.target.mean()),
        "validation": "leave-one-group-out" if config.cv == "logo" else f"{config.cv}-fold",
        "folds": len(folds),
        "group_by": config.group_by,
        "groups": None if data.groups is None else len(np.unique(data.groups)),
        "pair_by": config.pair_by if data.pair_groups is not None else None,
        "ci_resamples": {"group_by": config.group_by, "pair_by": config.pair_by}.get(
            cluster_role, "row"
        ),
        "constant_yardstick": evaluation.constant_yardstick(
            config.task, data.target, data.y, folds
        ),
    }
    if config.task == "classification":
        report["majority_class"] = int(np.bincount(data.y.astype(int)).argmax())
    if data.pair_groups is not None:
        report["pairwise"] = evaluation.pairwise_with_ci(
            data.target, score, data.pair_groups, seed=config.seed
        )
    report["within"] = evaluation.within_columns(
        data.target, score, {config.group_by: data.groups, config.within: data.within}
    )
    return report


def _oof_frame(
    data: pd.DataFrame, target: np.ndarray, oof: dict, folds: list, groups: np.ndarray | None
) -> pd.DataFrame:
    frame = pd.DataFrame({"id": data["id"].to_numpy() if "id" in data else np.arange(len(data))})
    frame["target"] = target
    frame["predicted"] = oof["predicted"]
    if not np.isnan(oof["probability"]).all():
        frame["probability"] = oof["probability"]
    fold_of = np.empty(len(data), dtype=int)
    for number, (_, test_rows) in enumerate(folds):
        fold_of[test_rows] = number
    frame["fold"] = fold_of
    if groups is not None:
        frame["group"] = groups
    return frame
