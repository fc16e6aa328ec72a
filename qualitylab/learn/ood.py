"""Out-of-distribution checks: is a scored video like the videos a predictor learned from?

A predictor records its training ranges: the range (min..max) of the video metadata
columns of its training table when present (``video_width``, ``video_height``,
``video_fps``, ``video_seconds``) and each feature's 1st–99th percentile. A scored video is
flagged for its resolution, frame rate or length outside the training range, and for its
features when at least ``FEATURE_SHARE`` of them lie outside their percentile range
widened by ``MARGIN`` of its width on each side (a single feature a little outside is
common among the training videos themselves, so it is not flagged alone).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

VIDEO_COLUMNS = ("video_width", "video_height", "video_fps", "video_seconds")
PERCENTILES = (1.0, 99.0)
MARGIN = 0.1
FEATURE_SHARE = 0.05
FEATURES_NAMED = 3


class TrainingRanges(BaseModel):
    """Per column its (low, high) in the training table: min..max for video metadata,
    the 1st..99th percentile for features."""

    model_config = ConfigDict(extra="forbid")

    video: dict[str, tuple[float, float]] = {}
    features: dict[str, tuple[float, float]] = {}


def training_ranges(table: pd.DataFrame, columns: list[str]) -> TrainingRanges:
    """The ranges of ``table``'s video metadata columns (those present) and of ``columns``."""
    video = {}
    for name in VIDEO_COLUMNS:
        if name in table:
            values = pd.to_numeric(table[name], errors="coerce").dropna()
            if len(values):
                video[name] = (float(values.min()), float(values.max()))
    features = {}
    for name in columns:
        values = pd.to_numeric(table[name], errors="coerce").dropna().to_numpy(np.float64)
        if values.size:
            low, high = np.percentile(values, PERCENTILES)
            features[name] = (float(low), float(high))
    return TrainingRanges(video=video, features=features)


def flags(table: pd.DataFrame, ranges: TrainingRanges) -> list[str]:
    """Per row of ``table``, what is outside the training ranges ("" when nothing), e.g.
    ``resolution 1280x720 outside 320x240..512x320; frame rate 30 outside 8..16``."""
    texts: list[list[str]] = [[] for _ in range(len(table))]
    _video_flags(table, ranges, texts)
    _feature_flags(table, ranges, texts)
    return ["; ".join(parts) for parts in texts]


def _number(value: float) -> str:
    return f"{value:.4g}"


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(table[name], errors="coerce").to_numpy(np.float64)


def _outside(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return ~np.isnan(values) & ((values < low) | (values > high))


def _video_flags(table: pd.DataFrame, ranges: TrainingRanges, texts: list[list[str]]) -> None:
    known = {name: bounds for name, bounds in ranges.video.items() if name in table}
    if "video_width" in known and "video_height" in known:
        width, height = _column(table, "video_width"), _column(table, "video_height")
        (w_low, w_high), (h_low, h_high) = known["video_width"], known["video_height"]
        outside = _outside(width, w_low, w_high) | _outside(height, h_low, h_high)
        for row in np.flatnonzero(outside):
            texts[row].append(
                f"resolution {width[row]:.0f}x{height[row]:.0f} outside "
                f"{w_low:.0f}x{h_low:.0f}..{w_high:.0f}x{h_high:.0f}"
            )
    for name, label, unit in (("video_fps", "frame rate", ""), ("video_seconds", "length", " s")):
        if name not in known:
            continue
        values, (low, high) = _column(table, name), known[name]
        for row in np.flatnonzero(_outside(values, low, high)):
            texts[row].append(
                f"{label} {_number(values[row])}{unit} outside {_number(low)}..{_number(high)}{unit}"
            )


def _feature_flags(table: pd.DataFrame, ranges: TrainingRanges, texts: list[list[str]]) -> None:
    names = [name for name in ranges.features if name in table]
    if not names:
        return
    values = table[names].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bounds = np.array([ranges.features[name] for name in names])
    margin = MARGIN * (bounds[:, 1] - bounds[:, 0])
    low, high = bounds[:, 0] - margin, bounds[:, 1] + margin
    outside = ~np.isnan(values) & ((values < low) | (values > high))
    # how far outside, in widths of the range, to name the furthest features first
    width = np.where(bounds[:, 1] > bounds[:, 0], bounds[:, 1] - bounds[:, 0], 1.0)
    distance = np.maximum(low - values, values - high) / width
    needed = max(1, math.ceil(FEATURE_SHARE * len(names)))
    for row in np.flatnonzero(outside.sum(axis=1) >= needed):
        columns = np.flatnonzero(outside[row])
        furthest = columns[np.argsort(-distance[row, columns], kind="stable")][:FEATURES_NAMED]
        shown = ", ".join(names[i] for i in furthest)
        texts[row].append(
            f"{len(columns)} of {len(names)} features outside their training 1st-99th "
            f"percentile ({shown}{', ...' if len(columns) > FEATURES_NAMED else ''})"
        )
