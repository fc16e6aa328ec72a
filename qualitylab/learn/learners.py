"""The learners a predictor can be trained with, as scikit-learn pipelines.

- ``rf``: median imputer + Random Forest (the thesis' model; Optuna searches its settings,
  see :mod:`qualitylab.learn.tune`).
- ``hgb``: median imputer + scikit-learn's HistGradientBoosting, with shallow trees, large
  leaves and L2 regularisation by default (robust on a few hundred rows).
- ``ridge``: median imputer + rank normalisation (QuantileTransformer to a normal
  distribution, fitted on the training rows) + Ridge (regression) or L2 logistic
  regression with ``C = 1 / alpha`` (classification). Rank normalisation makes a feature's
  units, outliers and skew irrelevant; only the order of videos on it counts.
- ``pairwise``: the same rank normalisation + :class:`PairwiseRanker`, which learns from
  which of two videos of the same group (``--pair-by``, default prompt) people preferred.
  Regression only.
- ``vote``: the same rank normalisation + :class:`UnitWeightedRanker`, the equally
  weighted, signed mean of the ``k`` features whose Spearman correlation with the rating
  is strongest on the training rows (an "improper linear model": almost nothing to
  overfit, so it holds up on generators it never saw). Regression only.

``DEFAULTS`` are the robust settings used when nothing is tuned; ``GRIDS`` the candidates
a nested grouped inner cross-validation chooses from (one setting: regularisation strength,
strongest first, or the vote's number of features, fewest first).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from qualitylab.learn.pairwise import PairwiseRanker
from qualitylab.learn.tune import make_model
from qualitylab.learn.unitweight import UnitWeightedRanker

LearnerName = Literal["rf", "ridge", "hgb", "pairwise", "vote"]
LEARNERS: tuple[str, ...] = ("rf", "ridge", "hgb", "pairwise", "vote")
# Learners that order videos and map the order to the rating: no classifier form.
RANKING_LEARNERS = ("pairwise", "vote")
TREE_LEARNERS = ("rf", "hgb")
MAX_QUANTILES = 100

DEFAULTS: dict[str, dict[str, Any]] = {
    "rf": {"n_estimators": 200, "max_depth": None, "min_samples_leaf": 3, "max_features": 0.3},
    "hgb": {
        "learning_rate": 0.1,
        "max_iter": 100,
        "max_leaf_nodes": 8,
        "min_samples_leaf": 10,
        "l2_regularization": 1.0,
    },
    "ridge": {"alpha": 100.0},
    "pairwise": {"C": 0.01},
    "vote": {"k": 10},
}
GRIDS: dict[str, list[dict[str, Any]]] = {
    "ridge": [{"alpha": alpha} for alpha in (3000.0, 1000.0, 300.0, 100.0, 30.0, 10.0, 3.0, 1.0)],
    "pairwise": [{"C": c} for c in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)],
    "vote": [{"k": k} for k in (3, 5, 10, 20, 40)],
}


def check_learner(learner: str, task: str) -> None:
    """ValueError for an unknown learner or one that cannot learn ``task``."""
    if learner not in LEARNERS:
        raise ValueError(f"unknown learner {learner!r}; expected one of {list(LEARNERS)}")
    if learner in RANKING_LEARNERS and task != "regression":
        raise ValueError(
            f"the {learner} learner learns an order of videos; use it with --task regression"
        )


def build(learner: str, task: str, params: dict[str, Any], seed: int, rows: int) -> Pipeline:
    """An unfitted pipeline of ``learner`` for ``task`` with ``params``, to be fitted on
    ``rows`` rows (which bounds the rank normalisation's quantiles)."""
    check_learner(learner, task)
    if learner == "rf":
        return make_model(task, params, seed)
    impute = ("impute", SimpleImputer(strategy="median", keep_empty_features=True))
    if learner == "hgb":
        boosting = (
            HistGradientBoostingClassifier
            if task == "classification"
            else HistGradientBoostingRegressor
        )
        return Pipeline([impute, ("boosting", boosting(**params, random_state=seed))])
    rank = (
        "rank",
        QuantileTransformer(
            n_quantiles=max(2, min(MAX_QUANTILES, rows)),
            output_distribution="normal",
            random_state=seed,
        ),
    )
    if learner == "pairwise":
        return Pipeline([impute, rank, ("ranker", PairwiseRanker(**params))])
    if learner == "vote":
        return Pipeline([impute, rank, ("ranker", UnitWeightedRanker(**params))])
    linear = LogisticRegression(max_iter=1000) if task == "classification" else Ridge()
    linear.set_params(**final_step_params(learner, task, params))
    return Pipeline([impute, rank, ("linear", linear)])


def final_step_params(learner: str, task: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as the pipeline's final estimator names them (a classifying ridge's
    ``alpha`` is its logistic regression's ``C = 1 / alpha``)."""
    if learner == "ridge" and task == "classification":
        return {"C": 1.0 / params["alpha"]}
    return dict(params)


def fit(
    learner: str,
    model: Pipeline,
    X: np.ndarray,
    y: np.ndarray,
    pair_groups: np.ndarray | None,
) -> Pipeline:
    """Fit ``model`` (built for ``learner``); the pairwise learner compares rows only
    within their ``pair_groups``."""
    if learner == "pairwise":
        return model.fit(X, y, ranker__groups=pair_groups)
    return model.fit(X, y)


def positive_probability(model: Pipeline, X: np.ndarray) -> np.ndarray:
    """A fitted classifier's probability of class 1 per row (0 when it never saw class 1)."""
    classes = list(model.classes_)
    if 1 not in classes:
        return np.zeros(len(X))
    return model.predict_proba(X)[:, classes.index(1)]
