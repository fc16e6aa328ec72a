"""The catalogue of pretrained weights qualitylab knows, and where each is found locally.

A model is *present* when every artifact it needs is on disk: a local copy under
``weights_dir()/<key>`` (made by hand or by an import), the Hugging Face cache, or the
torch hub checkpoint directory. Nothing here downloads; ``fetch_command`` says how to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qualitylab.config import weights_dir


def _hub_cached_path(repo_id: str, filename: str, revision: str | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, revision=revision)
    return Path(found) if isinstance(found, str) else None


def _revision_option(revision: str | None) -> str:
    return f" --revision {revision}" if revision else ""


@dataclass(frozen=True)
class HubFile:
    """A single file of a Hugging Face Hub repository."""

    repo_id: str
    filename: str
    revision: str | None = None

    def cached_path(self) -> Path | None:
        """The file's path in the Hugging Face cache, or None when it is not cached."""
        return _hub_cached_path(self.repo_id, self.filename, self.revision)

    def fetch_command(self) -> str:
        """The shell command that puts the file into the Hugging Face cache."""
        return f"hf download {self.repo_id} {self.filename}{_revision_option(self.revision)}"


@dataclass(frozen=True)
class HubRepo:
    """A Hugging Face Hub repository (a model or pipeline directory), known by its weights file.

    ``include`` limits the download to the files a loader reads (repositories often hold
    the same weights in several formats); empty means the whole repository.
    """

    repo_id: str
    marker: str
    include: tuple[str, ...] = ()
    revision: str | None = None

    def cached_path(self) -> Path | None:
        """The marker file's path in the Hugging Face cache, or None when it is not cached."""
        return _hub_cached_path(self.repo_id, self.marker, self.revision)

    def fetch_command(self) -> str:
        """The shell command that puts the repository into the Hugging Face cache."""
        include = "".join(f" --include '{pattern}'" for pattern in self.include)
        return f"hf download {self.repo_id}{include}{_revision_option(self.revision)}"


@dataclass(frozen=True)
class TorchHubCheckpoint:
    """A checkpoint torchvision loads from its download URL into the torch hub cache."""

    url: str

    @property
    def filename(self) -> str:
        """The checkpoint's file name, as torch hub stores it."""
        return self.url.rsplit("/", 1)[-1]

    def cached_path(self) -> Path | None:
        """The checkpoint's path in the torch hub cache, or None when it is not there."""
        import torch.hub

        path = Path(torch.hub.get_dir()) / "checkpoints" / self.filename
        return path if path.is_file() else None

    def fetch_command(self) -> str:
        """The shell command that puts the checkpoint into the torch hub cache."""
        return f"python -c \"import torch.hub; torch.hub.load_state_dict_from_url('{self.url}')\""


Artifact = HubFile | HubRepo | TorchHubCheckpoint

# What a transformers model directory needs: configs, tokenizer files and safetensors weights.
_TRANSFORMERS_FILES = ("*.json", "*.txt", "*.model", "*.safetensors")


@dataclass(frozen=True)
class PretrainedModel:
    """A pretrained model qualitylab can use: its key, what it is for and what it needs."""

    key: str
    description: str
    artifacts: tuple[Artifact, ...]
    note: str = ""

    def local_dir(self) -> Path:
        """The directory a local copy of this model's weights lives in."""
        return weights_dir() / self.key


@dataclass(frozen=True)
class Availability:
    """Whether a model's weights are on disk, where, and what fetches the missing ones."""

    model: PretrainedModel
    locations: tuple[Path, ...]
    missing: tuple[Artifact, ...]

    @property
    def present(self) -> bool:
        """True when nothing the model needs is missing."""
        return not self.missing

    def fetch_commands(self) -> list[str]:
        """The commands that fetch what is missing, one per artifact."""
        return list(dict.fromkeys(artifact.fetch_command() for artifact in self.missing))


CATALOGUE: tuple[PretrainedModel, ...] = (
    PretrainedModel(
        "clip_b32",
        "CLIP ViT-B/32 text-frame similarity",
        (HubRepo("openai/clip-vit-base-patch32", "model.safetensors", _TRANSFORMERS_FILES),),
    ),
    PretrainedModel(
        "clip_l14",
        "CLIP ViT-L/14 text-frame similarity",
        (HubRepo("openai/clip-vit-large-patch14", "model.safetensors", _TRANSFORMERS_FILES),),
    ),
    PretrainedModel(
        "siglip_so400m",
        "SigLIP so400m-patch14-384 text-frame similarity",
        (HubRepo("google/siglip-so400m-patch14-384", "model.safetensors", _TRANSFORMERS_FILES),),
    ),
    PretrainedModel(
        "siglip_l16",
        "SigLIP large-patch16-384 text-frame similarity",
        (HubRepo("google/siglip-large-patch16-384", "model.safetensors", _TRANSFORMERS_FILES),),
    ),
    PretrainedModel(
        "jina_clip_v2",
        "Jina-CLIP v2 text-frame similarity",
        (HubRepo("jinaai/jina-clip-v2", "model.safetensors", (*_TRANSFORMERS_FILES, "*.py")),),
        note="loads with trust_remote_code; its code also comes from the hub",
    ),
    PretrainedModel(
        "hps_v2",
        "HPS v2 (open_clip ViT-H/14) text-frame preference",
        (
            HubFile("laion/CLIP-ViT-H-14-laion2B-s32B-b79K", "open_clip_pytorch_model.bin"),
            HubFile("xswu/HPSv2", "HPS_v2_compressed.pt"),
        ),
    ),
    PretrainedModel(
        "imagereward",
        "ImageReward v1.0 reward of (prompt, frame)",
        (
            HubFile("THUDM/ImageReward", "ImageReward.pt"),
            HubFile("THUDM/ImageReward", "med_config.json"),
            HubFile("google-bert/bert-base-uncased", "vocab.txt"),
        ),
    ),
    PretrainedModel(
        "lpips_alex",
        "LPIPS (AlexNet) distance of neighbouring frames",
        (TorchHubCheckpoint("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),),
        note="the LPIPS linear layers ship inside the lpips package",
    ),
    PretrainedModel(
        "raft_large",
        "RAFT large optical flow of neighbouring frames",
        (
            TorchHubCheckpoint(
                "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth"
            ),
        ),
    ),
    PretrainedModel(
        "svd_xt",
        "Stable Video Diffusion img2vid-xt (generation)",
        (
            HubRepo(
                "stabilityai/stable-video-diffusion-img2vid-xt",
                "unet/diffusion_pytorch_model.fp16.safetensors",
            ),
        ),
        note="accept the model's licence on the hub and run `hf auth login` first",
    ),
    PretrainedModel(
        "svd_xt_1_1",
        "Stable Video Diffusion img2vid-xt-1-1 (generation)",
        (
            HubRepo(
                "stabilityai/stable-video-diffusion-img2vid-xt-1-1",
                "unet/diffusion_pytorch_model.fp16.safetensors",
            ),
        ),
        note="gated: accept the model's licence on the hub and run `hf auth login` first",
    ),
)


def find_model(key: str) -> PretrainedModel:
    """The catalogue entry named ``key``; a KeyError lists the known keys."""
    for model in CATALOGUE:
        if model.key == key:
            return model
    known = ", ".join(model.key for model in CATALOGUE)
    raise KeyError(f"unknown pretrained model {key!r}; known models: {known}")


def availability(model: PretrainedModel) -> Availability:
    """Where ``model``'s weights are found on disk, and which of its artifacts are missing."""
    local = model.local_dir()
    if local.is_dir() and any(local.iterdir()):
        return Availability(model, (local,), ())
    locations: list[Path] = []
    missing: list[Artifact] = []
    for artifact in model.artifacts:
        path = artifact.cached_path()
        if path is None:
            missing.append(artifact)
        else:
            locations.append(path)
    return Availability(model, tuple(locations), tuple(missing))
