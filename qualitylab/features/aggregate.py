"""The aggregations of a signal and the three feature sets built from them.

Conventions (fixed here, tested in ``tests/test_aggregate.py``):

- Every aggregation is computed in float64, whatever the signal's dtype.
- ``ewm_a`` (a in 0.1, 0.3, 0.5, 0.7, 0.9) is the last value of the exponentially weighted
  running mean with smoothing factor alpha = a and pandas' default ``adjust=True``: the
  newest value has weight 1, the one before it (1 - a), then (1 - a)^2, ..., normalised
  by the sum of the weights. It equals
  ``pd.Series(values).ewm(alpha=a, adjust=True).mean().iloc[-1]`` for a signal without NaN.
- ``sum``, ``mean``, ``median``, ``min``, ``max`` are numpy's; ``std`` is the population
  standard deviation (ddof=0); ``p10``, ``p25``, ``p75`` and ``p90`` are ``np.percentile``
  with linear interpolation (numpy's default); ``iqr`` = p75 - p25.
- ``min_max_ratio`` = min / max. When max == 0 it is 1.0 if min == 0 too (a constant zero
  signal) and NaN otherwise (min < 0 = max); negative maxima simply divide.
- A signal of length 1 aggregates to its value, except ``std`` = ``iqr`` = 0 (and
  ``min_max_ratio`` by the rule above).
- A signal of length 0 (e.g. a pair signal of a one-frame video) aggregates to NaN,
  ``sum`` included.
- A NaN anywhere in a signal makes every aggregation of that signal NaN (values are never
  silently dropped; pandas' EWM would skip them instead).

The thesis protocol uses the 15 ``AGGREGATIONS``; the default protocol uses the
length-invariant ``INVARIANT_AGGREGATIONS`` (no sum, which grows with length; no min, max
or min/max ratio, whose extremes grow with the number of values; no EWM, which weighs
the clip's end); ``KNOWN_AGGREGATIONS`` is every name a feature column may end in. Each
function below takes the aggregations to compute (the thesis' 15 by default).

Feature sets: ``agg`` holds the 15 aggregations of each signal (columns
``<extractor>.<signal>.<aggregation>``); ``nonagg`` holds the first 100 values of each
signal as float64, zero-padded when the signal is shorter (so an empty signal gives 100
zeros) and NaNs copied as they are (columns ``<extractor>.<signal>.f000`` ... ``f099``);
``combined`` holds both, signal by signal: a signal's 15 aggregations, then its 100 values.
Signals appear in the order they are first seen; a signal missing from a video (its
extractor failed) gives NaN in all of that signal's columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from qualitylab.features.names import aggregated_column, value_column

EWM_ALPHAS: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
AGGREGATIONS: tuple[str, ...] = (
    *(f"ewm_{alpha}" for alpha in EWM_ALPHAS),
    "sum",
    "mean",
    "median",
    "min",
    "max",
    "std",
    "p25",
    "p75",
    "iqr",
    "min_max_ratio",
)
INVARIANT_AGGREGATIONS: tuple[str, ...] = (
    "mean",
    "median",
    "std",
    "p10",
    "p25",
    "p75",
    "p90",
    "iqr",
)
KNOWN_AGGREGATIONS: tuple[str, ...] = (*AGGREGATIONS, "p10", "p90")
NONAGG_LENGTH = 100
SET_TYPES: tuple[str, ...] = ("agg", "nonagg", "combined")


def _as_signal(values: np.ndarray) -> np.ndarray:
    """``values`` as a 1-D float64 array; ValueError for any other shape."""
    signal = np.asarray(values, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"a signal must be 1-D, got shape {signal.shape}")
    return signal


def _ewm_last(signals: np.ndarray) -> np.ndarray:
    """The last EWM value (adjust=True) of each row of ``signals`` [m, n] for each alpha: [m, 5]."""
    age = np.arange(signals.shape[1] - 1, -1, -1, dtype=np.float64)
    weights = (1.0 - np.asarray(EWM_ALPHAS))[:, None] ** age  # [5, n], newest value last
    return (signals @ weights.T) / weights.sum(axis=1)


def _min_max_ratio(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """min / max, with 1 for an all-zero signal and NaN for min < 0 = max."""
    zero_max = high == 0
    ratio = low / np.where(zero_max, 1.0, high)
    return np.where(zero_max, np.where(low == 0, 1.0, np.nan), ratio)


def _aggregate_rows(signals: np.ndarray, aggregations: Sequence[str] = AGGREGATIONS) -> np.ndarray:
    """The ``aggregations``, in that order, of each row of ``signals`` [m, n]."""
    unknown = [name for name in aggregations if name not in KNOWN_AGGREGATIONS]
    if unknown:
        raise ValueError(f"unknown aggregation(s) {unknown}; known: {KNOWN_AGGREGATIONS}")
    m, n = signals.shape
    if n == 0:
        return np.full((m, len(aggregations)), np.nan)
    with np.errstate(invalid="ignore"):
        low, high = signals.min(axis=1), signals.max(axis=1)
        p10, p25, p75, p90 = np.percentile(signals, [10, 25, 75, 90], axis=1)
        values = {
            **dict(zip(AGGREGATIONS[:5], _ewm_last(signals).T)),
            "sum": signals.sum(axis=1),
            "mean": signals.mean(axis=1),
            "median": np.median(signals, axis=1),
            "min": low,
            "max": high,
            "std": signals.std(axis=1),
            "p10": p10,
            "p25": p25,
            "p75": p75,
            "p90": p90,
            "iqr": p75 - p25,
            "min_max_ratio": _min_max_ratio(low, high),
        }
        out = np.column_stack([values[name] for name in aggregations])
    out[np.isnan(signals).any(axis=1)] = np.nan
    return out


def aggregate(values: np.ndarray, aggregations: Sequence[str] = AGGREGATIONS) -> dict[str, float]:
    """The ``aggregations`` of one 1-D signal, keyed by name."""
    row = _aggregate_rows(_as_signal(values)[None, :], aggregations)[0]
    return dict(zip(aggregations, row.tolist()))


def first_values(values: np.ndarray, length: int = NONAGG_LENGTH) -> np.ndarray:
    """The first ``length`` values of a 1-D signal as float64, zero-padded when shorter."""
    signal = _as_signal(values)[:length]
    out = np.zeros(length, dtype=np.float64)
    out[: signal.size] = signal
    return out


def aggregated_columns(prefix: str, aggregations: Sequence[str] = AGGREGATIONS) -> list[str]:
    """The aggregated set's column names of one signal: ``<prefix>.<aggregation>``."""
    return [aggregated_column(prefix, name) for name in aggregations]


def nonaggregated_columns(prefix: str, length: int = NONAGG_LENGTH) -> list[str]:
    """The non-aggregated set's column names of one signal: ``<prefix>.f000`` onwards."""
    return [value_column(prefix, i) for i in range(length)]


def _check_set_type(set_type: str) -> None:
    if set_type not in SET_TYPES:
        raise ValueError(f"unknown feature set type {set_type!r}; expected one of {SET_TYPES}")


def feature_columns(
    prefixes: Sequence[str], set_type: str, aggregations: Sequence[str] = AGGREGATIONS
) -> list[str]:
    """The column names of a feature set over ``prefixes``, in table order."""
    _check_set_type(set_type)
    columns: list[str] = []
    for prefix in prefixes:
        if set_type != "nonagg":
            columns += aggregated_columns(prefix, aggregations)
        if set_type != "agg":
            columns += nonaggregated_columns(prefix)
    return columns


_Group = tuple[np.ndarray, np.ndarray, np.ndarray]


def _group_by_length(rows: Sequence[Mapping[str, np.ndarray]], prefixes: list[str]) -> list[_Group]:
    """The rows' signals grouped by length: per length, the row indices, the prefix indices
    and the signals stacked into one [m, n] float64 array."""
    position = {prefix: p for p, prefix in enumerate(prefixes)}
    groups: dict[int, list[tuple[int, int, np.ndarray]]] = defaultdict(list)
    for r, row in enumerate(rows):
        for prefix, values in row.items():
            signal = np.asarray(values)
            if signal.ndim != 1:
                raise ValueError(f"signal {prefix!r} must be 1-D, got shape {signal.shape}")
            groups[signal.size].append((r, position[prefix], signal))
    stacked = []
    for members in groups.values():
        r_idx, p_idx, signals = zip(*members)
        stacked.append((np.array(r_idx), np.array(p_idx), np.stack(signals, dtype=np.float64)))
    return stacked


def _feature_matrix(
    rows: Sequence[Mapping[str, np.ndarray]],
    set_type: str,
    aggregations: Sequence[str] = AGGREGATIONS,
) -> tuple[list[str], np.ndarray]:
    """The column names and the [rows, columns] float64 values of a feature set.

    Signals of equal length are processed together, so the cost grows with the number of
    distinct lengths rather than the number of signals.
    """
    _check_set_type(set_type)
    prefixes = list(dict.fromkeys(prefix for row in rows for prefix in row))
    n_agg = len(aggregations) if set_type != "nonagg" else 0
    n_first = NONAGG_LENGTH if set_type != "agg" else 0
    out = np.full((len(rows), len(prefixes), n_agg + n_first), np.nan)  # missing stays NaN
    for r_idx, p_idx, signals in _group_by_length(rows, prefixes):
        if n_agg:
            out[r_idx, p_idx, :n_agg] = _aggregate_rows(signals, aggregations)
        if n_first:
            kept = min(signals.shape[1], n_first)
            out[r_idx, p_idx, n_agg : n_agg + kept] = signals[:, :kept]
            out[r_idx, p_idx, n_agg + kept :] = 0.0
    columns = feature_columns(prefixes, set_type, aggregations)
    return columns, out.reshape(len(rows), len(columns))


def feature_row(
    signals: Mapping[str, np.ndarray], set_type: str, aggregations: Sequence[str] = AGGREGATIONS
) -> dict[str, float]:
    """One video's features of set type ``agg``, ``nonagg`` or ``combined``.

    ``signals`` maps ``<extractor>.<signal>`` prefixes to 1-D arrays; columns follow its
    order.
    """
    columns, values = _feature_matrix([signals], set_type, aggregations)
    return dict(zip(columns, values[0].tolist()))


def feature_table(
    rows: Sequence[Mapping[str, np.ndarray]],
    set_type: str,
    index: Sequence[Hashable] | None = None,
    aggregations: Sequence[str] = AGGREGATIONS,
) -> pd.DataFrame:
    """Many videos' features of one set type: one row per mapping in ``rows``.

    Columns are the union of the rows' prefixes in first-seen order; a signal missing from
    a row is NaN in that row. ``index`` (e.g. video ids) labels the rows.
    """
    columns, values = _feature_matrix(rows, set_type, aggregations)
    return pd.DataFrame(values, columns=columns, index=index)
