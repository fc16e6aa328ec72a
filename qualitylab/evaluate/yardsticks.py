"""Yardsticks a scorer is read against, each fixed without looking at the evaluated
ratings: the constant (median) predictor, the majority class, and the best single
feature. Each is chosen on training data when there is some, otherwise out-of-fold on
the evaluated rows (chosen on the other folds, applied to the held-out one)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qualitylab.features.names import parse_column
from qualitylab.learn import cv

FOLDS = 5


@dataclass(frozen=True)
class FeatureChoice:
    """A feature, its sign (+1: higher means better) and its Spearman with the target on
    the rows it was chosen on."""

    feature: str
    sign: int
    spearman: float


def feature_columns(table: pd.DataFrame, exclude: set[str] = frozenset()) -> list[str]:
    """The numeric aggregated feature columns of ``table`` (named
    ``extractor.signal.aggregation``), per-frame values and ``exclude`` left out."""
    return [
        str(name)
        for name in table.columns
        if (parsed := parse_column(name)) is not None
        and parsed.aggregation is not None
        and name not in exclude
        and pd.api.types.is_numeric_dtype(table[name])
    ]


def best_single_feature(
    table: pd.DataFrame, target: pd.Series | np.ndarray, candidates: list[str]
) -> FeatureChoice:
    """The candidate with the largest |Spearman| with ``target`` on ``table``'s rows (the
    first by name on a tie), with the sign of that correlation; ValueError when none is
    defined (every candidate constant or missing)."""
    target = pd.Series(np.asarray(target, dtype=float), index=table.index)
    values = table[sorted(candidates)].apply(pd.to_numeric, errors="coerce")
    varying = values.columns[values.nunique() > 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        correlations = values[varying].corrwith(target, method="spearman").dropna()
    if correlations.empty:
        raise ValueError("no candidate feature varies together with the target")
    feature = correlations.abs().idxmax()
    rho = float(correlations[feature])
    return FeatureChoice(str(feature), 1 if rho >= 0 else -1, rho)


def fold_splits(
    target: np.ndarray, groups: np.ndarray | None, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds for out-of-fold yardsticks: up to five, grouped when ``groups`` is given so
    that no group (e.g. a prompt) is split; ValueError with fewer than two groups."""
    count = len(pd.unique(groups)) if groups is not None else len(target)
    n_splits = min(FOLDS, count)
    if n_splits < 2:
        raise ValueError("out-of-fold yardsticks need at least two groups of rows")
    return cv.kfold(cv.strata(target, n_splits, "regression"), n_splits, seed, groups)


def out_of_fold_feature(
    table: pd.DataFrame,
    target: np.ndarray,
    candidates: list[str],
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, list[FeatureChoice]]:
    """Per held-out fold, the best single feature chosen on the other folds, as the share
    of the other folds' values below it (ties counting half; turned round for a negative
    sign), so that pooled values are comparable across folds whatever feature each fold
    chose; and each fold's choice."""
    predicted = np.full(len(table), np.nan)
    choices = []
    for train_rows, test_rows in folds:
        train = table.iloc[train_rows]
        choice = best_single_feature(train, target[train_rows], candidates)
        reference = pd.to_numeric(train[choice.feature], errors="coerce").dropna().to_numpy()
        reference = np.sort(choice.sign * reference)
        held_out = choice.sign * pd.to_numeric(
            table[choice.feature].iloc[test_rows], errors="coerce"
        ).to_numpy(float)
        below = np.searchsorted(reference, held_out, "left")
        not_above = np.searchsorted(reference, held_out, "right")
        share = (below + not_above) / (2 * len(reference))
        predicted[test_rows] = np.where(np.isnan(held_out), np.nan, share)
        choices.append(choice)
    return predicted, choices


def out_of_fold_median(
    target: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Per held-out row, the median of the target on the other folds."""
    predicted = np.empty(len(target))
    for train_rows, test_rows in folds:
        predicted[test_rows] = np.median(target[train_rows])
    return predicted


def majority_label(labels: np.ndarray) -> bool:
    """The more frequent of the two labels (True on a tie)."""
    return bool(labels.mean() >= 0.5)


def out_of_fold_majority(
    labels: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Per held-out row, the majority label of the other folds."""
    predicted = np.empty(len(labels), dtype=bool)
    for train_rows, test_rows in folds:
        predicted[test_rows] = majority_label(labels[train_rows])
    return predicted
