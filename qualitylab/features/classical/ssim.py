"""SSIM of neighbouring frames in grey, equal to scikit-image's ``structural_similarity``.

Grey is scikit-image's ``rgb2gray`` (0.2125 R + 0.7154 G + 0.0721 B on [0, 1]) and the
SSIM settings are ``structural_similarity``'s defaults with ``data_range=1.0``: a 7x7
uniform window, K1 = 0.01, K2 = 0.03, sample covariance (49/48), and the mean of the SSIM
map without its 3-px border. Everything is computed in float32 (the window sums in float64
inside OpenCV's box filter), with grey centred on 0.5 for the variances; values agree with
scikit-image within a few 1e-6 (at most 3.5e-6 on the shared real set, 1.4e-6 on the
synthetic flat regions of the tests, where float32 variances cancel most; 1e-4 is tested). Frames must be at least 7 px on
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
# Subtracted from grey before the variances: the float32 error of E[x²] - E[x]² grows
# with x², which centring keeps at most 0.25 instead of 1.
_CENTRE = 0.5


@dataclass(frozen=True)
class FrameMoments:
    """One frame's statistics over the SSIM window (float32): its grey image and local
    mean both less ``_CENTRE`` (for the variances), the local mean, its square and the
    local variance."""

    centred: np.ndarray
    centred_mean: np.ndarray
    mean: np.ndarray
    mean_sq: np.ndarray
    variance: np.ndarray


def frame_moments(frame: np.ndarray) -> FrameMoments:
    """The SSIM statistics of one RGB ``uint8`` frame.

    They are formed by the same operations as the pair's in :func:`ssim_from_moments`, so
    that identical frames give exactly 1.
    """
    centred = unit_grey(frame, _CENTRE)
    centred_mean = _window_mean(centred)
    mean = centred_mean + np.float32(_CENTRE)
    variance = _covariance(centred, centred, centred_mean, centred_mean)
    return FrameMoments(centred, centred_mean, mean, cv2.multiply(mean, mean), variance)


def ssim_from_moments(a: FrameMoments, b: FrameMoments) -> float:
    """The mean SSIM of two frames given their statistics."""
    covariance = _covariance(a.centred, b.centred, a.centred_mean, b.centred_mean)
    structure = cv2.addWeighted(covariance, 2.0, covariance, 0.0, _C2)
    mean_ab = cv2.multiply(a.mean, b.mean)
    luminance = cv2.addWeighted(mean_ab, 2.0, mean_ab, 0.0, _C1)
    numerator = cv2.multiply(luminance, structure)
    luminance_norm = cv2.addWeighted(a.mean_sq, 1.0, b.mean_sq, 1.0, _C1)
    contrast_norm = cv2.addWeighted(a.variance, 1.0, b.variance, 1.0, _C2)
    ssim_map = cv2.divide(numerator, cv2.multiply(luminance_norm, contrast_norm))
    return cv2.mean(ssim_map[_PAD:-_PAD, _PAD:-_PAD])[0]


def _window_mean(image: np.ndarray) -> np.ndarray:
    """The mean of ``image`` over the window around each pixel (summed in float64)."""
    return cv2.boxFilter(image, -1, (WINDOW, WINDOW))


def _covariance(
    grey_a: np.ndarray, grey_b: np.ndarray, mean_a: np.ndarray, mean_b: np.ndarray
) -> np.ndarray:
    """The local sample covariance of two grey images given their local means."""
    mean_of_product = _window_mean(cv2.multiply(grey_a, grey_b))
    product_of_means = cv2.multiply(mean_a, mean_b)
    return cv2.addWeighted(mean_of_product, _COV_NORM, product_of_means, -_COV_NORM, 0.0)


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
