"""LPIPS perceptual distance of neighbouring frames (Zhang et al. 2018) with the ``lpips``
package: AlexNet trunk, version 0.1 linear layers.

The model is ``lpips.LPIPS(net="alex")``: its linear layers are the calibrated ones that
ship inside the ``lpips`` package, and its AlexNet trunk gets torchvision's ImageNet
checkpoint (``alexnet-owt-7be5be79.pth``) from the ``lpips_alex`` weights, read from disk
rather than downloaded. Frames go in at their own size, RGB scaled to [-1, 1] by LPIPS's
own ``normalize`` option; 0 means identical frames. Frames must be at least 31 px on each
side (AlexNet's pooling needs it). fp16 and bf16 run the model under ``torch.autocast``,
which keeps LPIPS's feature normalisation (sums of squares) in float32.
"""

from __future__ import annotations

import warnings

import lpips
import numpy as np
import torch
from torchvision.models import alexnet

from qualitylab.features.base import Chunk, ExtractorSpec
from qualitylab.features.learned.runtime import LearnedConfig, LearnedExtractor, weight_file

WEIGHTS_KEY = "lpips_alex"
CHECKPOINT = "alexnet-owt-7be5be79.pth"
MIN_SIDE = 31


class LPIPSConfig(LearnedConfig):
    """Device, precision and batch size (pairs per forward pass); LPIPS itself has no
    settings here: AlexNet, version 0.1."""


def load_lpips(device: torch.device) -> lpips.LPIPS:
    """LPIPS (AlexNet, v0.1) with torchvision's AlexNet checkpoint as its trunk, in eval
    mode on ``device``; FileNotFoundError when the checkpoint is not on this machine."""
    checkpoint = torch.load(
        weight_file(WEIGHTS_KEY, CHECKPOINT), map_location="cpu", weights_only=True
    )
    # Built on the meta device, so that the checkpoint is checked without a random init.
    with torch.device("meta"):
        trunk = alexnet(weights=None)
    trunk.load_state_dict(checkpoint, assign=True)
    with warnings.catch_warnings():
        # lpips builds its random trunk with torchvision's deprecated ``pretrained=False``.
        warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
        model = lpips.LPIPS(
            net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False
        )
    # The trunk's slices hold AlexNet's feature layers under their indices in ``features``.
    for part in model.net.children():
        for index, layer in part.named_children():
            layer.load_state_dict(trunk.features[int(index)].state_dict())
    return model.eval().to(device)


class LPIPSExtractor(LearnedExtractor):
    """Emits ``adjacent``: the LPIPS distance of each neighbouring pair of frames."""

    Config = LPIPSConfig
    config: LPIPSConfig

    def __init__(self, spec: ExtractorSpec, config: LPIPSConfig) -> None:
        super().__init__(spec, config)
        self.model = load_lpips(self.device)

    def process(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """LPIPS of every pair that ends in this chunk."""
        height, width = chunk.frames.shape[1:3]
        if min(height, width) < MIN_SIDE:
            raise ValueError(
                f"LPIPS needs frames of at least {MIN_SIDE}x{MIN_SIDE} px; got {width}x{height} "
                f"(width x height)"
            )
        frames = chunk.frames if chunk.previous is None else [chunk.previous, *chunk.frames]
        step = self.config.batch_size
        distances = [
            self._distances(np.stack(frames[start : start + step + 1]))
            for start in range(0, len(frames) - 1, step)
        ]
        return {"adjacent": np.concatenate([np.zeros(0, np.float32), *distances])}

    @torch.inference_mode()
    def _distances(self, window: np.ndarray) -> np.ndarray:
        """The float32 LPIPS of each neighbouring pair of a run of frames."""
        images = torch.from_numpy(window).to(self.device).permute(0, 3, 1, 2).float() / 255
        with torch.autocast(self.device.type, self.dtype, enabled=self.dtype != torch.float32):
            distance = self.model(images[:-1], images[1:], normalize=True)
        return distance.float().reshape(-1).cpu().numpy()
