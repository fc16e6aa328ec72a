import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    roc_auc_score,
    root_mean_squared_error,
)

from qualitylab.learn.metrics import (
    CLASSIFICATION_METRICS,
    HIGHER_IS_BETTER,
    PRIMARY,
    REGRESSION_METRICS,
    _weighted_scores,
    bootstrap_ci,
    format_mean_std,
    resample_weights,
    scores,
    summarize,
    to_json_ready,
)


@pytest.fixture(autouse=True)
def warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def regression_data(n, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.normal(size=n)
    return y_true, y_true + rng.normal(size=n)


def classification_data(n, seed=0):
    """Labels cut from a rating, tied probabilities, and the rating itself."""
    target, noisy = regression_data(n, seed)
    y_score = np.round(1 / (1 + np.exp(-noisy)), 1)
    return (target > 0).astype(int), (y_score > 0.5).astype(int), y_score, target


def test_metric_tables_agree():
    assert set(REGRESSION_METRICS) | set(CLASSIFICATION_METRICS) == set(HIGHER_IS_BETTER)
    assert PRIMARY["regression"] in REGRESSION_METRICS
    assert PRIMARY["classification"] in CLASSIFICATION_METRICS
    assert not HIGHER_IS_BETTER["mae"] and not HIGHER_IS_BETTER["rmse"]
    assert HIGHER_IS_BETTER["spearman"] and HIGHER_IS_BETTER["accuracy"]


def test_regression_scores_match_sklearn_and_scipy():
    y_true, y_pred = regression_data(80)
    result = scores("regression", y_true, y_pred)
    assert tuple(result) == REGRESSION_METRICS
    assert all(type(v) is float for v in result.values())
    assert result["mae"] == pytest.approx(mean_absolute_error(y_true, y_pred))
    assert result["rmse"] == pytest.approx(root_mean_squared_error(y_true, y_pred))
    assert result["spearman"] == pytest.approx(stats.spearmanr(y_true, y_pred)[0])
    assert result["pearson"] == pytest.approx(stats.pearsonr(y_true, y_pred)[0])
    assert result["kendall"] == pytest.approx(stats.kendalltau(y_true, y_pred)[0])


def test_classification_scores_match_sklearn_and_scipy():
    y_true, y_pred, y_score, target = classification_data(80)
    result = scores("classification", y_true, y_pred, y_score, target)
    assert tuple(result) == CLASSIFICATION_METRICS
    assert result["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert result["f1"] == pytest.approx(f1_score(y_true, y_pred))
    assert result["roc_auc"] == pytest.approx(roc_auc_score(y_true, y_score))
    assert result["spearman"] == pytest.approx(stats.spearmanr(y_score, target)[0])
    assert result["pearson"] == pytest.approx(stats.pearsonr(y_score, target)[0])
    assert result["kendall"] == pytest.approx(stats.kendalltau(y_score, target)[0])


def test_classification_correlates_with_labels_without_target():
    y_true, y_pred, y_score, _ = classification_data(80)
    result = scores("classification", y_true, y_pred, y_score)
    assert result["spearman"] == pytest.approx(stats.spearmanr(y_score, y_true)[0])


def test_constant_or_tiny_inputs_give_nan_correlations_without_warnings():
    y_true, _ = regression_data(30)
    constant = scores("regression", y_true, np.full(30, 0.5))
    tiny = scores("regression", [1.0, 2.0], [2.0, 1.0])
    for result in (constant, tiny):
        assert all(math.isnan(result[name]) for name in ("spearman", "pearson", "kendall"))
    assert constant["mae"] == pytest.approx(mean_absolute_error(y_true, np.full(30, 0.5)))


def test_roc_auc_is_nan_with_one_class_and_f1_zero_without_positives():
    result = scores("classification", [0, 0, 0, 0], [0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4])
    assert math.isnan(result["roc_auc"])
    assert result["f1"] == 0.0
    assert result["accuracy"] == 1.0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="task"):
        scores("ranking", [1.0], [1.0])
    with pytest.raises(ValueError, match="y_score"):
        scores("classification", [0, 1], [0, 1])
    with pytest.raises(ValueError, match="same length"):
        scores("regression", [1.0, 2.0], [1.0])


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("task", ["regression", "classification"])
def test_resample_scores_equal_scores_on_expanded_rows(task, grouped):
    n = 60
    data = regression_data(n) if task == "regression" else classification_data(n)
    groups = np.arange(n) // 4 if grouped else None
    weights = resample_weights(n, groups, 12, np.random.default_rng(3))
    replicates = _weighted_scores(task, weights, *_prepared(task, data))
    for b, row_weights in enumerate(weights):
        rows = np.repeat(np.arange(n), row_weights.astype(int))
        expected = scores(task, *(np.asarray(a)[rows] for a in data))
        for name, value in expected.items():
            assert replicates[name][b] == pytest.approx(value, abs=1e-12, nan_ok=True), name


def _prepared(task, data):
    """The arrays _weighted_scores takes: labels, predictions, then the correlation sides."""
    if task == "regression":
        y_true, y_pred = data
        return y_true, y_pred, y_pred, y_true
    return data


def test_grouped_resamples_keep_groups_whole():
    groups = np.repeat(["a", "b", "c", "d", "e"], [1, 2, 3, 4, 5])
    weights = resample_weights(groups.size, groups, 200, np.random.default_rng(0))
    for label in np.unique(groups):
        in_group = weights[:, groups == label]
        assert (in_group == in_group[:, :1]).all()
    first_rows = weights[:, np.unique(groups, return_index=True)[1]]
    assert (first_rows.sum(axis=1) == 5).all()


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_bootstrap_is_deterministic_per_seed(task):
    data = regression_data(50) if task == "regression" else classification_data(50)
    first = bootstrap_ci(task, *data, n_resamples=200, seed=7)
    assert first == bootstrap_ci(task, *data, n_resamples=200, seed=7)
    assert first != bootstrap_ci(task, *data, n_resamples=200, seed=8)
    assert tuple(first) == (REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS)


def test_bootstrap_interval_contains_the_point_estimate():
    data = classification_data(300)
    point = scores("classification", *data)
    for name, (low, high) in bootstrap_ci("classification", *data).items():
        assert low <= point[name] <= high, name


def test_bootstrap_interval_narrows_with_more_data():
    small = bootstrap_ci("regression", *regression_data(100), n_resamples=300)
    large = bootstrap_ci("regression", *regression_data(600), n_resamples=300)
    for name in REGRESSION_METRICS:
        assert large[name][1] - large[name][0] < small[name][1] - small[name][0], name


def test_cluster_bootstrap_of_duplicated_rows_is_wider():
    y_true, y_pred = regression_data(40)
    copies = 4
    rows = np.repeat(np.arange(40), copies)
    row_wise = bootstrap_ci("regression", y_true[rows], y_pred[rows])
    grouped = bootstrap_ci("regression", y_true[rows], y_pred[rows], groups=rows)
    original = bootstrap_ci("regression", y_true, y_pred)
    for name in REGRESSION_METRICS:
        width = {
            k: ci[name][1] - ci[name][0]
            for k, ci in [("row", row_wise), ("group", grouped), ("orig", original)]
        }
        assert width["group"] > 1.5 * width["row"], name
        assert width["group"] == pytest.approx(width["orig"], rel=0.25), name


def test_bootstrap_of_undefined_metric_is_nan_interval():
    y_true, _ = regression_data(30)
    ci = bootstrap_ci("regression", y_true, np.zeros(30), n_resamples=100)
    assert all(math.isnan(v) for v in ci["spearman"])
    assert not math.isnan(ci["mae"][0])


def test_summarize_structure():
    folds = [{"mae": 0.5, "spearman": 0.2}, {"mae": 0.7, "spearman": float("nan")}]
    oof = {"mae": 0.6, "spearman": 0.3}
    ci = {"mae": (0.55, 0.65), "spearman": (0.1, 0.4)}
    summary = summarize(folds, oof, ci)
    assert set(summary) == {"mae", "spearman"}
    assert summary["mae"] == {
        "folds": [0.5, 0.7],
        "mean": pytest.approx(0.6),
        "std": pytest.approx(np.std([0.5, 0.7])),
        "oof": 0.6,
        "ci": [0.55, 0.65],
    }
    assert summary["spearman"]["mean"] == 0.2 and summary["spearman"]["std"] == 0.0
    assert math.isnan(summary["spearman"]["folds"][1])


def test_to_json_ready_replaces_nan_recursively():
    summary = summarize([{"r": float("nan")}], {"r": np.float64("nan")}, {"r": (np.nan, 1.0)})
    ready = to_json_ready({"metrics": summary, "array": np.array([1.5, np.inf]), "n": np.int64(3)})
    assert ready["metrics"]["r"] == {
        "folds": [None],
        "mean": None,
        "std": None,
        "oof": None,
        "ci": [None, 1.0],
    }
    assert ready["array"] == [1.5, None] and type(ready["n"]) is int
    json.dumps(ready, allow_nan=False)


def test_format_mean_std():
    assert format_mean_std(0.41234, 0.0509) == "0.412 ± 0.051"
    assert format_mean_std(0.5, 0.25, digits=1) == "0.5 ± 0.2"
    assert format_mean_std(float("nan"), 0.1) == "–"


def test_pairwise_accuracy_counts_pairs_within_groups_only():
    from qualitylab.learn.metrics import pairwise_accuracy

    truth = [1, 2, 3, 5, 5, 1]
    groups = ["a", "a", "a", "b", "b", "c"]
    # group a: 3 pairs, prediction reverses one of them; group b: tied truth, no pair;
    # group c: one row, no pair.
    predicted = [0.1, 0.3, 0.2, 9, 1, 4]
    accuracy, pairs = pairwise_accuracy(truth, predicted, groups)
    assert pairs == 3
    assert accuracy == pytest.approx(2 / 3)
    tied, _ = pairwise_accuracy([1, 2], [0.5, 0.5], ["g", "g"])
    assert tied == 0.5
    nothing, count = pairwise_accuracy([1, 1], [1, 2], ["g", "g"])
    assert count == 0 and np.isnan(nothing)


def test_group_and_system_correlations():
    from qualitylab.learn.metrics import group_correlations, system_correlation

    truth = [1, 2, 3, 4, 10, 11, 12, 13]
    predicted = [4, 3, 2, 1, 10, 11, 12, 13]
    groups = ["x"] * 4 + ["y"] * 4
    within = group_correlations(truth, predicted, groups)
    assert within["x"] == pytest.approx(-1.0) and within["y"] == pytest.approx(1.0)
    three = ["x"] * 3 + ["y"] * 3 + ["z"] * 2
    assert system_correlation(truth, predicted, three) == pytest.approx(1.0)
