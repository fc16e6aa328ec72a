"""Tests for qualitylab.features.aggregate against numpy and pandas references."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qualitylab.features.aggregate import (
    AGGREGATIONS,
    NONAGG_LENGTH,
    SET_TYPES,
    aggregate,
    aggregated_columns,
    feature_columns,
    feature_row,
    feature_table,
    first_values,
    nonaggregated_columns,
)

RTOL = 1e-12
ALPHAS = (0.1, 0.3, 0.5, 0.7, 0.9)


def reference(values: np.ndarray) -> dict[str, float]:
    """The 15 aggregations computed one by one with pandas and numpy."""
    series = pd.Series(values, dtype="float64")
    ref = {f"ewm_{a}": series.ewm(alpha=a, adjust=True).mean().iloc[-1] for a in ALPHAS}
    p25, p75 = series.quantile(0.25), series.quantile(0.75)
    ref |= {
        "sum": np.sum(values),
        "mean": series.mean(),
        "median": series.median(),
        "min": series.min(),
        "max": series.max(),
        "std": series.std(ddof=0),
        "p25": p25,
        "p75": p75,
        "iqr": p75 - p25,
        "min_max_ratio": series.min() / series.max(),
    }
    return ref


def signal(length: int, seed: int = 0, dtype: type = np.float64) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.5, 1.0, length).astype(dtype)


def test_aggregation_names() -> None:
    assert AGGREGATIONS == (
        "ewm_0.1", "ewm_0.3", "ewm_0.5", "ewm_0.7", "ewm_0.9", "sum", "mean", "median",
        "min", "max", "std", "p25", "p75", "iqr", "min_max_ratio",
    )  # fmt: skip


@pytest.mark.parametrize("length", [2, 3, 17, 250, 2000])
@pytest.mark.parametrize("seed", [0, 1])
def test_aggregate_matches_pandas_and_numpy(length: int, seed: int) -> None:
    values = signal(length, seed)
    result = aggregate(values)
    assert list(result) == list(AGGREGATIONS)
    assert all(type(v) is float for v in result.values())
    expected = reference(values)
    for name in AGGREGATIONS:
        np.testing.assert_allclose(result[name], expected[name], rtol=RTOL, err_msg=name)


def test_aggregate_float32_is_computed_in_float64() -> None:
    values = signal(31, dtype=np.float32)
    result, expected = aggregate(values), reference(values.astype(np.float64))
    for name in AGGREGATIONS:
        np.testing.assert_allclose(result[name], expected[name], rtol=RTOL, err_msg=name)


def test_ewm_weights_newest_value_most() -> None:
    # weights 1 (newest), 1 - a, (1 - a)^2 for the values 3, 2, 1 (oldest first)
    a = 0.3
    expected = (3 + 2 * (1 - a) + 1 * (1 - a) ** 2) / (1 + (1 - a) + (1 - a) ** 2)
    assert aggregate(np.array([1.0, 2.0, 3.0]))["ewm_0.3"] == pytest.approx(expected, rel=RTOL)


def test_length_one() -> None:
    result = aggregate(np.array([2.5]))
    assert result.pop("std") == 0.0
    assert result.pop("iqr") == 0.0
    assert result.pop("min_max_ratio") == 1.0
    assert all(v == 2.5 for v in result.values())


def test_length_one_zero_and_negative() -> None:
    assert aggregate(np.array([0.0]))["min_max_ratio"] == 1.0
    assert aggregate(np.array([-2.0]))["min_max_ratio"] == 1.0


def test_length_zero_is_all_nan() -> None:
    result = aggregate(np.array([], dtype=np.float32))
    assert list(result) == list(AGGREGATIONS)
    assert all(math.isnan(v) for v in result.values())


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.0, 0.0], 1.0),
        ([-1.0, 0.0, -0.5], math.nan),
        ([1.0, 4.0, 2.0], 0.25),
        ([-3.0, 2.0], -1.5),
        ([-4.0, -2.0], 2.0),
        ([0.0, 5.0], 0.0),
    ],
)
def test_min_max_ratio(values: list[float], expected: float) -> None:
    np.testing.assert_equal(aggregate(np.array(values))["min_max_ratio"], expected)


@pytest.mark.parametrize("position", [0, 5, 9])
def test_nan_propagates_into_every_aggregation(position: int) -> None:
    values = signal(10)
    values[position] = np.nan
    assert all(math.isnan(v) for v in aggregate(values).values())


def test_aggregate_rejects_non_1d() -> None:
    with pytest.raises(ValueError, match="1-D"):
        aggregate(np.zeros((2, 3)))


def test_first_values_pads_with_zeros() -> None:
    values = signal(5, dtype=np.float32)
    out = first_values(values)
    assert out.shape == (NONAGG_LENGTH,) and out.dtype == np.float64
    np.testing.assert_array_equal(out[:5], values.astype(np.float64))
    np.testing.assert_array_equal(out[5:], np.zeros(95))


def test_first_values_truncates() -> None:
    values = signal(250)
    np.testing.assert_array_equal(first_values(values), values[:100])


def test_first_values_edge_lengths() -> None:
    np.testing.assert_array_equal(first_values(np.array([])), np.zeros(100))
    np.testing.assert_array_equal(first_values(signal(100)), signal(100))
    np.testing.assert_array_equal(first_values(signal(7), length=3), signal(7)[:3])


def test_first_values_keeps_nan_in_place() -> None:
    out = first_values(np.array([1.0, np.nan, 3.0]))
    np.testing.assert_array_equal(out[:3], [1.0, np.nan, 3.0])
    assert not np.isnan(out[3:]).any()


def test_column_names() -> None:
    agg = aggregated_columns("ssim.adjacent")
    assert len(agg) == 15
    assert agg[0] == "ssim.adjacent.ewm_0.1"
    assert "ssim.adjacent.ewm_0.3" in agg
    assert agg[-1] == "ssim.adjacent.min_max_ratio"
    assert "raft.magnitude_mean.iqr" in aggregated_columns("raft.magnitude_mean")
    nonagg = nonaggregated_columns("x.y")
    assert len(nonagg) == 100
    assert nonagg[0] == "x.y.f000" and nonagg[42] == "x.y.f042" and nonagg[-1] == "x.y.f099"


SIGNALS = {"ssim.adjacent": signal(29, 1), "clip_b32.prompt_sim": signal(30, 2)}


@pytest.mark.parametrize(
    ("set_type", "per_signal"), [("agg", 15), ("nonagg", 100), ("combined", 115)]
)
def test_feature_row_column_counts(set_type: str, per_signal: int) -> None:
    row = feature_row(SIGNALS, set_type)
    assert len(row) == per_signal * len(SIGNALS)
    assert list(row) == feature_columns(list(SIGNALS), set_type)
    assert all(type(v) is float for v in row.values())


def test_feature_row_values_and_order() -> None:
    row = feature_row(SIGNALS, "combined")
    columns = list(row)
    assert columns[:15] == aggregated_columns("ssim.adjacent")
    assert columns[15:115] == nonaggregated_columns("ssim.adjacent")
    assert columns[115:130] == aggregated_columns("clip_b32.prompt_sim")
    assert columns[130:] == nonaggregated_columns("clip_b32.prompt_sim")
    for prefix, values in SIGNALS.items():
        for name, value in aggregate(values).items():
            assert row[f"{prefix}.{name}"] == pytest.approx(value, rel=RTOL, nan_ok=True)
        firsts = [row[c] for c in nonaggregated_columns(prefix)]
        np.testing.assert_array_equal(firsts, first_values(values))


def test_bad_set_type() -> None:
    for call in (
        lambda: feature_row(SIGNALS, "aggregated"),
        lambda: feature_table([SIGNALS], "aggregated"),
        lambda: feature_columns(["x.y"], "aggregated"),
    ):
        with pytest.raises(ValueError, match="'aggregated'"):
            call()
    assert SET_TYPES == ("agg", "nonagg", "combined")


def test_feature_table_matches_rows_and_marks_missing_signals() -> None:
    rows = [
        {"a.x": signal(20, 0), "a.y": signal(19, 1)},
        {"a.x": signal(20, 2)},  # extractor behind a.y failed
        {"b.z": signal(1, 3), "a.y": np.array([], dtype=np.float32), "a.x": signal(33, 4)},
    ]
    for set_type in SET_TYPES:
        table = feature_table(rows, set_type, index=["v1", "v2", "v3"])
        assert list(table.index) == ["v1", "v2", "v3"]
        assert list(table.columns) == feature_columns(["a.x", "a.y", "b.z"], set_type)
        assert (table.dtypes == "float64").all()
        for label, row in zip(table.index, rows):
            expected = feature_row(row, set_type)
            got = table.loc[label, list(expected)].to_numpy()
            np.testing.assert_allclose(got, list(expected.values()), rtol=RTOL)
        missing = [c for c in table.columns if c.startswith(("a.y.", "b.z."))]
        assert table.loc["v2", missing].isna().all()
        assert table.loc["v1", [c for c in table.columns if c.startswith("b.z.")]].isna().all()
    nonagg = feature_table(rows, "nonagg")
    assert (nonagg.loc[2, nonaggregated_columns("a.y")] == 0).all()  # empty, not missing
    assert nonagg.loc[1, nonaggregated_columns("a.y")].isna().all()


def test_feature_table_empty() -> None:
    assert feature_table([], "combined").shape == (0, 0)
    assert feature_table([{}, {}], "agg").shape == (2, 0)


def test_feature_table_rejects_non_1d_signal() -> None:
    with pytest.raises(ValueError, match="'a.x'"):
        feature_table([{"a.x": np.zeros((3, 2))}], "agg")


def test_feature_table_many_equal_length_signals_stay_in_place() -> None:
    rows = [{f"e.s{j}": signal(12, seed=10 * r + j) for j in range(4)} for r in range(6)]
    table = feature_table(rows, "agg")
    for r, row in enumerate(rows):
        for prefix, values in row.items():
            got = table.loc[r, aggregated_columns(prefix)].to_numpy()
            np.testing.assert_allclose(got, list(aggregate(values).values()), rtol=RTOL)
