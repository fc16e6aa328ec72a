"""Dense optical flow of neighbouring frames with OpenCV (DIS or Farnebäck), reduced to
the 18 RAFT-shaped signals of the thesis.

Flow runs on BT.601 luma (``cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)``, ``uint8``), from the
earlier frame to the later one, at the decoded resolution or, with ``max_side``, after an
area-downscale so that the longer side is at most ``max_side`` px. Flow is in pixels of the
resolution it was computed at.

Per pair, three pixel quantities are each reduced by sum, median, mean, std (ddof=0), min
and max, giving signals ``<quantity>_<reduction>``:

- ``flow``: every value of the [H, W, 2] field, both components together (2HW values);
- ``magnitude``: ``sqrt(flow_x**2 + flow_y**2)``;
- ``angle``: ``np.arctan2(flow_x, flow_y)`` in radians, [-pi, pi] — note the argument
  order, atan2(x, y), kept from the thesis' RAFT features: 0 points down (+y), pi/2 right.

Frames must be at least 12 px on each side after downscaling (OpenCV's DIS needs it).
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from qualitylab.features.base import Chunk, Extractor, ExtractorConfig
from qualitylab.features.classical._frames import luma, map_pairs
from qualitylab.features.registry import FLOW_QUANTITIES, FLOW_REDUCTIONS

SIGNALS = tuple(f"{q}_{r}" for q in FLOW_QUANTITIES for r in FLOW_REDUCTIONS)
MIN_SIDE = 12

_DIS_PRESETS = {
    "ultrafast": cv2.DISOpticalFlow_PRESET_ULTRAFAST,
    "fast": cv2.DISOpticalFlow_PRESET_FAST,
    "medium": cv2.DISOpticalFlow_PRESET_MEDIUM,
}


class FlowConfig(ExtractorConfig):
    """Which OpenCV flow method runs, its settings, and an optional downscale.

    DIS runs with OpenCV's ``fast`` preset by default: at 1280x720 it takes about 30 ms
    a pair against 150 ms for ``medium``, and the per-pair summaries barely differ; choose
    ``medium`` for finer flow. The Farnebäck settings are
    ``cv2.calcOpticalFlowFarneback``'s usual values and are ignored by DIS.
    """

    method: Literal["dis", "farneback"] = "dis"
    dis_preset: Literal["ultrafast", "fast", "medium"] = "fast"
    pyr_scale: float = Field(0.5, gt=0, lt=1)
    levels: int = Field(3, ge=1)
    winsize: int = Field(15, ge=3)
    iterations: int = Field(3, ge=1)
    poly_n: Literal[5, 7] = 5
    poly_sigma: float = Field(1.2, gt=0)
    max_side: int | None = Field(None, ge=MIN_SIDE)


def processed_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """The (height, width) flow runs at for frames of ``height`` x ``width``."""
    longer = max(height, width)
    if max_side is None or longer <= max_side:
        return height, width
    scale = max_side / longer
    return max(1, round(height * scale)), max(1, round(width * scale))


def flow_grey(frame: np.ndarray, max_side: int | None) -> np.ndarray:
    """The ``uint8`` luma that flow runs on, area-downscaled to at most ``max_side`` px
    on its longer side when that is set."""
    grey = luma(frame)
    height, width = processed_size(*grey.shape, max_side)
    if (height, width) == grey.shape:
        return grey
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)


def compute_flow(before: np.ndarray, after: np.ndarray, config: FlowConfig) -> np.ndarray:
    """The [H, W, 2] ``float32`` flow (x, y in pixels) from ``before`` to ``after``, two
    ``uint8`` grey images of equal size, with the method and settings of ``config``."""
    if config.method == "dis":
        return cv2.DISOpticalFlow_create(_DIS_PRESETS[config.dis_preset]).calc(before, after, None)
    return cv2.calcOpticalFlowFarneback(
        before,
        after,
        None,
        config.pyr_scale,
        config.levels,
        config.winsize,
        config.iterations,
        config.poly_n,
        config.poly_sigma,
        0,
    )


def reduce_values(values: np.ndarray) -> tuple[float, ...]:
    """Sum, median, mean, std (ddof=0), min and max of a float32 array, in that order.

    The median is numpy's (the mean of the two middle values for an even count).
    """
    flat = np.ascontiguousarray(values).reshape(-1)
    mean, std = (float(v[0, 0]) for v in cv2.meanStdDev(flat.reshape(-1, 1)))
    if not math.isfinite(mean):  # NaN or inf: from a sort, which orders NaN last
        ordered = np.sort(flat)
        return mean * len(flat), median(ordered), mean, std, float(ordered[0]), float(ordered[-1])
    return mean * len(flat), median(flat), mean, std, float(flat.min()), float(flat.max())


def median(values: np.ndarray) -> float:
    """numpy's median of a 1-D array, in the array's precision, from one partition (which
    numpy vectorises for a single position, unlike a sort or a two-position partition)."""
    upper = len(values) // 2
    ordered = np.partition(values, upper)
    if len(values) % 2:
        return float(ordered[upper])
    return float((ordered[:upper].max() + ordered[upper]) / 2)


def flow_reductions(flow: np.ndarray) -> tuple[float, ...]:
    """The 18 reductions of an [H, W, 2] flow field, in the order of the signal names."""
    flow_x, flow_y = cv2.split(np.ascontiguousarray(flow))
    # numpy rather than cv2.magnitude, whose last bit depends on memory alignment.
    magnitude = flow_x * flow_x
    magnitude += flow_y * flow_y
    np.sqrt(magnitude, out=magnitude)
    angle = np.arctan2(flow_x, flow_y)
    return reduce_values(flow) + reduce_values(magnitude) + reduce_values(angle)


class FlowExtractor(Extractor):
    """Emits the 18 ``<quantity>_<reduction>`` flow signals of each neighbouring pair."""

    Config = FlowConfig
    config: FlowConfig

    def process(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """The flow signals of every pair that ends in this chunk."""
        max_side = self.config.max_side
        height, width = processed_size(*chunk.frames.shape[1:3], max_side)
        if min(height, width) < MIN_SIDE:
            raise ValueError(
                f"optical flow needs frames of at least {MIN_SIDE}x{MIN_SIDE} px; got "
                f"{width}x{height} (width x height, after any downscaling)"
            )
        rows = map_pairs(
            chunk,
            lambda frame: flow_grey(frame, max_side),
            lambda before, after: flow_reductions(compute_flow(before, after, self.config)),
        )
        table = np.asarray(rows, np.float32).reshape(len(rows), len(SIGNALS))
        return {name: table[:, i].copy() for i, name in enumerate(SIGNALS)}
