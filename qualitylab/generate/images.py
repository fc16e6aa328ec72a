"""Frame helpers shared by the generation backends: fitting an image to a clip's size and
turning float frames into ``uint8``."""

from __future__ import annotations

import numpy as np
from PIL import Image


def fit_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to cover ``width`` x ``height`` and centre-cropped to it."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    source = Image.fromarray(image)
    scale = max(width / source.width, height / source.height)
    size = (max(width, round(source.width * scale)), max(height, round(source.height * scale)))
    scaled = source.resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return np.asarray(scaled.crop((left, top, left + width, top + height)).convert("RGB"))


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] as ``uint8`` in [0, 255] (rounded, clipped)."""
    return np.clip(np.round(np.asarray(frames, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
