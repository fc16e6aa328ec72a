"""Agreement of one scorer with human ratings: rank and linear correlations with bootstrap
intervals, error where the scales match, correlation inside each group and between group
means, and pairwise accuracy within pair groups (e.g. prompts).

Conventions:

- Every interval is a percentile bootstrap. With ``clusters`` (one label per row, e.g. the
  prompt) whole clusters are resampled, since rows of one cluster are not independent.
  The same ``seed`` draws the same resamples for every scorer, so the intervals of two
  scorers evaluated on the same rows are paired.
- The pairwise accuracy's interval always resamples the pair groups themselves: a pair
  lives inside one group, so a group drawn k times counts its pairs k times.
- Values are NaN (never an error) when undefined: a constant side, fewer than three rows,
  no pair that people rated differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qualitylab.learn.metrics import (
    bootstrap_ci,
    group_correlations,
    pairwise_accuracy,
    percentile_interval,
    resample_weights,
    scores,
    system_correlation,
)

CORRELATIONS = ("spearman", "pearson", "kendall")


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its bootstrap interval."""

    value: float
    low: float = math.nan
    high: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """``{"value": v, "ci": [low, high]}``."""
        return {"value": self.value, "ci": [self.low, self.high]}


@dataclass
class Agreement:
    """How one scorer agrees with the ratings on ``n`` rows.

    ``metrics`` holds ``spearman``, ``pearson``, ``kendall``, and when defined
    ``pairwise_accuracy`` (over ``pairs`` pairs), ``mae`` and ``accuracy``. ``within``
    maps each group to its row count and Spearman; ``system`` holds the Spearman and
    Pearson correlations of the group means and the number of groups.
    """

    n: int
    metrics: dict[str, Estimate]
    pairs: int = 0
    within: dict[str, dict[str, Any]] = field(default_factory=dict)
    system: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The agreement as plain data (NaN kept; see ``to_json_ready``)."""
        return {
            "n": self.n,
            "metrics": {name: estimate.to_dict() for name, estimate in self.metrics.items()},
            "pairs": self.pairs,
            "within": self.within,
            "system": self.system,
        }


@dataclass(frozen=True)
class Resampling:
    """How the intervals are drawn: number of resamples, confidence level and seed."""

    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0

    @property
    def tail(self) -> float:
        """The percentile cut at each end of an interval."""
        return 100 * (1 - self.confidence) / 2


def agreement(
    truth: Any,
    predicted: Any,
    *,
    clusters: Any = None,
    groups: Any = None,
    pair_groups: Any = None,
    on_scale: bool = False,
    threshold: float | None = None,
    cut: float | None = None,
    resampling: Resampling = Resampling(),
) -> Agreement:
    """The agreement of ``predicted`` with ``truth`` (equal-length 1-D, no NaN).

    ``clusters`` are resampled whole for the intervals; ``groups`` (e.g. the generator)
    give the within-group and system-level correlations; ``pair_groups`` (e.g. the
    prompt) the pairwise accuracy. ``on_scale`` (predictions on the rating scale) adds
    the MAE. ``threshold`` with ``cut`` adds the accuracy of ``predicted >= cut`` for
    the label ``truth >= threshold``.
    """
    truth = np.asarray(truth, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    point = scores("regression", truth, predicted)
    intervals = _bootstrap("regression", (truth, predicted), clusters, resampling)
    names = [*CORRELATIONS, *(["mae"] if on_scale else [])]
    metrics = {name: Estimate(point[name], *intervals[name]) for name in names}
    pairs = 0
    if pair_groups is not None:
        value, pairs = pairwise_accuracy(truth, predicted, pair_groups)
        low, high = pairwise_interval(truth, predicted, pair_groups, resampling)
        metrics["pairwise_accuracy"] = Estimate(value, low, high)
    if threshold is not None and cut is not None:
        labels, predicted_labels = truth >= threshold, predicted >= cut
        arguments = (labels, predicted_labels, predicted, truth)
        accuracy = scores("classification", *arguments)["accuracy"]
        low, high = _bootstrap("classification", arguments, clusters, resampling)["accuracy"]
        metrics["accuracy"] = Estimate(accuracy, low, high)
    result = Agreement(len(truth), metrics, pairs)
    if groups is not None:
        result.within = within_groups(truth, predicted, groups, clusters, resampling)
        labels = np.asarray(groups).astype(str)
        result.system = {
            "spearman": system_correlation(truth, predicted, labels, "spearman"),
            "pearson": system_correlation(truth, predicted, labels, "pearson"),
            "groups": len(set(labels)),
        }
    return result


def within_groups(
    truth: np.ndarray,
    predicted: np.ndarray,
    groups: Any,
    clusters: Any,
    resampling: Resampling,
) -> dict[str, dict[str, Any]]:
    """Per group: its row count and its Spearman correlation with an interval from
    resampling the group's own clusters (or rows)."""
    labels = np.asarray(groups).astype(str)
    points = group_correlations(truth, predicted, labels, "spearman")
    result = {}
    for label, value in points.items():
        rows = labels == label
        inside = None if clusters is None else np.asarray(clusters)[rows]
        inputs = (truth[rows], predicted[rows])
        low, high = _bootstrap("regression", inputs, inside, resampling)["spearman"]
        result[label] = {"n": int(rows.sum()), "spearman": Estimate(value, low, high).to_dict()}
    return result


def pairwise_interval(
    truth: Any, predicted: Any, pair_groups: Any, resampling: Resampling = Resampling()
) -> tuple[float, float]:
    """Bootstrap interval of the within-group pairwise accuracy, resampling whole groups."""
    truth = np.asarray(truth, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    labels = np.asarray(pair_groups).astype(str)
    names = np.unique(labels)
    agree, pairs = np.zeros(len(names)), np.zeros(len(names))
    for position, name in enumerate(names):
        rows = labels == name
        value, count = pairwise_accuracy(truth[rows], predicted[rows], labels[rows])
        if count:
            agree[position], pairs[position] = value * count, count
    rng = np.random.default_rng(resampling.seed)
    weights = resample_weights(len(names), None, resampling.n_resamples, rng)
    drawn_pairs = weights @ pairs
    values = np.full(len(weights), np.nan)
    np.divide(weights @ agree, drawn_pairs, out=values, where=drawn_pairs > 0)
    return percentile_interval(values, resampling.tail)


def human_ceiling(
    ratings: dict[str, Any],
    *,
    clusters: Any = None,
    groups: Any = None,
    pair_groups: Any = None,
    resampling: Resampling = Resampling(),
) -> dict[str, Agreement]:
    """Each rater against the mean of the other raters (at least two raters; rows where
    the rater or every other rater is missing are left out)."""
    if len(ratings) < 2:
        raise ValueError("the human ceiling needs at least two rater columns")
    table = {name: np.asarray(values, dtype=float) for name, values in ratings.items()}
    result = {}
    for name, rater in table.items():
        others = np.vstack([values for other, values in table.items() if other != name])
        counted = (~np.isnan(others)).sum(axis=0)
        others_mean = np.divide(
            np.nansum(others, axis=0), counted, out=np.full(len(rater), np.nan), where=counted > 0
        )
        keep = ~np.isnan(rater) & ~np.isnan(others_mean)
        result[name] = agreement(
            others_mean[keep],
            rater[keep],
            clusters=_subset(clusters, keep),
            groups=_subset(groups, keep),
            pair_groups=_subset(pair_groups, keep),
            on_scale=True,
            resampling=resampling,
        )
    return result


def _subset(labels: Any, keep: np.ndarray) -> np.ndarray | None:
    return None if labels is None else np.asarray(labels)[keep]


def _bootstrap(
    task: str, inputs: tuple, clusters: Any, resampling: Resampling
) -> dict[str, tuple[float, float]]:
    """``bootstrap_ci`` of ``task`` on the metric ``inputs``."""
    return bootstrap_ci(
        task,
        *inputs,
        groups=clusters,
        n_resamples=resampling.n_resamples,
        confidence=resampling.confidence,
        seed=resampling.seed,
    )
