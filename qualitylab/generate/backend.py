"""What a generation backend does: draw a keyframe from a prompt and animate a keyframe
into a clip. The in-process diffusers backend and the ComfyUI client both implement
:class:`Backend`; :func:`make_backend` picks one from the settings."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

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
