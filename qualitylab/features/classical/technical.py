"""Technical checks of frames and neighbouring pairs: the Webench2 checks (static or
duplicate frames, dark frames, over-exposed frames, brightness jumps) and four no-reference
quality measures (sharpness, colourfulness, noise, blockiness).

Luma is ITU-R BT.601, ``cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)``: 0.299 R + 0.587 G +
0.114 B rounded to integers 0-255. Every threshold below is on that scale unless stated.

| setting | default | meaning |
|---|---|---|
| ``dark_threshold`` | 40 | a frame is ``dark`` when its mean luma is below this |
| ``clip_level`` | 250 | a pixel is clipped when its luma is at least this |
| ``overexposed_share`` | 0.25 | a frame is ``overexposed`` when its share of clipped pixels exceeds this (0-1) |
| ``static_threshold`` | 1.0 | a pair is ``static`` (duplicate frame) when its mean absolute luma difference is below this |
| ``jump_threshold`` | 30 | a pair is a ``brightness_jump`` when its mean luma changes by more than this |

Signals per frame: ``brightness`` (mean luma), ``dark`` (0/1), ``clipped_share`` (0-1),
``overexposed`` (0/1), ``sharpness`` (variance of the 4-neighbour Laplacian
[[0, 1, 0], [1, -4, 1], [0, 1, 0]] of luma, borders reflected as by OpenCV's default),
``colourfulness`` (Hasler & Süsstrunk 2003 on RGB 0-255: with rg = R - G and
yb = (R + G) / 2 - B, sqrt(std(rg)² + std(yb)²) + 0.3 sqrt(mean(rg)² + mean(yb)²)),
``noise`` (Immerkær 1996 fast estimate of the noise sigma of luma: sqrt(pi/2) / (6 (W-2)
(H-2)) times the sum of |luma * N| over the interior, N = [[1, -2, 1], [-2, 4, -2],
[1, -2, 1]]; integer luma leaves a floor of about 0.2-0.3 on clean content), and ``blockiness``
(see :func:`blockiness`). Signals per pair: ``frame_diff`` (mean absolute luma
difference), ``static`` (0/1), ``brightness_change`` (absolute change of mean luma) and
``brightness_jump`` (0/1). Frames must be at least 3 px on each side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from pydantic import Field

from qualitylab.features.base import Chunk, Extractor, ExtractorConfig
from qualitylab.features.classical._frames import luma, require_min_side

MIN_SIDE = 3
BLOCK = 8
# Luma levels added to both gradient means of blockiness, so that flat content reads 1.
GRADIENT_FLOOR = 1.0

FRAME_MEASURES = (
    "brightness",
    "clipped_share",
    "sharpness",
    "colourfulness",
    "noise",
    "blockiness",
)
PAIR_MEASURES = ("frame_diff", "brightness_change")

_SECOND_DIFFERENCE = np.array([1.0, -2.0, 1.0], np.float32)


class TechnicalConfig(ExtractorConfig):
    """Thresholds of the flags, on 0-255 luma unless stated (see the module table)."""

    dark_threshold: float = Field(40.0, ge=0, le=255)
    clip_level: float = Field(250.0, ge=0, le=255)
    overexposed_share: float = Field(0.25, ge=0, le=1)
    static_threshold: float = Field(1.0, ge=0)
    jump_threshold: float = Field(30.0, ge=0)


def clipped_share(grey: np.ndarray, level: float) -> float:
    """The share of pixels whose luma is at least ``level``."""
    return np.count_nonzero(grey >= level) / grey.size


def laplacian_variance(grey: np.ndarray) -> float:
    """The variance of the 4-neighbour Laplacian of luma."""
    std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_16S, ksize=1))[1]
    return float(std[0, 0]) ** 2


def colourfulness(frame: np.ndarray) -> float:
    """Hasler and Süsstrunk's colourfulness of an RGB ``uint8`` frame (0 for grey)."""
    frame = np.ascontiguousarray(frame)
    red, green, blue = cv2.split(frame)
    mean_red, mean_green, mean_blue = cv2.mean(frame)[:3]
    count = red.size
    # Sums of squared opponent values from squared channel differences, exact in float64:
    # with yb = ((R - B) + (G - B)) / 2 and (R - G) = (R - B) - (G - B),
    # 4 yb² = 2 (R - B)² + 2 (G - B)² - (R - G)².
    rg_sq = cv2.norm(red, green, cv2.NORM_L2SQR)
    yb_sq = (
        2 * cv2.norm(red, blue, cv2.NORM_L2SQR) + 2 * cv2.norm(green, blue, cv2.NORM_L2SQR) - rg_sq
    ) / 4
    mean_rg = mean_red - mean_green
    mean_yb = (mean_red + mean_green) / 2 - mean_blue
    var_rg = max(rg_sq / count - mean_rg**2, 0.0)
    var_yb = max(yb_sq / count - mean_yb**2, 0.0)
    return math.sqrt(var_rg + var_yb) + 0.3 * math.hypot(mean_rg, mean_yb)


def noise_sigma(grey: np.ndarray) -> float:
    """Immerkær's fast estimate of the standard deviation of Gaussian noise in luma."""
    response = cv2.sepFilter2D(grey, cv2.CV_16S, _SECOND_DIFFERENCE, _SECOND_DIFFERENCE)
    total = cv2.norm(response[1:-1, 1:-1], cv2.NORM_L1)
    height, width = grey.shape
    return math.sqrt(math.pi / 2) * total / (6 * (width - 2) * (height - 2))


def _block_gradient_sums(grey: np.ndarray) -> tuple[float, int, float, int]:
    """Sums and counts of the absolute vertical luma steps (row to next row) that cross an
    8-px block boundary and of those inside blocks."""
    steps = cv2.absdiff(grey[1:], grey[:-1])
    total = cv2.sumElems(steps)[0]
    edges = steps[BLOCK - 1 :: BLOCK]
    edge_sum = cv2.sumElems(edges)[0]
    return edge_sum, edges.size, total - edge_sum, steps.size - edges.size


def blockiness(grey: np.ndarray) -> float:
    """How much stronger luma steps are across 8x8 block boundaries than inside blocks.

    The grid starts at the top-left pixel. Steps across boundaries (between pixels 7|8,
    15|16, …) and steps inside blocks are pooled over both directions; the result is
    (mean boundary step + 1) / (mean interior step + 1), with 1 added so that flat content
    reads 1. About 1 means no blocking. A direction shorter than 16 px (two blocks) is
    left out; when both are, the result is 1.
    """
    parts = [
        _block_gradient_sums(oriented)
        for oriented in (grey, cv2.transpose(grey))
        if oriented.shape[0] >= 2 * BLOCK
    ]
    if not parts:
        return 1.0
    edge_sum, edge_count, inner_sum, inner_count = np.sum(parts, axis=0)
    edge_mean = edge_sum / edge_count
    inner_mean = inner_sum / inner_count
    return float((edge_mean + GRADIENT_FLOOR) / (inner_mean + GRADIENT_FLOOR))


def frame_measures(frame: np.ndarray, grey: np.ndarray, clip_level: float) -> tuple[float, ...]:
    """The measures of one frame given its luma, in the order of ``FRAME_MEASURES``."""
    return (
        cv2.mean(grey)[0],
        clipped_share(grey, clip_level),
        laplacian_variance(grey),
        colourfulness(frame),
        noise_sigma(grey),
        blockiness(grey),
    )


def pair_measures(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """Mean absolute luma difference and absolute change of mean luma of two frames."""
    return (
        cv2.mean(cv2.absdiff(before, after))[0],
        abs(cv2.mean(after)[0] - cv2.mean(before)[0]),
    )


class TechnicalExtractor(Extractor):
    """Emits the technical frame signals of each frame and pair signals of each pair."""

    Config = TechnicalConfig
    config: TechnicalConfig

    def process(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """The technical signals of every frame and every pair that ends in this chunk."""
        require_min_side(chunk, MIN_SIDE, "the technical checks")
        frame_rows: list[tuple[float, ...]] = []
        pair_rows: list[tuple[float, float]] = []
        before = None if chunk.previous is None else luma(chunk.previous)
        for frame in chunk.frames:
            grey = luma(frame)
            frame_rows.append(frame_measures(frame, grey, self.config.clip_level))
            if before is not None:
                pair_rows.append(pair_measures(before, grey))
            before = grey
        per_frame = _columns(frame_rows, FRAME_MEASURES)
        per_pair = _columns(pair_rows, PAIR_MEASURES)
        return {**per_frame, **per_pair, **self._flags(per_frame, per_pair)}

    def _flags(
        self, per_frame: dict[str, np.ndarray], per_pair: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        config = self.config
        flags = {
            "dark": per_frame["brightness"] < config.dark_threshold,
            "overexposed": per_frame["clipped_share"] > config.overexposed_share,
            "static": per_pair["frame_diff"] < config.static_threshold,
            "brightness_jump": per_pair["brightness_change"] > config.jump_threshold,
        }
        return {name: flag.astype(np.float32) for name, flag in flags.items()}


def _columns(rows: Sequence[tuple[float, ...]], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    table = np.asarray(rows, np.float32).reshape(len(rows), len(names))
    return {name: table[:, i].copy() for i, name in enumerate(names)}
