"""SSIM of neighbouring frames in grey, equal to scikit-image's ``structural_similarity``.

Grey is scikit-image's ``rgb2gray`` (0.2125 R + 0.7154 G + 0.0721 B on [0, 1]) and the
SSIM settings are ``structural_similarity``'s defaults with ``data_range=1.0``: a 7x7
uniform window, K1 = 0.01, K2 = 0.03, sample covariance (49/48), and the mean of the SSIM
map without its 3-px border. Local variances and covariances are formed in float64 (to
avoid cancellation on flat regions), everything else in float32; values agree with
scikit-image within 1e-6 in practice (1e-4 is tested). Frames must be at least 7 px on
each side, as in scikit-image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from qualitylab.features.base import Chunk, Extractor, ExtractorConfig
from qualitylab.features.classical._frames import map_pairs, require_min_side, unit_grey

WINDOW = 7
_PAD = (WINDOW - 1) // 2
_COV_NORM = WINDOW**2 / (WINDOW**2 - 1)
_C1 = 0.01**2
_C2 = 0.03**2


@dataclass(frozen=True)
class FrameMoments:
    """One frame's grey image and its local statistics over the SSIM window.

    The local mean is kept in float64 for the covariance with the other frame of a pair;
    the variance is computed in float64 and stored, like the rest, in float32.
    """

    grey: np.ndarray
    mean64: np.ndarray
    mean: np.ndarray
    mean_sq: np.ndarray
    variance: np.ndarray


def frame_moments(frame: np.ndarray) -> FrameMoments:
    """The SSIM statistics of one RGB ``uint8`` frame."""
    grey = unit_grey(frame)
    mean64 = cv2.boxFilter(grey, cv2.CV_64F, (WINDOW, WINDOW))
    mean_sq64 = cv2.multiply(mean64, mean64)
    mean_of_sq64 = cv2.sqrBoxFilter(grey, cv2.CV_64F, (WINDOW, WINDOW))
    variance = cv2.addWeighted(
        mean_of_sq64, _COV_NORM, mean_sq64, -_COV_NORM, 0.0, dtype=cv2.CV_32F
    )
    return FrameMoments(
        grey, mean64, mean64.astype(np.float32), mean_sq64.astype(np.float32), variance
    )


def ssim_from_moments(a: FrameMoments, b: FrameMoments) -> float:
    """The mean SSIM of two frames given their statistics."""
    window = (WINDOW, WINDOW)
    cross64 = cv2.boxFilter(cv2.multiply(a.grey, b.grey, dtype=cv2.CV_64F), -1, window)
    mean_ab64 = cv2.multiply(a.mean64, b.mean64)
    structure = cv2.addWeighted(
        cross64, 2 * _COV_NORM, mean_ab64, -2 * _COV_NORM, _C2, dtype=cv2.CV_32F
    )
    luminance = cv2.multiply(a.mean, b.mean, scale=2.0)
    luminance += _C1
    numerator = cv2.multiply(luminance, structure)
    luminance_norm = cv2.add(a.mean_sq, b.mean_sq)
    luminance_norm += _C1
    contrast_norm = cv2.add(a.variance, b.variance)
    contrast_norm += _C2
    ssim_map = cv2.divide(numerator, cv2.multiply(luminance_norm, contrast_norm))
    return cv2.mean(ssim_map[_PAD:-_PAD, _PAD:-_PAD])[0]


def ssim(frame_a: np.ndarray, frame_b: np.ndarray) -> float:
    """The mean SSIM of two RGB ``uint8`` frames of equal size, in grey."""
    return ssim_from_moments(frame_moments(frame_a), frame_moments(frame_b))


class SSIMConfig(ExtractorConfig):
    """No settings: the window and constants are scikit-image's defaults."""


class SSIMExtractor(Extractor):
    """Emits ``adjacent``: the SSIM of each neighbouring pair of frames, in grey."""

    Config = SSIMConfig

    def process(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """SSIM of every pair that ends in this chunk."""
        require_min_side(chunk, WINDOW, "SSIM")
        values = map_pairs(chunk, frame_moments, ssim_from_moments)
        return {"adjacent": np.asarray(values, np.float32)}
