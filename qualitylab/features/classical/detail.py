"""Fine detail relative to coarser structure: a sharpness measure that does not depend on
the content's contrast, for frames at the default protocol's canonical size.

Per frame, on BT.601 luma scaled to [0, 1], with Gaussian blurs whose sigmas are fixed
fractions of the frame's short side (at least 0.5 px), so that content resampled to the
canonical size gives the same value whatever its native resolution (tested in
``tests/test_invariance.py``):

- ``fine_detail``: mean |luma - blur(luma, s/256)| / mean |blur(luma, s/256) -
  blur(luma, s/64)|, the energy of the finest scale against the next coarser band, where
  s is the short side. Blur lowers it, noise and over-sharpening raise it; a uniform
  change of contrast leaves it alone.
- ``crushed_share``: the share of pixels at or below luma 5 of 255 (crushed blacks), the
  dark counterpart of ``technical.clipped_share``.
"""

from __future__ import annotations

import cv2
import numpy as np

from qualitylab.features.base import Chunk, Extractor, ExtractorConfig
from qualitylab.features.classical._frames import luma, require_min_side

SIGNALS = ("fine_detail", "crushed_share")
MIN_SIDE = 16
_FINE, _COARSE = 1 / 256, 1 / 64
_CRUSHED_LEVEL = 5
_EPSILON = 1e-6


def fine_detail(grey: np.ndarray) -> float:
    """The finest scale's energy against the next coarser band of a ``uint8`` luma image."""
    unit = grey.astype(np.float32) / 255
    short = min(unit.shape)
    fine = cv2.GaussianBlur(unit, (0, 0), max(short * _FINE, 0.5))
    coarse = cv2.GaussianBlur(unit, (0, 0), short * _COARSE)
    band_fine = float(np.abs(unit - fine).mean())
    band_coarse = float(np.abs(fine - coarse).mean())
    return band_fine / (band_coarse + _EPSILON)


class DetailExtractor(Extractor):
    """Emits ``fine_detail`` and ``crushed_share`` for every frame."""

    Config = ExtractorConfig

    def process(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """The detail signals of every frame of the chunk."""
        require_min_side(chunk, MIN_SIDE, "the detail extractor")
        greys = [luma(frame) for frame in chunk.frames]
        return {
            "fine_detail": np.array([fine_detail(g) for g in greys], np.float32),
            "crushed_share": np.array(
                [np.count_nonzero(g <= _CRUSHED_LEVEL) / g.size for g in greys], np.float32
            ),
        }
