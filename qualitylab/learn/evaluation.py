"""How out-of-fold (or held-out) predictions agree with people beyond one correlation:
within-group pairwise accuracy with a cluster-bootstrap interval, the correlation inside
each group (e.g. per held-out generator), the system-level correlation of group means,
and the constant-predictor yardstick.

The within-group correlations are reported for the CV's ``group_by`` column and for an
extra ``within`` column (e.g. the generator while the folds are grouped by prompt: a
predictor that only tells generators apart has a high overall but a near-zero
within-generator correlation).

Conventions: pairwise accuracy is over pairs of rows of one pair group (e.g. prompt)
that people rated differently (see :func:`qualitylab.learn.metrics.pairwise_accuracy`);
its interval resamples whole pair groups. The "mean" of the within-group correlations is
their plain mean over groups where it is defined. The constant yardstick predicts, for
each fold's held-out rows, the mean target of that fold's training rows (the majority
class for classification): any useful predictor must beat its MAE (or accuracy); its
correlations are undefined and its pairwise accuracy is 0.5 (every pair a tie).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qualitylab.learn import metrics

MIN_CLUSTERS = 10
GROUPS_LISTED = 10


def pairwise_with_ci(
    truth: np.ndarray,
    predicted: np.ndarray,
    groups: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Within-group pairwise accuracy, its pair count, group count and percentile
    cluster-bootstrap interval (whole groups resampled)."""
    labels = np.asarray(groups).astype(str)
    names = np.unique(labels)
    counts = [
        metrics.pairwise_accuracy(
            truth[labels == name], predicted[labels == name], labels[labels == name]
        )
        for name in names
    ]
    pairs = np.array([n for _, n in counts], dtype=float)
    agree = np.array([0.0 if n == 0 else value * n for value, n in counts])
    value, total = metrics.pairwise_accuracy(truth, predicted, labels)
    rng = np.random.default_rng(seed)
    weights = metrics.resample_weights(len(names), None, n_resamples, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = (weights @ agree) / (weights @ pairs)
    tail = 100 * (1 - confidence) / 2
    low, high = metrics.percentile_interval(replicates, tail)
    return {"value": value, "pairs": total, "groups": int(names.size), "ci": [low, high]}


def within_groups(truth: np.ndarray, predicted: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    """Spearman inside each group, their mean, and the system-level Spearman of group means
    (NaN with fewer than three groups)."""
    per_group = metrics.group_correlations(truth, predicted, groups)
    defined = [v for v in per_group.values() if not math.isnan(v)]
    return {
        "spearman": per_group,
        "mean": float(np.mean(defined)) if defined else math.nan,
        "system_spearman": metrics.system_correlation(truth, predicted, groups),
    }


def within_columns(
    truth: np.ndarray, predicted: np.ndarray, columns: dict[str | None, np.ndarray | None]
) -> dict[str, dict[str, Any]]:
    """``within_groups`` for each named grouping of the rows (unnamed or absent ones
    skipped), by column name."""
    return {
        name: within_groups(truth, predicted, groups)
        for name, groups in columns.items()
        if name is not None and groups is not None
    }


def constant_yardstick(
    task: str, target: np.ndarray, labels: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """The constant predictor's out-of-fold MAE and RMSE (regression) or accuracy
    (classification) on the same folds."""
    predicted = np.empty(len(labels), dtype=float)
    for train_rows, test_rows in folds:
        if task == "classification":
            predicted[test_rows] = np.bincount(labels[train_rows].astype(int)).argmax()
        else:
            predicted[test_rows] = labels[train_rows].mean()
    if task == "classification":
        return {"accuracy": float((predicted == labels).mean()), "pairwise_accuracy": 0.5}
    error = predicted - target
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "pairwise_accuracy": 0.5,
    }


def bootstrap_clusters(
    groups: np.ndarray | None, pair_groups: np.ndarray | None
) -> tuple[np.ndarray | None, str]:
    """The clusters a bootstrap resamples and their role: the CV groups when there are
    at least ``MIN_CLUSTERS`` of them, else the pair groups (e.g. prompts; five held-out
    generators are too few to resample), else the CV groups, else rows."""
    if groups is not None and len(np.unique(groups)) >= MIN_CLUSTERS:
        return groups, "group_by"
    if pair_groups is not None:
        return pair_groups, "pair_by"
    if groups is not None:
        return groups, "group_by"
    return None, "rows"


def describe(report: dict[str, Any]) -> list[str]:
    """Lines of text for a report of ``qualitylab.learn.train`` (or of an evaluation on
    another set): counts, pairwise accuracy, within-group correlations, yardstick."""
    lines = []
    if report.get("group_by"):
        grouped = f", grouped by {report['group_by']} ({report['groups']} groups)"
    else:
        grouped = ""
    if "source" in report:
        groups = f", {report['groups']} {report['group_by']} groups" if grouped else ""
        lines.append(f"evaluated on {report['source']}: {report['rows']} rows{groups}")
    else:
        lines.append(f"{report['validation']} CV{grouped}; {report['rows']} rows")
    pairwise = report.get("pairwise")
    if pairwise:
        low, high = pairwise["ci"]
        lines.append(
            f"pairwise accuracy within {report['pair_by']}: {_fmt(pairwise['value'])} "
            f"[{_fmt(low)}, {_fmt(high)}] over {pairwise['pairs']} pairs in "
            f"{pairwise['groups']} groups (constant predictor: 0.500)"
        )
    for column, within in report.get("within", {}).items():
        values = within["spearman"]
        if len(values) <= GROUPS_LISTED:
            detail = ", ".join(f"{name} {_fmt(rho)}" for name, rho in values.items())
        else:
            defined = [v for v in values.values() if v is not None and not math.isnan(v)]
            detail = f"{len(values)} groups, from {_fmt(min(defined, default=math.nan))} to "
            detail += f"{_fmt(max(defined, default=math.nan))}"
        lines.append(
            f"Spearman within each {column}: mean {_fmt(within['mean'])} "
            f"({detail}); system level ({column} means): {_fmt(within['system_spearman'])}"
        )
    constant = report.get("constant_yardstick")
    if constant:
        shown = ", ".join(
            f"{name} {_fmt(value)}"
            for name, value in constant.items()
            if name != "pairwise_accuracy"
        )
        lines.append(f"constant predictor (training mean or majority): {shown}")
    if report.get("ci_resamples"):
        lines.append(f"confidence intervals resample {report['ci_resamples']} groups")
    return lines


def _fmt(value: Any) -> str:
    return (
        "nan"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.3f}"
    )
