"""Per-frame defect probabilities to intervals, and how well intervals match the truth.

Frames are positions ``0 … T-1`` of a sampled clip; an interval is ``(start, end)``, the
frames ``start ≤ t < end``.

- :func:`to_intervals`: frames whose probability is at least ``threshold``; gaps of at
  most ``closing`` frames between them are filled (binary closing, the mask padded so
  that its ends are not eroded); stretches shorter than ``min_length`` frames are dropped.
- :func:`frame_counts` / :func:`frame_scores`: frame-level true and false positives and
  negatives, and precision, recall and F1 from them (0 when undefined).
- :func:`interval_ious`: each ground-truth interval's IoU (in frames) with the predicted
  interval that overlaps it most (0 when none does). The *mean IoU* of a set of clips is
  the mean of these over every ground-truth interval of every clip; predicted intervals
  that touch no ground-truth interval are counted separately as false alarms
  (:func:`false_alarms`), since they lower F1 but not the mean IoU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

Interval = tuple[int, int]


class Postprocess(BaseModel):
    """How probabilities become intervals: ``threshold``, gaps of up to ``closing`` frames
    filled, stretches under ``min_length`` frames dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(0.5, gt=0, le=1)
    closing: int = Field(1, ge=0)
    min_length: int = Field(2, ge=1)


def to_intervals(
    probabilities: np.ndarray, threshold: float = 0.5, closing: int = 1, min_length: int = 2
) -> list[Interval]:
    """The intervals of frames whose ``probabilities`` (1-D) reach ``threshold``, with gaps
    of up to ``closing`` frames filled and stretches under ``min_length`` frames dropped."""
    if closing < 0 or min_length < 1:
        raise ValueError(f"closing must be ≥ 0 and min_length ≥ 1, got {closing}, {min_length}")
    mask = np.asarray(probabilities, dtype=np.float64) >= threshold
    if closing and mask.any():
        padded = np.pad(mask, closing + 1, mode="edge")
        padded = ndimage.binary_closing(padded, structure=np.ones(closing + 1, bool))
        mask = padded[closing + 1 : -(closing + 1)] | mask
    labels, count = ndimage.label(mask)
    found = ndimage.find_objects(labels, count)
    return [
        (int(s[0].start), int(s[0].stop)) for s in found if s[0].stop - s[0].start >= min_length
    ]


def to_mask(intervals: Sequence[Interval], n_frames: int) -> np.ndarray:
    """A boolean mask over ``n_frames`` frames, true inside the ``intervals``."""
    mask = np.zeros(n_frames, bool)
    for start, end in intervals:
        mask[max(start, 0) : min(end, n_frames)] = True
    return mask


def merge(intervals: Sequence[Interval]) -> list[Interval]:
    """The union of ``intervals`` as sorted, disjoint, non-touching intervals."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def frame_counts(truth: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int]:
    """True positives, false positives and false negatives of two boolean frame masks."""
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
    if truth.shape != predicted.shape:
        raise ValueError(f"masks differ in length: {truth.shape} and {predicted.shape}")
    return (
        int(np.sum(truth & predicted)),
        int(np.sum(~truth & predicted)),
        int(np.sum(truth & ~predicted)),
    )


def frame_scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F1 from frame counts (each 0 when its denominator is)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def iou(a: Interval, b: Interval) -> float:
    """Intersection over union of two frame intervals."""
    overlap = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - overlap
    return overlap / union if union else 0.0


def interval_ious(truth: Sequence[Interval], predicted: Sequence[Interval]) -> list[float]:
    """Per ground-truth interval: its IoU with the best-overlapping predicted interval."""
    return [max((iou(t, p) for p in predicted), default=0.0) for t in truth]


def false_alarms(truth: Sequence[Interval], predicted: Sequence[Interval]) -> int:
    """How many predicted intervals overlap no ground-truth interval."""
    return sum(all(iou(t, p) == 0 for t in truth) for p in predicted)
