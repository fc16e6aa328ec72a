"""What a generation backend does: draw a keyframe from a prompt and animate a keyframe
into a clip. The in-process diffusers backend and the ComfyUI client both implement
:class:`Backend`; :func:`make_backend` picks one from the settings."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from PIL import Image

from qualitylab.generate.settings import GenerateSettings


class Backend(Protocol):
    """Makes keyframes and clips; images are RGB ``uint8`` arrays ``[H, W, 3]``."""

    name: str

    def describe(self) -> dict[str, Any]:
        """What the backend runs (models and revisions, or server and workflows), for
        ``run.json``."""
        ...

    def prepare(self) -> None:
        """Load the models or reach the server; GenerationError when that is impossible."""
        ...

    def keyframe(
        self,
        prompt: str,
        seed: int,
        init_image: np.ndarray | None = None,
    ) -> np.ndarray:
        """A keyframe for ``prompt`` at the keyframe size; with ``init_image``, that image
        redrawn towards the prompt (image-to-image at the chain strength)."""
        ...

    def clip(self, image: np.ndarray, seed: int, prompt: str = "") -> np.ndarray:
        """``num_frames`` frames ``[T, H, W, 3]`` at the clip size animating ``image``;
        ``prompt`` is the scene's prompt, for backends whose video model reads text."""
        ...


def make_backend(settings: GenerateSettings) -> Backend:
    """The backend the settings name, not yet prepared."""
    if settings.backend == "comfyui":
        from qualitylab.generate.comfyui import ComfyUIBackend

        return ComfyUIBackend(settings)
    from qualitylab.generate.diffusers_backend import DiffusersBackend

    return DiffusersBackend(settings)


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
