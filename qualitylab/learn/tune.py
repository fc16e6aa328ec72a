"""The Random Forest and its Optuna search: tuned on an 80/20 hold-out split.

The model is a pipeline of a median imputer and a Random Forest. NaN policy: a feature
that is NaN in every training row is dropped before training (and listed); any other NaN
is replaced by that feature's median over the rows the model is fitted on, so evaluation
folds never see statistics of their own rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
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


def holdout_score(
    task: str, params: dict[str, Any], X: np.ndarray, y: np.ndarray, split, seed: int
) -> float:
    """MAE (regression) or accuracy (classification) of a model fitted on the split's
    training rows and scored on its test rows."""
    train, test = split
    model = make_model(task, params, seed).fit(X[train], y[train])
    predicted = model.predict(X[test])
    if task == "classification":
        return float(accuracy_score(y[test], predicted))
    return float(mean_absolute_error(y[test], predicted))


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
    """Run Optuna's TPE search until the study holds ``trials`` finished trials.

    With ``storage`` (an Optuna storage or URL such as ``sqlite:///DIR/optuna.db``) the
    study persists and a re-run continues it instead of starting over.
    """
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        load_if_exists=True,
        direction="maximize" if task == "classification" else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    finished = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    remaining = trials - finished
    if remaining > 0:
        study.optimize(
            lambda trial: holdout_score(task, suggest_params(trial), X, y, split, seed),
            n_trials=remaining,
        )
    return study
