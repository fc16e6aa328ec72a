"""Text–frame similarity: the cosine similarity of the prompt's embedding and each frame's.

Every extractor here emits one frame signal, ``prompt_sim``, in [-1, 1]. The models:

- CLIP ViT-B/32 and ViT-L/14, SigLIP so400m/14-384 and L/16-384
  (:class:`TransformersSimilarity`): ``transformers``' ``AutoModel`` and ``AutoProcessor``
  on the model directory; embeddings from ``get_text_features`` / ``get_image_features``.
- Jina-CLIP v2 (:class:`JinaSimilarity`): the model's own ``encode_text`` / ``encode_image``
  from its remote code (``trust_remote_code``), read from the Hugging Face cache only.
- HPS v2 (:class:`HPSv2Similarity`): open_clip's ViT-H-14 whose whole state dict is the HPS
  v2 checkpoint (``HPS_v2_compressed.pt``, key ``state_dict``); its score is this cosine.

Frames go through the model's own processor or eval transform (resize, crop, normalise).
The prompt is encoded once per prompt. Text is padded to the model's token limit and given
to the text tower without an attention mask, as SigLIP was trained (its pooled output is
the last position); for CLIP this changes nothing, because its causal mask keeps the
padding after the end token out of the pooled end-token output. A prompt longer than the
limit (77 tokens for CLIP and HPS v2, 64 for SigLIP, 512 for Jina-CLIP v2) is truncated,
with a warning naming the video. The model runs in the configured precision; the
embeddings are L2-normalised and multiplied in float32.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from qualitylab.features.base import Chunk, ExtractorSpec
from qualitylab.features.learned.runtime import (
    LearnedConfig,
    LearnedExtractor,
    model_directory,
    weight_file,
)

SIGNAL = "prompt_sim"
# Jina-CLIP v2's ``encode_text`` truncates to this many tokens unless told otherwise.
JINA_MAX_TOKENS = 512
# The hub repository Jina-CLIP v2's config.json loads its modeling code from.
JINA_CODE_REPO = "jinaai/jina-clip-implementation"
HPS_ARCHITECTURE = "ViT-H-14"
HPS_CHECKPOINT = "HPS_v2_compressed.pt"
# Beside the checkpoint, an open_clip hub-style config ({"model_cfg", "preprocess_cfg"})
# replaces ViT-H-14 with the architecture it defines.
OPEN_CLIP_CONFIG = "open_clip_config.json"


def _auto_model(directory: Path, **options: Any) -> Any:
    """``AutoModel.from_pretrained`` on a local model directory, without its progress bar
    (the extraction's own progress bar is on screen)."""
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    return AutoModel.from_pretrained(directory, local_files_only=True, **options)


class TextFrameConfig(LearnedConfig):
    """Settings of a text–frame extractor: which weights it reads (a ``qualitylab.weights``
    key; each extractor class narrows the choice) and where it runs."""

    model: str


class _PromptFrameSimilarity(LearnedExtractor):
    """Shared by the text–frame extractors: the prompt's embedding, cached per prompt; the
    frames' embeddings in batches; their cosine similarity in float32."""

    config: TextFrameConfig
    token_limit: int

    def __init__(self, spec: ExtractorSpec, config: TextFrameConfig) -> None:
        super().__init__(spec, config, weights=(config.model,))
        self._prompt: str | None = None
        self._text = torch.zeros(0)
        self._tokens = 0
        self._warned_video: str | None = None

    @abstractmethod
    def encode_prompt(self, prompt: str) -> tuple[torch.Tensor, int]:
        """The prompt's embedding [D] (truncated to ``token_limit`` tokens) and how many
        tokens the prompt has before truncation."""

    @abstractmethod
    def encode_frames(self, frames: np.ndarray) -> torch.Tensor:
        """The embeddings [B, D] of RGB ``uint8`` frames [B, H, W, 3]."""

    def process(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """The cosine similarity of the prompt and each frame of the chunk."""
        text = self._prompt_embedding(chunk)
        step = self.config.batch_size
        with torch.inference_mode():
            images = [
                F.normalize(self.encode_frames(chunk.frames[start : start + step]).float(), dim=-1)
                for start in range(0, len(chunk.frames), step)
            ]
        return {SIGNAL: (torch.cat(images) @ text).cpu().numpy().astype(np.float32)}

    def _prompt_embedding(self, chunk: Chunk) -> torch.Tensor:
        if chunk.prompt != self._prompt:
            with torch.inference_mode():
                embedding, self._tokens = self.encode_prompt(chunk.prompt)
            self._text = F.normalize(embedding.float(), dim=-1)
            self._prompt = chunk.prompt
            self._warned_video = None
        if self._tokens > self.token_limit and chunk.video_id != self._warned_video:
            warnings.warn(
                f"{self.spec.name}: the prompt of video {chunk.video_id!r} has "
                f"{self._tokens} tokens; the model reads at most {self.token_limit}, so it "
                "was truncated",
                stacklevel=2,
            )
            self._warned_video = chunk.video_id
        return self._text


class TransformersSimilarityConfig(TextFrameConfig):
    """Which CLIP or SigLIP weights run (a ``qualitylab.weights`` key), and where."""

    model: Literal["clip_b32", "clip_l14", "siglip_so400m", "siglip_l16"] = "clip_b32"


class TransformersSimilarity(_PromptFrameSimilarity):
    """Emits ``prompt_sim`` from a CLIP or SigLIP model of ``transformers``."""

    Config = TransformersSimilarityConfig
    config: TransformersSimilarityConfig

    def __init__(self, spec: ExtractorSpec, config: TransformersSimilarityConfig) -> None:
        super().__init__(spec, config)
        from transformers import AutoProcessor

        directory = model_directory(config.model)
        self.model: Any = _auto_model(directory, dtype=self.dtype)
        self.model.to(self.device).eval()
        self.processor: Any = AutoProcessor.from_pretrained(directory, local_files_only=True)
        self.token_limit = self.model.config.text_config.max_position_embeddings

    def encode_prompt(self, prompt: str) -> tuple[torch.Tensor, int]:
        """The projected text features of the prompt, padded to the token limit."""
        tokens = len(self.processor.tokenizer(prompt, verbose=False)["input_ids"])
        inputs = self.processor(
            text=[prompt],
            padding="max_length",
            truncation=True,
            max_length=self.token_limit,
            return_tensors="pt",
        )
        features = self.model.get_text_features(input_ids=inputs["input_ids"].to(self.device))
        return features.pooler_output[0], tokens

    def encode_frames(self, frames: np.ndarray) -> torch.Tensor:
        """The projected image features of the frames, through the model's processor."""
        pixels = self.processor(images=list(frames), return_tensors="pt")["pixel_values"]
        features = self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype))
        return features.pooler_output


class JinaSimilarityConfig(TextFrameConfig):
    """The Jina-CLIP v2 weights key, and where the model runs."""

    model: Literal["jina_clip_v2"] = "jina_clip_v2"


class JinaSimilarity(_PromptFrameSimilarity):
    """Emits ``prompt_sim`` from Jina-CLIP v2's own ``encode_text`` and ``encode_image``
    (the prompt is encoded without a task instruction)."""

    Config = JinaSimilarityConfig
    config: JinaSimilarityConfig
    token_limit = JINA_MAX_TOKENS

    def __init__(self, spec: ExtractorSpec, config: JinaSimilarityConfig) -> None:
        super().__init__(spec, config)
        directory = model_directory(config.model)
        try:
            model: Any = _auto_model(directory, trust_remote_code=True, dtype=self.dtype)
            self.tokenizer: Any = model.get_tokenizer()
        except (OSError, ImportError, ValueError) as exc:
            raise RuntimeError(
                f"{spec.name}: cannot load Jina-CLIP v2 from {directory}: {exc}\n"
                "Its modeling code is in no Python package: transformers runs it "
                "(trust_remote_code) from the Hugging Face cache of the repository that "
                f"{directory / 'config.json'} names in its 'auto_map', {JINA_CODE_REPO}. "
                f"Fetch it with `hf download {JINA_CODE_REPO}` as well as "
                f"`qualitylab weights download {config.model}`, and install the packages "
                "that code imports (einops, timm)."
            ) from exc
        self.model: Any = model.to(self.device).eval()

    def encode_prompt(self, prompt: str) -> tuple[torch.Tensor, int]:
        """Jina-CLIP v2's embedding of the prompt."""
        tokens = len(self.tokenizer(prompt, verbose=False)["input_ids"])
        embedding = self.model.encode_text(
            [prompt], convert_to_tensor=True, max_length=JINA_MAX_TOKENS
        )
        return embedding[0], tokens

    def encode_frames(self, frames: np.ndarray) -> torch.Tensor:
        """Jina-CLIP v2's embeddings of the frames, through its own preprocessing."""
        images = [Image.fromarray(frame) for frame in frames]
        return self.model.encode_image(images, batch_size=len(images), convert_to_tensor=True)


class HPSv2SimilarityConfig(TextFrameConfig):
    """The HPS v2 weights key, and where the model runs."""

    model: Literal["hps_v2"] = "hps_v2"


def hps_architecture(directory: Path) -> str:
    """The open_clip model name to build for the HPS v2 checkpoint in ``directory``:
    ``local-dir:<directory>`` when it holds an ``open_clip_config.json``, else ViT-H-14."""
    if (directory / OPEN_CLIP_CONFIG).is_file():
        return f"local-dir:{directory}"
    return HPS_ARCHITECTURE


class HPSv2Similarity(_PromptFrameSimilarity):
    """Emits ``prompt_sim`` from HPS v2: open_clip ViT-H-14 carrying the HPS v2 checkpoint."""

    Config = HPSv2SimilarityConfig
    config: HPSv2SimilarityConfig

    def __init__(self, spec: ExtractorSpec, config: HPSv2SimilarityConfig) -> None:
        super().__init__(spec, config)
        import open_clip

        checkpoint = weight_file(config.model, HPS_CHECKPOINT)
        architecture = hps_architecture(checkpoint.parent)
        model, _, self.preprocess = open_clip.create_model_and_transforms(
            architecture, pretrained=None, load_weights=False
        )
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
        model.load_state_dict(state)
        self.model: Any = model.to(self.device, self.dtype).eval()
        self.tokenizer: Any = open_clip.get_tokenizer(architecture)
        self.token_limit = self.tokenizer.context_length

    def encode_prompt(self, prompt: str) -> tuple[torch.Tensor, int]:
        """open_clip's text embedding of the prompt."""
        # The tokenizer's ``encode`` leaves out the start and end tokens.
        tokens = len(self.tokenizer.encode(prompt)) + 2
        return self.model.encode_text(self.tokenizer([prompt]).to(self.device))[0], tokens

    def encode_frames(self, frames: np.ndarray) -> torch.Tensor:
        """open_clip's image embeddings of the frames, through the eval transform."""
        pixels = torch.stack([self.preprocess(Image.fromarray(frame)) for frame in frames])
        return self.model.encode_image(pixels.to(self.device, self.dtype))
