"""Splits: an 80/20 hold-out for tuning and K folds for evaluation, stratified on quantile
bins of the target (or on the class label), and grouped when a group column is given so
that no group (e.g. a prompt) is split across train and test; and leave-one-group-out
folds (e.g. one generator held out at a time)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

MAX_BINS = 5

Split = tuple[np.ndarray, np.ndarray]


def strata(y: np.ndarray, n_splits: int, task: str) -> np.ndarray:
    """The labels folds are stratified on: the class for classification, otherwise
    quantile bins of the target (at most 5, fewer when a bin could not fill every fold)."""
    if task == "classification":
        return np.asarray(y, dtype=int)
    n_bins = max(1, min(MAX_BINS, len(y) // n_splits))
    return pd.qcut(pd.Series(y).rank(method="first"), n_bins, labels=False).to_numpy()


def kfold(
    labels: np.ndarray, n_splits: int, seed: int, groups: np.ndarray | None = None
) -> list[Split]:
    """``n_splits`` (train, test) index pairs stratified on ``labels``, grouped when
    ``groups`` is given; ValueError when there are fewer rows or groups than folds."""
    if groups is None:
        if len(labels) < n_splits:
            raise ValueError(f"{n_splits} folds need at least {n_splits} rows, got {len(labels)}")
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(labels)), _stratifiable(labels, n_splits)))
    n_groups = len(pd.unique(groups))
    if n_groups < n_splits:
        raise ValueError(
            f"{n_splits} grouped folds need at least {n_splits} groups, got {n_groups}"
        )
    splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels, groups))


def holdout(labels: np.ndarray, seed: int, groups: np.ndarray | None = None) -> Split:
    """An 80/20 (train, test) split stratified on ``labels``: the first of five folds
    (with fewer than five groups, the first of as many folds as there are groups)."""
    n_splits = 5 if groups is None else max(2, min(5, len(pd.unique(groups))))
    return kfold(labels, n_splits, seed, groups)[0]


def logo(groups: np.ndarray) -> list[Split]:
    """One (train, test) pair per group, the group held out, in sorted group order;
    ValueError with fewer than two groups."""
    labels = np.asarray(groups).astype(str)
    names = np.unique(labels)
    if names.size < 2:
        raise ValueError(f"leave-one-group-out needs at least 2 groups, got {names.size}")
    return [(np.flatnonzero(labels != name), np.flatnonzero(labels == name)) for name in names]


def _stratifiable(labels: np.ndarray, n_splits: int) -> np.ndarray:
    """``labels``, or all zeros when a stratum is smaller than the number of folds."""
    counts = pd.Series(labels).value_counts()
    return labels if counts.min() >= n_splits else np.zeros(len(labels), dtype=int)
