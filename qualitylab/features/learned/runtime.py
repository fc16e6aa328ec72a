"""What every learned extractor shares: its device, precision and batch size, and where its
pretrained weights are read from.

Settings: ``device`` (auto, cpu, cuda, mps), ``precision`` (auto, fp32, fp16, bf16) and
``batch_size``. ``auto`` picks CUDA, then MPS, then the CPU, and fp16 on CUDA, fp32
elsewhere; half precision on the CPU is refused. :meth:`LearnedConfig.resolved` turns
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
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from qualitylab.features.base import Extractor, ExtractorConfig, ExtractorSpec
from qualitylab.features.registry import LEARNED_SPECS
from qualitylab.weights import Availability, HubRepo, availability, find_model

if TYPE_CHECKING:
    import torch

Device = Literal["auto", "cpu", "cuda", "mps"]
Precision = Literal["auto", "fp32", "fp16", "bf16"]


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
        device = resolve_device(self.device)
        precision = self.precision
        if precision == "auto":
            precision = "fp16" if device == "cuda" else "fp32"
        if precision != "fp32" and device == "cpu":
            raise ValueError(f"precision {precision} needs a GPU; use precision fp32 on the CPU")
        return self.model_copy(update={"device": device, "precision": precision})

    def torch_device(self) -> torch.device:
        """The torch device this config runs on."""
        import torch

        return torch.device(self.resolved().device)

    def torch_dtype(self) -> torch.dtype:
        """The torch dtype this config runs in."""
        import torch

        precision = self.resolved().precision
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def resolve_device(device: str) -> str:
    """``cuda``, ``mps`` or ``cpu`` for a device setting; ``auto`` takes the first that is
    available. ValueError when a named accelerator is not available."""
    import torch

    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (device == "cuda" and not cuda) or (device == "mps" and not mps):
        raise ValueError(f"device {device!r} is not available on this machine; use cpu or auto")
    if device not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {device!r}; expected auto, cpu, cuda or mps")
    return device


class MissingWeightsError(RuntimeError):
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


def learned_with_weights() -> list[str]:
    """The learned extractors whose pretrained weights are all on disk, in registry order."""
    present = []
    for spec in LEARNED_SPECS:
        try:
            require_weights({spec.name: spec.weights})
        except MissingWeightsError:
            continue
        present.append(spec.name)
    return present


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
