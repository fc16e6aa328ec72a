"""Motion in resolution- and time-normalised units, and how well the motion explains the
next frame: the default protocol's motion extractor.

For each pair of neighbouring frames, DIS optical flow (OpenCV, ``fast`` preset by
default) runs from the earlier frame to the later one on BT.601 luma. With ``diagonal``
the frame diagonal in pixels and ``dt`` the seconds between the two frames' timestamps:

- ``speed_mean``, ``speed_median``, ``speed_p90``, ``speed_std``: the per-pixel flow
  magnitude in frame diagonals per second (``|flow| / diagonal / dt``), reduced over
  pixels by mean, median, 90th percentile and standard deviation (ddof=0). A pan across
  the whole frame width in 4 s reads about 0.2.
- ``coherence``: ``|mean flow| / mean |flow|`` in [0, 1]: 1 when every pixel moves alike
  (a pan), near 0 for a zoom, a shake of parts against each other, or no motion.
- ``warp_error``: the mean absolute luma difference, on a 0-1 scale, between the earlier
  frame and the later frame warped back onto it by the flow, over the pixels whose
  flow stays inside the frame: what the motion does not explain (warping, morphing,
  appearing and vanishing content, noise).
- ``flicker``: the same difference low-passed by a Gaussian of sigma = short side / 16
  before its absolute mean: brightness that changes over regions rather than at edges,
  after motion is compensated.

The flow is in pixels of the analysed frames, so every signal is a per-pixel mean or
percentile and does not grow with resolution; speeds are per second, so they do not
depend on the frame rate. ``warp_error`` and ``flicker`` compare neighbouring frames and
are therefore read at the protocol's canonical frame rate. Frames must be at least 12 px
on each side and the chunk must carry timestamps.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from qualitylab.features.base import Chunk, Extractor, ExtractorConfig
from qualitylab.features.classical._frames import luma, map_pairs, require_min_side
from qualitylab.features.classical.flow import MIN_SIDE, FlowConfig, compute_flow

SIGNALS = (
    "speed_mean",
    "speed_median",
    "speed_p90",
    "speed_std",
    "coherence",
    "warp_error",
    "flicker",
)
# Below this mean magnitude (pixels) a pair has no motion to be coherent or not.
_STILL_PIXELS = 1e-3
_LOW_PASS_FRACTION = 1 / 16


class MotionConfig(ExtractorConfig):
    """The DIS preset the flow runs with."""

    dis_preset: Literal["ultrafast", "fast", "medium"] = "fast"


def warp_back(after: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``after`` (float32 [H, W]) sampled where the flow from the earlier frame points,
    and the mask of pixels whose target lies inside the frame."""
    height, width = after.shape
    grid_x, grid_y = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    map_x = grid_x + flow[..., 0]
    map_y = grid_y + flow[..., 1]
    warped = cv2.remap(after, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    return warped, inside


def pair_motion(
    before: np.ndarray, after: np.ndarray, seconds: float, config: FlowConfig
) -> tuple[float, ...]:
    """The motion signals of one pair of ``uint8`` luma images taken ``seconds`` apart,
    in the order of ``SIGNALS``."""
    if not seconds > 0:
        raise ValueError(f"frames {seconds} s apart: timestamps must increase")
    flow = compute_flow(before, after, config)
    height, width = before.shape
    magnitude = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
    speed = magnitude / (np.hypot(height, width) * seconds)
    p50, p90 = np.percentile(speed, [50, 90])
    mean_magnitude = float(magnitude.mean())
    drift = float(np.hypot(flow[..., 0].mean(), flow[..., 1].mean()))
    coherence = drift / mean_magnitude if mean_magnitude > _STILL_PIXELS else 0.0
    warped, inside = warp_back(after.astype(np.float32) / 255, flow)
    difference = warped - before.astype(np.float32) / 255
    warp_error = float(np.abs(difference[inside]).mean()) if inside.any() else 0.0
    sigma = min(height, width) * _LOW_PASS_FRACTION
    low = cv2.GaussianBlur(np.where(inside, difference, 0).astype(np.float32), (0, 0), sigma)
    flicker = float(np.abs(low).mean())
    return (
        float(speed.mean()),
        float(p50),
        float(p90),
        float(speed.std()),
        min(coherence, 1.0),
        warp_error,
        flicker,
    )


class MotionExtractor(Extractor):
    """Emits the normalised motion signals of each neighbouring pair (see the module)."""

    Config = MotionConfig
    config: MotionConfig

    def process(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """The motion signals of every pair that ends in this chunk."""
        require_min_side(chunk, MIN_SIDE, "the motion extractor")
        intervals = iter(chunk.pair_intervals())
        flow_config = FlowConfig(method="dis", dis_preset=self.config.dis_preset)
        rows = map_pairs(
            chunk,
            luma,
            lambda before, after: pair_motion(before, after, next(intervals), flow_config),
        )
        table = np.asarray(rows, np.float32).reshape(len(rows), len(SIGNALS))
        return {name: table[:, i].copy() for i, name in enumerate(SIGNALS)}
