"""A pairwise ranker: which of two videos of the same group (e.g. prompt) people preferred.

``within_group_pairs`` turns rows into pairs of rows of one group that were rated
differently: the difference of their features and whether the first was rated higher.
``PairwiseRanker`` fits a logistic regression without intercept on those differences (both
orders of every pair, so the classes are balanced); its score of a video is the learned
linear function ``w · x``. So that predictions are on the rating's scale, the score is then
mapped to the rating by a least-squares line over the training rows whose slope is kept
non-negative (a negative slope would reverse the learned order; it is set to 0, and every
prediction is then the mean rating). The order of the predictions is the learned order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted, validate_data


def within_group_pairs(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Feature differences ``X[i] - X[j]`` and labels ``y[i] > y[j]`` (1/0) of every pair of
    rows i < j in one group with ``y[i] != y[j]``; empty arrays when there is none."""
    _, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    first, second = [], []
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        i, j = np.triu_indices(rows.size, k=1)
        differ = y[rows[i]] != y[rows[j]]
        first.append(rows[i][differ])
        second.append(rows[j][differ])
    first = np.concatenate(first) if first else np.empty(0, dtype=int)
    second = np.concatenate(second) if second else np.empty(0, dtype=int)
    return X[first] - X[second], (y[first] > y[second]).astype(int)


def rating_line(score: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the least-squares line from a learned score to the rating,
    the slope kept non-negative (a negative one would reverse the learned order: it is set
    to 0, and every prediction is then the mean rating)."""
    spread = score.var()
    slope = max(0.0, float(np.cov(score, y, bias=True)[0, 1] / spread)) if spread > 0 else 0.0
    return slope, float(y.mean() - slope * score.mean())


class PairwiseRanker(RegressorMixin, BaseEstimator):
    """Learns a linear score from within-group comparisons (a RankSVM-like logistic model).

    ``C`` is the inverse regularisation strength of the logistic regression. ``fit`` takes
    ``groups`` (one label per row; rows are compared only within their group); without it
    every row is compared with every other. Learned: ``coef_`` and ``intercept_`` of the
    prediction ``intercept_ + X @ coef_`` (the scaled score), ``direction_`` (the unit-free
    ``w``) and ``pairs_`` (the number of pairs it was fitted on).
    """

    def __init__(self, C: float = 0.01, max_iter: int = 1000) -> None:
        self.C = C
        self.max_iter = max_iter

    def fit(self, X: Any, y: Any, groups: Any = None) -> PairwiseRanker:
        """Fit on the within-group pairs of rows; ValueError when no group holds two
        differently rated rows."""
        X, y = validate_data(self, X, y, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        groups = np.zeros(len(y)) if groups is None else np.asarray(groups)
        if groups.shape != (len(y),):
            raise ValueError("groups must hold one label per row")
        differences, labels = within_group_pairs(X, y, groups)
        if not len(labels):
            raise ValueError(
                "the pairwise learner needs at least one group with two differently rated rows"
            )
        both = np.vstack([differences, -differences])
        both_labels = np.concatenate([labels, 1 - labels])
        logistic = LogisticRegression(C=self.C, fit_intercept=False, max_iter=self.max_iter)
        self.direction_ = logistic.fit(both, both_labels).coef_[0]
        self.pairs_ = len(labels)
        slope, self.intercept_ = rating_line(X @ self.direction_, y)
        self.coef_ = slope * self.direction_
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The learned score of each row on the rating's scale."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False)
        return self.intercept_ + X @ self.coef_
