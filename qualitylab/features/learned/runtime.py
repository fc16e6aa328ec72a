"""What every learned extractor shares: its device, precision and batch size, and where its
pretrained weights are read from.

Settings: ``device`` (auto, cpu, cuda, mps), ``precision`` (auto, fp32, fp16, bf16) and
``batch_size``; ``auto`` is resolved by :mod:`qualitylab.device`. :meth:`LearnedConfig.resolved` turns
``auto`` into the concrete choice before a run, so the run record says what ran. The device
and batch size do not change the signals (batched equals one-by-one is tested) and are
left out of the store's config hash; the precision does change them and is part of it.

Weights are never downloaded here. :func:`require_weights` is called before a run starts
and fails with one message naming every missing model and the command that fetches it;
:func:`model_directory` and :func:`weight_file` then give the on-disk paths the loaders
read: a local copy under ``$QUALITYLAB_HOME/weights/<key>`` first, else the Hugging Face
or torch hub cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from qualitylab.device import Device, Precision, resolve, torch_dtype
from qualitylab.errors import QualitylabError
from qualitylab.features.base import Extractor, ExtractorConfig, ExtractorSpec
from qualitylab.weights import Availability, HubRepo, availability, find_model

if TYPE_CHECKING:
    import torch


class LearnedConfig(ExtractorConfig):
    """Settings every learned extractor has: where it runs, in which precision, and how
    many frames go through the model at once."""

    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({"device", "batch_size"})

    device: Device = "auto"
    precision: Precision = "auto"
    batch_size: int = Field(16, ge=1)

    def resolved(self) -> LearnedConfig:
        """This config with ``auto`` replaced by the device and precision that will run;
        ValueError when the device is not available or the precision cannot run on it."""
        device, precision = resolve(self.device, self.precision)
        return self.model_copy(update={"device": device, "precision": precision})

    def torch_device(self) -> torch.device:
        """The torch device this config runs on."""
        import torch

        return torch.device(self.resolved().device)

    def torch_dtype(self) -> torch.dtype:
        """The torch dtype this config runs in."""
        return torch_dtype(self.resolved().precision)


class MissingWeightsError(QualitylabError, RuntimeError):
    """Pretrained weights an extractor needs are not on this machine."""


def require_weights(keys_by_extractor: dict[str, tuple[str, ...]]) -> None:
    """Check that the weights of every extractor are on disk; MissingWeightsError names
    each extractor whose weights are missing and the commands that fetch them."""
    lines = []
    for extractor, keys in keys_by_extractor.items():
        for key in keys:
            found = availability(find_model(key))
            if not found.present:
                commands = "; ".join(found.fetch_commands())
                lines.append(
                    f"  {extractor}: weights {key!r} are missing. Fetch them with "
                    f"`{found.download_command}` (or: {commands}), or copy them into "
                    f"{found.model.local_dir()} with `qualitylab weights import {key} DIR`"
                )
    if lines:
        raise MissingWeightsError(
            "pretrained weights are missing, so nothing was extracted:\n" + "\n".join(lines)
        )


def model_directory(key: str) -> Path:
    """The directory a model loader reads for ``key``: the local copy when there is one,
    else the Hugging Face cache snapshot of its repository. FileNotFoundError otherwise."""
    found = _on_disk(key)
    if found.local:
        return found.model.local_dir()
    for artifact, location in zip(found.model.artifacts, found.locations):
        if isinstance(artifact, HubRepo):
            return artifact.snapshot_dir(location)
    raise FileNotFoundError(f"weights {key!r} are files, not a model directory")


def weight_file(key: str, filename: str) -> Path:
    """The path of one file of ``key``'s weights: in the local copy when there is one, else
    in the Hugging Face or torch hub cache. FileNotFoundError otherwise."""
    found = _on_disk(key)
    if found.local:
        return found.model.local_dir() / filename
    for location in found.locations:
        if location.name == filename:
            return location
    raise FileNotFoundError(f"weights {key!r} have no file {filename!r}")


def _on_disk(key: str) -> Availability:
    """Where ``key``'s weights were found; FileNotFoundError when they are not on this
    machine."""
    found = availability(find_model(key))
    if not found.present:
        raise FileNotFoundError(f"weights {key!r} are not on this machine")
    return found


class LearnedExtractor(Extractor):
    """Base of the extractors that run pretrained models: checks at creation that their
    weights are on disk (``spec.weights`` unless named), and holds the torch device and
    dtype their config resolves to."""

    config: LearnedConfig

    def __init__(
        self, spec: ExtractorSpec, config: LearnedConfig, weights: tuple[str, ...] | None = None
    ) -> None:
        super().__init__(spec, config)
        require_weights({spec.name: spec.weights if weights is None else weights})
        self.device = config.torch_device()
        self.dtype = config.torch_dtype()
