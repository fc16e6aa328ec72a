"""The Random Forest and its Optuna search: tuned on an 80/20 hold-out split.

The model is a pipeline of a median imputer and a Random Forest. NaN policy: a feature
that is NaN in every training row is dropped before training (and listed); any other NaN
is replaced by that feature's median over the rows the model is fitted on, so evaluation
folds never see statistics of their own rows.

Pruning: a trial's forest is grown in steps (10, 20, 40, 80 trees, then its full size)
with scikit-learn's ``warm_start``, which gives exactly the forest a single fit would (each
tree draws the same seed), and the hold-out score after each step is reported to Optuna.
Its ``PercentilePruner`` stops a trial whose score at a step is outside the best third of
the earlier trials' scores at that step (after 5 trials). Pruned trials count towards the
trial budget, as in Optuna; the best parameters come from the completed ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import sklearn
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, mean_absolute_error
from sklearn.pipeline import Pipeline

# Shares of the features each split considers. Full-width splits (1.0) cost up to 10x more
# on the wide feature sets of the grid and rarely win on a few hundred rows.
MAX_FEATURES = ("sqrt", "log2", 0.1, 0.3)


def suggest_params(trial: optuna.Trial) -> dict[str, Any]:
    """The Random Forest settings Optuna searches over.

    Up to 120 trees: on the few hundred rated videos of a study more trees change the
    predictions little and cost time in every trial.
    """
    return {
        "n_estimators": trial.suggest_int("n_estimators", 20, 120, step=10),
        "max_depth": trial.suggest_int("max_depth", 2, 32, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 10),
        "max_features": trial.suggest_categorical("max_features", MAX_FEATURES),
    }


def make_model(task: str, params: dict[str, Any], seed: int) -> Pipeline:
    """An unfitted median-imputer + Random Forest pipeline for ``task``."""
    forest = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("forest", forest(**params, random_state=seed, n_jobs=1)),
        ]
    )


GROWTH_STEPS = (10, 20, 40, 80)
PRUNE_AFTER_TRIALS = 5
# A trial goes on only while its score is among the best third of the earlier trials'.
PRUNE_PERCENTILE = 100 / 3


def holdout_score(
    task: str,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    split,
    seed: int,
    report: Callable[[float, int], None] | None = None,
) -> float:
    """MAE (regression) or accuracy (classification) of a model fitted on the split's
    training rows and scored on its test rows.

    The forest is grown through ``GROWTH_STEPS``; ``report(score, trees)`` hears the score
    at each step below the full size (and may raise to stop).
    """
    train, test = split
    model = make_model(task, params, seed)
    # The pipeline's steps, run by hand so that the imputer is fitted once, not per step
    # (in float32, which the forest computes in anyway).
    imputer, forest = model.named_steps["impute"], model.named_steps["forest"]
    fitted_rows = imputer.fit_transform(X[train]).astype(np.float32)
    scored_rows = imputer.transform(X[test]).astype(np.float32)
    forest.set_params(warm_start=True)
    trees = params["n_estimators"]
    for size in [step for step in GROWTH_STEPS if step < trees] + [trees]:
        # The settings come from the search space, so scikit-learn's check of them on
        # every fit is skipped.
        with sklearn.config_context(skip_parameter_validation=True):
            forest.set_params(n_estimators=size).fit(fitted_rows, y[train])
            predicted = forest.predict(scored_rows)
        if task == "classification":
            score = float(accuracy_score(y[test], predicted))
        else:
            score = float(mean_absolute_error(y[test], predicted))
        if report is not None and size < trees:
            report(score, size)
    return score


def tune(
    task: str,
    X: np.ndarray,
    y: np.ndarray,
    split,
    *,
    trials: int,
    seed: int,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str = "qualitylab",
) -> optuna.Study:
    """Run Optuna's TPE search until the study holds ``trials`` finished (completed or
    pruned) trials.

    With ``storage`` (an Optuna storage or URL such as ``sqlite:///DIR/optuna.db``) the
    study persists and a re-run continues it instead of starting over. The search itself
    runs in memory and its finished trials are written to ``storage`` when it ends, also
    when it is interrupted: a database round trip per trial would cost more than fitting
    a small forest (measured with SQLite: about 30 ms per trial).
    """
    direction = "maximize" if task == "classification" else "minimize"
    study = optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.PercentilePruner(
            PRUNE_PERCENTILE, n_startup_trials=PRUNE_AFTER_TRIALS
        ),
    )
    saved = _saved_trials(storage, study_name)
    study.add_trials(saved)
    remaining = trials - len(saved)
    if remaining <= 0:
        return study
    try:
        study.optimize(
            lambda trial: holdout_score(
                task, suggest_params(trial), X, y, split, seed, _pruning_report(trial)
            ),
            n_trials=remaining,
        )
    finally:
        if storage is not None:
            persisted = optuna.create_study(
                study_name=study_name, storage=storage, load_if_exists=True, direction=direction
            )
            persisted.add_trials(_finished(study.trials)[len(saved) :])
    return study


def _pruning_report(trial: optuna.Trial) -> Callable[[float, int], None]:
    def report(score: float, trees: int) -> None:
        trial.report(score, trees)
        if trial.should_prune():
            raise optuna.TrialPruned()

    return report


def _saved_trials(
    storage: str | optuna.storages.BaseStorage | None, study_name: str
) -> list[optuna.trial.FrozenTrial]:
    """The finished trials of ``study_name`` in ``storage``; none when it has no such study."""
    if storage is None:
        return []
    try:
        return _finished(optuna.load_study(study_name=study_name, storage=storage).trials)
    except KeyError:
        return []


def _finished(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The completed and the pruned trials: those that count towards the budget."""
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [t for t in trials if t.state in done]
