"""The catalogue of pretrained models qualitylab knows: each model's key, purpose and the
artifacts it needs, every Hugging Face repository pinned to a commit (the hashes were taken
from public code that pins them; they could not be checked against the hub from the
development machines)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qualitylab.config import weights_dir
from qualitylab.weights.artifacts import Artifact, HubFile, HubRepo, TorchHubCheckpoint

# What a transformers model directory needs: configs, tokenizer files and the weights.
_TRANSFORMERS_FILES = ("*.json", "*.txt", "*.model", "*.safetensors")


def _transformers_repo(repo_id: str, revision: str, *extra: str) -> HubRepo:
    return HubRepo(
        repo_id,
        "model.safetensors",
        (*_TRANSFORMERS_FILES, *extra),
        revision,
        requires=("config.json",),
        alternatives=("pytorch_model.bin",),
    )


def _diffusers_fp16_pipeline(repo_id: str, revision: str) -> HubRepo:
    return HubRepo(
        repo_id,
        "unet/diffusion_pytorch_model.fp16.safetensors",
        ("*.json", "*.fp16.safetensors"),
        revision,
        requires=("model_index.json",),
    )


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

    def local_files(self) -> tuple[tuple[str, ...], ...]:
        """The files a local copy needs, each as its alternative names."""
        return tuple(group for artifact in self.artifacts for group in artifact.local_files())

    def unpinned_repos(self) -> tuple[str, ...]:
        """The hub repositories this model reads at their moving main branch."""
        repos = (
            artifact.repo_id
            for artifact in self.artifacts
            if isinstance(artifact, HubFile | HubRepo) and artifact.revision is None
        )
        return tuple(dict.fromkeys(repos))


CATALOGUE: tuple[PretrainedModel, ...] = (
    PretrainedModel(
        "clip_b32",
        "CLIP ViT-B/32 text-frame similarity",
        # The repository's main branch holds its weights as pytorch_model.bin only.
        (
            HubRepo(
                "openai/clip-vit-base-patch32",
                "pytorch_model.bin",
                ("*.json", "*.txt", "pytorch_model.bin"),
                "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268",
                requires=("config.json",),
                alternatives=("model.safetensors",),
            ),
        ),
    ),
    PretrainedModel(
        "clip_l14",
        "CLIP ViT-L/14 text-frame similarity",
        (
            _transformers_repo(
                "openai/clip-vit-large-patch14", "32bd64288804d66eefd0ccbe215aa642df71cc41"
            ),
        ),
    ),
    PretrainedModel(
        "siglip_so400m",
        "SigLIP so400m-patch14-384 text-frame similarity",
        (
            _transformers_repo(
                "google/siglip-so400m-patch14-384", "9fdffc58afc957d1a03a25b10dba0329ab15c2a3"
            ),
        ),
    ),
    PretrainedModel(
        "siglip_l16",
        "SigLIP large-patch16-384 text-frame similarity",
        (
            _transformers_repo(
                "google/siglip-large-patch16-384", "ce005573a40965dfd21fd937fbdeeebf2439fc35"
            ),
        ),
    ),
    PretrainedModel(
        "jina_clip_v2",
        "Jina-CLIP v2 text-frame similarity",
        (
            _transformers_repo(
                "jinaai/jina-clip-v2", "344d954da76eb8ad47a7aaff42d012e30c15b8fe", "*.py"
            ),
        ),
        note="loads with trust_remote_code: its modeling code comes from the hub repository "
        "jinaai/jina-clip-implementation (and needs einops), so its first load must reach "
        "the hub or find that code in the Hugging Face cache",
    ),
    PretrainedModel(
        "hps_v2",
        "HPS v2 (open_clip ViT-H/14) text-frame preference",
        (
            HubFile(
                "xswu/HPSv2", "HPS_v2_compressed.pt", "697403c78157020a1ae59d23f111aa58ced35b0a"
            ),
        ),
        note="the checkpoint holds the whole ViT-H/14 model",
    ),
    PretrainedModel(
        "imagereward",
        "ImageReward v1.0 reward of (prompt, frame)",
        (
            HubFile(
                "THUDM/ImageReward", "ImageReward.pt", "5736be03b2652728fb87788c9797b0570450ab72"
            ),
            HubFile(
                "THUDM/ImageReward", "med_config.json", "5736be03b2652728fb87788c9797b0570450ab72"
            ),
            HubFile(
                "google-bert/bert-base-uncased",
                "vocab.txt",
                "86b5e0934494bd15c9632b12f734a8a67f723594",
            ),
            HubFile(
                "google-bert/bert-base-uncased",
                "tokenizer_config.json",
                "86b5e0934494bd15c9632b12f734a8a67f723594",
            ),
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
            _diffusers_fp16_pipeline(
                "stabilityai/stable-video-diffusion-img2vid-xt",
                "9e43909513c6714f1bc78bcb44d96e733cd242aa",
            ),
        ),
        note="accept the model's licence on the hub and run `hf auth login` first",
    ),
    PretrainedModel(
        "svd_xt_1_1",
        "Stable Video Diffusion img2vid-xt-1-1 (generation)",
        (
            _diffusers_fp16_pipeline(
                "stabilityai/stable-video-diffusion-img2vid-xt-1-1",
                "043843887ccd51926e3efed36270444a838e7861",
            ),
        ),
        note="gated: accept the model's licence on the hub and run `hf auth login` first",
    ),
    PretrainedModel(
        "sdxl_base",
        "Stable Diffusion XL base 1.0 text-to-image keyframes (generation)",
        # The fp16 variant of every component, and the tokenizers' vocab.json/merges.txt.
        (
            HubRepo(
                "stabilityai/stable-diffusion-xl-base-1.0",
                "unet/diffusion_pytorch_model.fp16.safetensors",
                ("*.json", "*.txt", "*.fp16.safetensors"),
                "462165984030d82259a11f4367a4eed129e94a7b",
                requires=("model_index.json",),
            ),
        ),
    ),
)


def find_model(key: str) -> PretrainedModel:
    """The catalogue entry named ``key``; a KeyError lists the known keys."""
    for model in CATALOGUE:
        if model.key == key:
            return model
    known = ", ".join(model.key for model in CATALOGUE)
    raise KeyError(f"unknown pretrained model {key!r}; known models: {known}")
