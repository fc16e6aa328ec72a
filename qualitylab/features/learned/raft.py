"""Optical flow of neighbouring frames with torchvision's RAFT (large, ``C_T_SKHT_V2``
weights), reduced to the same 18 signals as the offline ``flow`` extractor.

Each pair runs from the earlier frame to the later one, through the weights' own
preprocessing (``Raft_Large_Weights.C_T_SKHT_V2.transforms()``: RGB scaled to [-1, 1]).
RAFT needs sides that are multiples of 8, so both frames are padded on the right and at
the bottom by repeating their last column and row, and the flow of the padding is cut off
again: the flow keeps the frame's size and is in its pixels. With ``max_side`` the frames
are first area-downscaled as in the ``flow`` extractor, and the flow is in pixels of the
downscaled frame. RAFT refines its flow ``num_flow_updates`` times (torchvision's default,
12); the last estimate is used. Frames must be at least 128 px on each side after any
downscaling (RAFT's correlation pyramid needs it).

The signals are those of :mod:`qualitylab.features.classical.flow` (``flow``,
``magnitude`` and ``angle = atan2(flow_x, flow_y)``, each reduced over pixels by sum,
median, mean, std, min and max), computed in float32 by the same functions. fp16 and
bf16 run the model under ``torch.autocast`` with its weights in float32: RAFT's
coordinate grids are float32 and cannot be mixed with half-precision weights.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torchvision.models.optical_flow import Raft_Large_Weights, raft_large

from qualitylab.features.base import Chunk, ExtractorSpec
from qualitylab.features.classical.flow import SIGNALS, flow_reductions, processed_size
from qualitylab.features.learned.runtime import LearnedConfig, LearnedExtractor, weight_file

WEIGHTS = Raft_Large_Weights.C_T_SKHT_V2
WEIGHTS_KEY = "raft_large"
CHECKPOINT = "raft_large_C_T_SKHT_V2-ff5fadd5.pth"
MIN_SIDE = min(WEIGHTS.meta["min_size"])
STRIDE = 8


class RAFTConfig(LearnedConfig):
    """RAFT's refinement steps and an optional downscale, besides device, precision and
    batch size (pairs per forward pass)."""

    num_flow_updates: int = Field(12, ge=1)
    max_side: int | None = Field(None, ge=MIN_SIDE)


def load_raft(device: torch.device) -> torch.nn.Module:
    """torchvision's RAFT large with the ``C_T_SKHT_V2`` checkpoint, in eval mode on
    ``device``; FileNotFoundError when the checkpoint is not on this machine."""
    state_dict = torch.load(
        weight_file(WEIGHTS_KEY, CHECKPOINT), map_location="cpu", weights_only=True
    )
    model = raft_large(weights=None)
    model.load_state_dict(state_dict)
    return model.eval().to(device)


def padding(height: int, width: int) -> tuple[int, int, int, int]:
    """The ``F.pad`` widths (left, right, top, bottom) that bring a frame of ``height`` x
    ``width`` to multiples of 8 by adding columns on the right and rows at the bottom."""
    return 0, -width % STRIDE, 0, -height % STRIDE


class RAFTExtractor(LearnedExtractor):
    """Emits the 18 ``<quantity>_<reduction>`` RAFT flow signals of each neighbouring pair."""

    Config = RAFTConfig
    config: RAFTConfig

    def __init__(self, spec: ExtractorSpec, config: RAFTConfig) -> None:
        super().__init__(spec, config)
        self.transforms = WEIGHTS.transforms()
        self.model = load_raft(self.device)

    def process(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """The flow signals of every pair that ends in this chunk."""
        height, width = processed_size(*chunk.frames.shape[1:3], self.config.max_side)
        if min(height, width) < MIN_SIDE:
            raise ValueError(
                f"RAFT needs frames of at least {MIN_SIDE}x{MIN_SIDE} px; got {width}x{height} "
                f"(width x height, after any downscaling)"
            )
        rows = [
            flow_reductions(flow) for window in self._windows(chunk) for flow in self._flows(window)
        ]
        table = np.asarray(rows, np.float32).reshape(len(rows), len(SIGNALS))
        return {name: table[:, i].copy() for i, name in enumerate(SIGNALS)}

    def _windows(self, chunk: Chunk) -> Iterator[np.ndarray]:
        """Runs of at most ``batch_size + 1`` consecutive frames, downscaled when asked,
        whose neighbouring pairs are the chunk's pairs batch by batch."""
        frames = list(chunk.frames) if chunk.previous is None else [chunk.previous, *chunk.frames]
        frames = [self._downscaled(frame) for frame in frames]
        step = self.config.batch_size
        for start in range(0, len(frames) - 1, step):
            yield np.stack(frames[start : start + step + 1])

    def _downscaled(self, frame: np.ndarray) -> np.ndarray:
        height, width = processed_size(*frame.shape[:2], self.config.max_side)
        if (height, width) == frame.shape[:2]:
            return np.ascontiguousarray(frame)
        return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)

    @torch.inference_mode()
    def _flows(self, window: np.ndarray) -> list[np.ndarray]:
        """The [H, W, 2] float32 flow of each neighbouring pair of a run of frames."""
        height, width = window.shape[1:3]
        images = torch.from_numpy(window).to(self.device).permute(0, 3, 1, 2)
        before, after = self.transforms(images[:-1], images[1:])
        pad = padding(height, width)
        before = F.pad(before, pad, mode="replicate")
        after = F.pad(after, pad, mode="replicate")
        with torch.autocast(self.device.type, self.dtype, enabled=self.dtype != torch.float32):
            flow = self.model(before, after, num_flow_updates=self.config.num_flow_updates)[-1]
        fields = flow[:, :, :height, :width].float().permute(0, 2, 3, 1).cpu().numpy()
        return [np.ascontiguousarray(field) for field in fields]
