"""Map the SHAP values of temporal features back to the frames that drive them.

A feature ``extractor.signal.aggregation`` is a function of one signal's values over
frames (or over neighbouring-frame pairs). Its SHAP value is spread over the signal's
positions with weights that sum to 1, chosen by what the aggregation reads:

- ``min`` / ``max``: the position(s) of the minimum / maximum (ties share equally);
  ``min_max_ratio``: half to the minimum's, half to the maximum's;
- ``median``: the middle position(s) of the sorted values;
- ``p10`` / ``p25``: the positions at or below that percentile; ``p75`` / ``p90``: the
  positions at or above it; ``iqr``: both tails of p25 and p75;
- ``ewm_a``: the exponentially weighted mean's own weights, (1 - a)^(T-1-t), normalised;
- ``sum`` / ``mean``: every position equally;
- ``std``: in proportion to |value - mean| (every position equally for a constant signal);
- ``fNNN`` (non-aggregated set): position NNN itself (nothing when the signal is shorter).

A signal with a NaN gets no attribution. Position t of a pair signal is the pair of
frames t and t+1, drawn at frame t + 0.5. Positions the features left out (pairs that
straddle a scene cut, see :mod:`qualitylab.features.scenes`) get none either: the weights
are those of the remaining values, placed back at their positions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from qualitylab.features.names import frame_position, parse_column
from qualitylab.features.registry import is_pair_signal


def split_feature(column: str) -> tuple[str, str]:
    """``("extractor.signal", "aggregation")`` of a feature column name (the aggregation
    is ``fNNN`` for a non-aggregated value); ValueError for a descriptive column."""
    name = parse_column(column)
    if name is None:
        raise ValueError(f"{column!r} is not a feature column (expected extractor.signal.part)")
    return name.signal_name, name.part


def position_weights(aggregation: str, values: np.ndarray) -> np.ndarray:
    """Weights over the positions of ``values`` (summing to 1, or all 0 when the feature
    reads no position) saying which positions ``aggregation`` depends on."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    weights = np.zeros(n)
    if n == 0 or np.isnan(values).any():
        return weights
    position = frame_position(aggregation)
    if position is not None:
        if position < n:
            weights[position] = 1.0
        return weights
    if aggregation.startswith("ewm_"):
        alpha = float(aggregation.removeprefix("ewm_"))
        weights = (1 - alpha) ** np.arange(n - 1, -1, -1, dtype=np.float64)
    elif aggregation in ("sum", "mean"):
        weights[:] = 1.0
    elif aggregation == "min":
        weights = (values == values.min()).astype(np.float64)
    elif aggregation == "max":
        weights = (values == values.max()).astype(np.float64)
    elif aggregation == "min_max_ratio":
        low = (values == values.min()).astype(np.float64)
        high = (values == values.max()).astype(np.float64)
        weights = low / low.sum() + high / high.sum()
    elif aggregation == "median":
        order = np.argsort(values, kind="stable")
        weights[order[(n - 1) // 2]] = 1.0
        weights[order[n // 2]] = 1.0
    elif aggregation in ("p10", "p90"):
        level = np.percentile(values, int(aggregation[1:]))
        weights += values <= level if aggregation == "p10" else values >= level
    elif aggregation in ("p25", "p75", "iqr"):
        low, high = np.percentile(values, [25, 75])
        if aggregation != "p75":
            weights += values <= low
        if aggregation != "p25":
            weights += values >= high
    elif aggregation == "std":
        spread = np.abs(values - values.mean())
        weights = spread if spread.sum() > 0 else np.ones(n)
    else:
        raise ValueError(f"unknown aggregation {aggregation!r}")
    return weights / weights.sum()


def frame_attribution(
    signals: Mapping[str, np.ndarray],
    shap_values: Mapping[str, float],
    left_out: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Per signal and position: the frame coordinate, the signal's value and the SHAP
    attributed to it (the sum over that signal's features). Long format: ``signal,
    position, frame, value, shap``; only signals with at least one explained feature
    appear. ``left_out`` maps a signal to the positions its features did not read."""
    attributed: dict[str, np.ndarray] = {}
    for column, shap_value in shap_values.items():
        prefix, aggregation = split_feature(column)
        if prefix not in signals:
            continue
        values = np.asarray(signals[prefix], dtype=np.float64)
        kept = np.setdiff1d(np.arange(values.size), (left_out or {}).get(prefix, []))
        share = np.zeros(values.size)
        share[kept] = position_weights(aggregation, values[kept]) * float(shap_value)
        attributed[prefix] = attributed.get(prefix, np.zeros(values.size)) + share
    frames = [
        pd.DataFrame(
            {
                "signal": prefix,
                "position": np.arange(len(shares)),
                "frame": np.arange(len(shares)) + (0.5 if is_pair_signal(prefix) else 0.0),
                "value": np.asarray(signals[prefix], dtype=np.float64),
                "shap": shares,
            }
        )
        for prefix, shares in attributed.items()
    ]
    if not frames:
        return pd.DataFrame(columns=["signal", "position", "frame", "value", "shap"])
    return pd.concat(frames, ignore_index=True)
