"""Shared helpers of the classical extractors: grey conversions, size checks, pair walking.

Two grey conventions are used, each fixed:

- ``unit_grey``: scikit-image's ``rgb2gray`` (BT.709 luminance weights 0.2125 R + 0.7154 G
  + 0.0721 B on RGB scaled to [0, 1]), as ``float32``. SSIM uses it so that it matches
  ``skimage.metrics.structural_similarity`` on ``rgb2gray`` frames.
- ``luma``: ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B, rounded to ``uint8`` 0-255,
  exactly as ``cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)``. Optical flow and the technical
  checks use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import cv2
import numpy as np

from qualitylab.features.base import Chunk

_UNIT_GREY_WEIGHTS = np.array([[0.2125, 0.7154, 0.0721]], np.float32) / np.float32(255)

Prepared = TypeVar("Prepared")
Compared = TypeVar("Compared")


def unit_grey(frame: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """The [H, W] ``float32`` grey image in [0, 1] of an RGB ``uint8`` frame, with
    scikit-image's ``rgb2gray`` weights, minus ``offset``."""
    weights = np.append(_UNIT_GREY_WEIGHTS, np.float32(-offset))[None]
    return cv2.transform(frame.astype(np.float32, order="C"), weights)


def luma(frame: np.ndarray) -> np.ndarray:
    """The [H, W] ``uint8`` BT.601 luma of an RGB ``uint8`` frame."""
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def require_min_side(chunk: Chunk, minimum: int, what: str) -> None:
    """Raise ValueError when the chunk's frames are smaller than ``minimum`` px on a side."""
    height, width = chunk.frames.shape[1:3]
    if min(height, width) < minimum:
        raise ValueError(
            f"{what} needs frames of at least {minimum}x{minimum} px; got {width}x{height} "
            f"(width x height)"
        )


def map_pairs(
    chunk: Chunk,
    prepare: Callable[[np.ndarray], Prepared],
    compare: Callable[[Prepared, Prepared], Compared],
) -> list[Compared]:
    """``compare`` applied to every neighbouring pair of the chunk, in order, with
    ``prepare`` applied once to each frame involved (the previous frame included).

    Only the last prepared frame is kept, so memory does not grow with the chunk.
    """
    results: list[Compared] = []
    before = None if chunk.previous is None else prepare(chunk.previous)
    for frame in chunk.frames:
        current = prepare(frame)
        if before is not None:
            results.append(compare(before, current))
        before = current
    return results
