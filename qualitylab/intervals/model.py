"""The sequence model: per-frame defect probabilities from per-frame signals, learned.

Each frame's inputs (:func:`qualitylab.intervals.inputs.frame_inputs`, standardised with
the training frames' mean and standard deviation) pass through a per-frame linear layer,
``levels`` residual 1-D convolutions over time (kernel ``kernel``, dilations 1, 2, 4, …:
with the defaults each frame sees 29 frames around it) and a per-frame linear layer to
one logit per defect; training minimises the binary cross-entropy of every frame and
defect (AdamW, full batch, clips padded and masked). It is small and runs on one CPU
thread.

Saved as ``detector.json`` (the config, the input names and the standardisation) beside
``detector.safetensors`` (the weights).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors.torch import load_file, save_file
from torch import nn

from qualitylab.atomic import write_text
from qualitylab.intervals.core import Postprocess
from qualitylab.intervals.inputs import DEFECTS, ClipSignals, frame_inputs, input_names, labels

CONFIG_FILE = "detector.json"
WEIGHTS_FILE = "detector.safetensors"


class SequenceConfig(BaseModel):
    """The sequence model's size and training settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: int = Field(32, ge=1)
    kernel: int = Field(5, ge=1)
    levels: int = Field(3, ge=1)
    epochs: int = Field(200, ge=1)
    learning_rate: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    seed: int = Field(0, ge=0)


class _Network(nn.Module):
    def __init__(self, n_inputs: int, n_outputs: int, config: SequenceConfig) -> None:
        super().__init__()
        self.embed = nn.Conv1d(n_inputs, config.hidden, 1)
        self.blocks = nn.ModuleList(
            nn.Conv1d(
                config.hidden,
                config.hidden,
                config.kernel,
                dilation=2**level,
                padding=2**level * (config.kernel // 2),
            )
            for level in range(config.levels)
        )
        self.head = nn.Conv1d(config.hidden, n_outputs, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.embed(inputs.transpose(1, 2)))
        for block in self.blocks:
            hidden = hidden + torch.relu(block(hidden))
        return self.head(hidden).transpose(1, 2)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread: for a model this small, more threads only wait on each
    other (many times slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass(eq=False)
class SequenceDetector:
    """Holds a trained sequence model, the standardisation of its inputs and how its
    probabilities become intervals."""

    kind = "sequence"
    defects = list(DEFECTS)

    config: SequenceConfig
    network: _Network
    mean: np.ndarray
    std: np.ndarray
    post: Postprocess = Postprocess()

    def probabilities(self, clip: ClipSignals) -> np.ndarray:
        """Per-frame probability of each defect, ``[frames, len(DEFECTS)]``."""
        inputs = (frame_inputs(clip.signals, clip.n_frames) - self.mean) / self.std
        self.network.eval()
        with torch.no_grad(), _one_thread():
            logits = self.network(torch.from_numpy(inputs[None].astype(np.float32)))
        return torch.sigmoid(logits[0]).numpy()

    def save(self, out_dir: str | Path) -> Path:
        """Write the model into ``out_dir`` and return the directory."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        save_file(
            {key: value.contiguous() for key, value in self.network.state_dict().items()},
            out_dir / WEIGHTS_FILE,
        )
        record = {
            "kind": self.kind,
            "config": self.config.model_dump(),
            "post": self.post.model_dump(),
            "defects": list(DEFECTS),
            "inputs": input_names(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }
        write_text(out_dir / CONFIG_FILE, json.dumps(record, indent=2) + "\n")
        return out_dir


def load_sequence_detector(model_dir: str | Path) -> SequenceDetector:
    """The sequence model saved in ``model_dir``; ValueError when it was saved for other
    inputs or defects than this version reads."""
    model_dir = Path(model_dir)
    record = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    if record.get("inputs") != input_names() or record.get("defects") != list(DEFECTS):
        raise ValueError(
            f"{model_dir}: the detector was trained on other inputs or defects than this "
            "version of qualitylab reads; train it again"
        )
    config = SequenceConfig(**record["config"])
    network = _Network(len(record["inputs"]), len(DEFECTS), config)
    network.load_state_dict(load_file(model_dir / WEIGHTS_FILE))
    return SequenceDetector(
        config,
        network,
        np.asarray(record["mean"], np.float32),
        np.asarray(record["std"], np.float32),
    )


def train_sequence_detector(
    clips: Sequence[ClipSignals],
    config: SequenceConfig = SequenceConfig(),
    post: Postprocess = Postprocess(),
) -> SequenceDetector:
    """A sequence model trained on labelled ``clips`` (deterministic for a ``config.seed``)."""
    if not clips:
        raise ValueError("training the sequence model needs at least one labelled clip")
    torch.manual_seed(config.seed)
    inputs = [frame_inputs(clip.signals, clip.n_frames) for clip in clips]
    targets = [labels(clip.truth, clip.n_frames) for clip in clips]
    stacked = np.concatenate(inputs)
    mean = stacked.mean(axis=0).astype(np.float32)
    std = (stacked.std(axis=0) + 1e-6).astype(np.float32)
    longest = max(len(x) for x in inputs)
    batch = np.zeros((len(clips), longest, stacked.shape[1]), np.float32)
    target = np.zeros((len(clips), longest, len(DEFECTS)), np.float32)
    mask = np.zeros((len(clips), longest, 1), np.float32)
    for row, (x, y) in enumerate(zip(inputs, targets, strict=True)):
        batch[row, : len(x)] = (x - mean) / std
        target[row, : len(y)] = y
        mask[row, : len(x)] = 1
    network = _Network(stacked.shape[1], len(DEFECTS), config)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    x, y, m = torch.from_numpy(batch), torch.from_numpy(target), torch.from_numpy(mask)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    network.train()
    with _one_thread():
        for _ in range(config.epochs):
            optimiser.zero_grad()
            loss = (loss_fn(network(x), y) * m).sum() / (m.sum() * len(DEFECTS))
            loss.backward()
            optimiser.step()
    return SequenceDetector(config, network, mean, std, post)
