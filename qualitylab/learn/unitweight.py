"""A unit-weighted ranker: the mean of the k features that agree most with the rating.

Dawes' "improper linear models" (1979): on few rows, a sum of standardised predictors
with the right signs and equal weights predicts new cases about as well as, and often
better than, fitted regression weights, because it has almost nothing to overfit.
``UnitWeightedRanker`` picks the ``k`` columns whose Spearman correlation with the rating
is strongest on the training rows, gives each the sign of its correlation and weight
``1 / k``, and maps that score to the rating's scale by the non-negative least-squares
line of :func:`qualitylab.learn.pairwise.rating_line`. It expects columns already on one
scale (the pipeline rank-normalises them first). A video generator unseen in training
shifts a few features a lot; averaging many weakly weighted features dilutes such shifts,
which is why it holds up when scoring new generators.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from qualitylab.learn.pairwise import rating_line


def spearman_per_column(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's correlation of each column of ``X`` with ``y`` (0 for a constant one)."""
    ranks = rankdata(X, axis=0)
    ranks -= ranks.mean(axis=0)
    target = rankdata(y)
    target -= target.mean()
    norms = np.sqrt((ranks**2).sum(axis=0) * (target**2).sum())
    products = ranks.T @ target
    return np.divide(products, norms, out=np.zeros_like(products), where=norms > 0)


class UnitWeightedRanker(RegressorMixin, BaseEstimator):
    """Equal weights on the ``k`` columns most correlated with the rating (Spearman),
    signed by that correlation. Learned: ``selected_`` (column indices, strongest first),
    ``correlations_`` (every column's training Spearman), ``coef_`` and ``intercept_`` of
    the prediction ``intercept_ + X @ coef_``."""

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def fit(self, X: Any, y: Any) -> UnitWeightedRanker:
        """Choose the columns and their signs, and scale the score to the rating."""
        X, y = validate_data(self, X, y, y_numeric=True)
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        y = np.asarray(y, dtype=np.float64)
        self.correlations_ = spearman_per_column(X, y)
        order = np.argsort(-np.abs(self.correlations_), kind="stable")
        self.selected_ = order[: min(self.k, X.shape[1])]
        direction = np.zeros(X.shape[1])
        direction[self.selected_] = np.sign(self.correlations_[self.selected_]) / len(
            self.selected_
        )
        slope, self.intercept_ = rating_line(X @ direction, y)
        self.coef_ = slope * direction
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The score of each row on the rating's scale."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False)
        return self.intercept_ + X @ self.coef_
