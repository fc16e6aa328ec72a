"""Pretrained weights: the catalogue of models qualitylab knows (``catalogue``), where each
is found on disk (``availability``), and the operations behind ``qualitylab weights``:
``download``, ``importing`` and ``verify``.

A model is *present* when every artifact it needs is on disk: a complete local copy under
``weights_dir()/<key>`` (made by ``qualitylab weights import`` or by hand), the Hugging Face
cache, or the torch hub checkpoint directory. Hub files are pinned to a commit
(``revision``), so the cache is read, and downloads fetch, exactly that commit. Nothing
downloads except :func:`download`.
"""

from qualitylab.weights.artifacts import (
    HUGGING_FACE_CACHE,
    TORCH_HUB_CACHE,
    Artifact,
    HubFile,
    HubRepo,
    HubUnreachableError,
    TorchHubCheckpoint,
    WeightsError,
)
from qualitylab.weights.availability import Availability, availability, disk_size, report
from qualitylab.weights.catalogue import CATALOGUE, PretrainedModel, find_model
from qualitylab.weights.download import DownloadResult, download
from qualitylab.weights.importing import import_weights
from qualitylab.weights.verify import Verification, verify

__all__ = [
    "CATALOGUE",
    "HUGGING_FACE_CACHE",
    "TORCH_HUB_CACHE",
    "Artifact",
    "Availability",
    "DownloadResult",
    "HubFile",
    "HubRepo",
    "HubUnreachableError",
    "PretrainedModel",
    "TorchHubCheckpoint",
    "Verification",
    "WeightsError",
    "availability",
    "disk_size",
    "download",
    "find_model",
    "import_weights",
    "report",
    "verify",
]
