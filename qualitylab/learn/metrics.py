"""Scores of predictions against human ratings, their bootstrap intervals and CV summaries.

Regression predicts the rating itself; classification predicts a 0/1 label cut from it,
with a probability of class 1 that is also correlated with the continuous rating.

Conventions:

- Correlations (Spearman, Pearson, Kendall tau-b) are NaN, without warnings, when either
  side is constant or there are fewer than three values.
- ``bootstrap_ci`` gives percentile intervals. With ``groups`` it is a cluster bootstrap:
  whole groups (e.g. every video of one prompt) are drawn with replacement, because rows
  of one group are not independent and a row-wise bootstrap would make the intervals too
  narrow. A resample is represented by how many times each row was drawn, which gives
  every metric exactly as on the expanded resample, and lets all resamples be scored at
  once with matrix products.
- ``summarize`` reports the spread of fold scores as the population standard deviation
  (``ddof=0``), as ``np.std`` and scikit-learn's ``cv_results_["std_test_score"]`` do.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    roc_auc_score,
    root_mean_squared_error,
)

REGRESSION_METRICS = ("mae", "rmse", "spearman", "pearson", "kendall")
CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc", "spearman", "pearson", "kendall")
METRICS = {"regression": REGRESSION_METRICS, "classification": CLASSIFICATION_METRICS}
PRIMARY = {"regression": "mae", "classification": "accuracy"}
HIGHER_IS_BETTER = {
    "mae": False,
    "rmse": False,
    "accuracy": True,
    "f1": True,
    "roc_auc": True,
    "spearman": True,
    "pearson": True,
    "kendall": True,
}

_MIN_CORRELATION_SIZE = 3
_SCIPY_CORRELATIONS: dict[str, Callable[..., Any]] = {
    "spearman": stats.spearmanr,
    "pearson": stats.pearsonr,
    "kendall": stats.kendalltau,
}


def scores(
    task: str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    target: Any = None,
) -> dict[str, float]:
    """Every metric of ``task`` ("regression" or "classification") for one set of predictions.

    Regression: ``y_true`` and ``y_pred`` are ratings; the correlations are between them.
    Classification: ``y_true`` and ``y_pred`` are 0/1 labels and ``y_score`` the predicted
    probability of class 1; the correlations are between ``y_score`` and ``target``, the
    continuous rating the labels were cut from, or ``y_true`` when ``target`` is None.
    ``roc_auc`` is NaN when ``y_true`` holds only one class.
    """
    y_true, y_pred, x, y = _prepare(task, y_true, y_pred, y_score, target)
    if task == "regression":
        result = {
            "mae": float(mean_absolute_error(y_true, y_pred)),
            "rmse": float(root_mean_squared_error(y_true, y_pred)),
        }
    else:
        one_class = np.unique(y_true).size < 2
        result = {
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "f1": float(f1_score(y_true, y_pred, pos_label=1, zero_division=0)),
            "roc_auc": math.nan if one_class else float(roc_auc_score(y_true, x)),
        }
    return result | {name: _correlation(name, x, y) for name in _SCIPY_CORRELATIONS}


def bootstrap_ci(
    task: str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    target: Any = None,
    groups: Any = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap confidence intervals for every metric of ``scores``.

    Meant for out-of-fold predictions. Without ``groups`` rows are resampled with
    replacement; with ``groups`` (one label per row) whole groups are, so that all rows
    of a drawn group come along (cluster bootstrap). Resamples whose metric is undefined
    (NaN, e.g. a constant resample) are left out; a metric undefined on every resample
    gets ``(nan, nan)``. The same ``seed`` gives the same intervals.
    """
    y_true, y_pred, x, y = _prepare(task, y_true, y_pred, y_score, target)
    rng = np.random.default_rng(seed)
    weights = resample_weights(len(y_true), groups, n_resamples, rng)
    replicates = _weighted_scores(task, weights, y_true, y_pred, x, y)
    tail = 100 * (1 - confidence) / 2
    return {name: percentile_interval(values, tail) for name, values in replicates.items()}


def summarize(
    fold_scores: Sequence[Mapping[str, float]],
    oof: Mapping[str, float],
    ci: Mapping[str, tuple[float, float]],
) -> dict[str, dict[str, Any]]:
    """The metrics.json structure: per metric its fold values, their mean and std, the
    out-of-fold value and its bootstrap interval.

    ``{"spearman": {"folds": [...], "mean": m, "std": s, "oof": v, "ci": [low, high]}, ...}``
    for every metric of ``oof``. Mean and std ignore NaN folds; std is the population
    standard deviation (``ddof=0``). NaN stays ``float("nan")``; see ``to_json_ready``.
    """
    summary = {}
    for name, value in oof.items():
        folds = [float(fold.get(name, math.nan)) for fold in fold_scores]
        finite = np.array([v for v in folds if not math.isnan(v)])
        low, high = ci.get(name, (math.nan, math.nan))
        summary[name] = {
            "folds": folds,
            "mean": float(finite.mean()) if finite.size else math.nan,
            "std": float(finite.std(ddof=0)) if finite.size else math.nan,
            "oof": float(value),
            "ci": [float(low), float(high)],
        }
    return summary


def to_json_ready(obj: Any) -> Any:
    """``obj`` with NaN and infinite floats replaced by None, tuples and arrays by lists
    and numpy scalars by Python ones, recursively, for ``json.dumps(allow_nan=False)``."""
    if isinstance(obj, Mapping):
        return {key: to_json_ready(value) for key, value in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_json_ready(obj.tolist())
    if isinstance(obj, list | tuple):
        return [to_json_ready(value) for value in obj]
    if isinstance(obj, np.generic):
        return to_json_ready(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def format_mean_std(mean: float, std: float, digits: int = 3) -> str:
    """A table cell such as ``"0.412 ± 0.051"``; ``"–"`` when either value is NaN."""
    if math.isnan(mean) or math.isnan(std):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _prepare(
    task: str, y_true: Any, y_pred: Any, y_score: Any, target: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked arrays ``(y_true, y_pred, x, y)``: x and y are the sides of the correlations."""
    if task not in METRICS:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(METRICS)}")
    if task == "regression":
        y_true = np.asarray(y_true, dtype=float)
        y_pred = np.asarray(y_pred, dtype=float)
        arrays = (y_true, y_pred, y_pred, y_true)
    else:
        if y_score is None:
            raise ValueError("classification needs y_score, the probability of class 1")
        y_true = np.asarray(y_true).astype(int)
        y_pred = np.asarray(y_pred).astype(int)
        y = y_true if target is None else np.asarray(target, dtype=float)
        arrays = (y_true, y_pred, np.asarray(y_score, dtype=float), y)
    if any(a.ndim != 1 or a.shape != y_true.shape for a in arrays):
        raise ValueError("all inputs must be one-dimensional and of the same length")
    return arrays


def _correlation(name: str, x: np.ndarray, y: np.ndarray) -> float:
    if x.size < _MIN_CORRELATION_SIZE or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        return float(_SCIPY_CORRELATIONS[name](x, y)[0])


def resample_weights(
    n_rows: int, groups: Any, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """How many times each row is drawn in each resample, shape (n_resamples, n_rows)."""
    if groups is None:
        codes = np.arange(n_rows)
    else:
        _, codes = np.unique(np.asarray(groups), return_inverse=True)
        if codes.shape != (n_rows,):
            raise ValueError("groups must hold one label per row")
    n_groups = int(codes.max()) + 1
    draws = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=n_resamples)
    return draws[:, codes].astype(float)


def _weighted_scores(
    task: str,
    weights: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every metric on every resample; row i of ``weights`` counts the draws of each row.

    Equal to ``scores`` on the rows repeated as often as they were drawn.
    """
    total = weights.sum(axis=1)
    if task == "regression":
        error = y_pred - y_true
        result = {
            "mae": weights @ np.abs(error) / total,
            "rmse": np.sqrt(weights @ error**2 / total),
        }
    else:
        result = {
            "accuracy": weights @ (y_true == y_pred) / total,
            "f1": _weighted_f1(weights, y_true == 1, y_pred == 1),
            "roc_auc": _weighted_roc_auc(weights, y_true == 1, x),
        }
    undefined = (total < _MIN_CORRELATION_SIZE) | _constant(weights, x) | _constant(weights, y)
    ranks_x, ranks_y = _weighted_ranks(weights, x), _weighted_ranks(weights, y)
    correlations = {
        "spearman": _weighted_pearson(weights, ranks_x, ranks_y),
        "pearson": _weighted_pearson(weights, x, y),
        "kendall": _weighted_kendall(weights, x, y),
    }
    return result | {name: np.where(undefined, np.nan, r) for name, r in correlations.items()}


def percentile_interval(values: np.ndarray, tail: float) -> tuple[float, float]:
    """The ``tail`` and ``100 - tail`` percentiles of the non-NaN bootstrap replicates."""
    defined = values[~np.isnan(values)]
    if not defined.size:
        return (math.nan, math.nan)
    low, high = np.percentile(defined, [tail, 100 - tail])
    return (float(low), float(high))


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is not positive."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _weighted_f1(weights: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    true_pos = weights @ (truth & predicted)
    wrong = weights @ (truth ^ predicted)
    return np.nan_to_num(_divide(2 * true_pos, 2 * true_pos + wrong), nan=0.0)


def _weighted_roc_auc(weights: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The probability that a drawn positive outscores a drawn negative, ties counting half."""
    difference = score[positive][:, None] - score[~positive][None, :]
    wins = (difference > 0) + 0.5 * (difference == 0)
    w_pos, w_neg = weights[:, positive], weights[:, ~positive]
    pairs = w_pos.sum(axis=1) * w_neg.sum(axis=1)
    return _divide(((w_pos @ wins) * w_neg).sum(axis=1), pairs)


def _constant(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    drawn = weights > 0
    highest = np.where(drawn, values, -np.inf).max(axis=1)
    lowest = np.where(drawn, values, np.inf).min(axis=1)
    return highest <= lowest


def _weighted_ranks(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Average ranks (as ``rankdata``) of each row within each resample, shape of weights."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new_value = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(new_value)
    tie_block = np.empty(values.size, dtype=int)
    tie_block[order] = np.cumsum(new_value) - 1
    block_weight = np.add.reduceat(weights[:, order], starts, axis=1)
    below = np.cumsum(block_weight, axis=1) - block_weight
    return (below + (block_weight + 1) / 2)[:, tie_block]


def _weighted_pearson(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation per resample; x and y are one row per resample or shared."""
    total = weights.sum(axis=1, keepdims=True)
    dx = x - (weights * x).sum(axis=1, keepdims=True) / total
    dy = y - (weights * y).sum(axis=1, keepdims=True) / total
    covariance = (weights * dx * dy).sum(axis=1)
    spread = np.sqrt((weights * dx**2).sum(axis=1) * (weights * dy**2).sum(axis=1))
    return np.clip(_divide(covariance, spread), -1.0, 1.0)


def _weighted_kendall(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b per resample, counting a pair of rows once per pair of draws."""
    sign_x = np.sign(x[:, None] - x[None, :])
    sign_y = np.sign(y[:, None] - y[None, :])

    def pair_sum(matrix: np.ndarray) -> np.ndarray:
        return ((weights @ matrix) * weights).sum(axis=1)

    untied = pair_sum(np.abs(sign_x)) * pair_sum(np.abs(sign_y))
    return np.clip(_divide(pair_sum(sign_x * sign_y), np.sqrt(untied)), -1.0, 1.0)


def pairwise_accuracy(truth: Any, predicted: Any, groups: Any) -> tuple[float, int]:
    """Within-group pairwise accuracy and the number of pairs it is over.

    Of the pairs of rows in one group (e.g. two videos of one prompt) that people rated
    differently, the share the prediction orders the same way; a tie in the prediction
    counts half. This is what an A/B of two model versions on one prompt set relies on.
    NaN (with 0 pairs) when no group holds two differently rated rows.
    """
    truth = np.asarray(truth, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    _, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    agree, pairs = 0.0, 0
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        if rows.size < 2:
            continue
        sign_truth = np.sign(truth[rows][:, None] - truth[rows][None, :])
        sign_pred = np.sign(predicted[rows][:, None] - predicted[rows][None, :])
        upper = np.triu(np.ones((rows.size, rows.size), dtype=bool), k=1) & (sign_truth != 0)
        pairs += int(upper.sum())
        agree += float((sign_truth[upper] == sign_pred[upper]).sum())
        agree += 0.5 * float((sign_pred[upper] == 0).sum())
    return (agree / pairs if pairs else math.nan), pairs


def group_correlations(
    truth: Any, predicted: Any, groups: Any, method: str = "spearman"
) -> dict[str, float]:
    """The correlation of ``predicted`` with ``truth`` inside each group (e.g. per
    generator), by group label; NaN for a group of fewer than three rows or a constant side."""
    truth = np.asarray(truth, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    labels = np.asarray(groups).astype(str)
    return {
        label: _correlation(method, predicted[labels == label], truth[labels == label])
        for label in sorted(set(labels))
    }


def system_correlation(truth: Any, predicted: Any, groups: Any, method: str = "spearman") -> float:
    """The correlation of the group means (system level, as VBench and EvalCrafter report
    their metrics): one point per group, e.g. per generator."""
    truth = np.asarray(truth, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    labels = np.asarray(groups).astype(str)
    names = sorted(set(labels))
    means_truth = np.array([truth[labels == name].mean() for name in names])
    means_pred = np.array([predicted[labels == name].mean() for name in names])
    return _correlation(method, means_pred, means_truth)
