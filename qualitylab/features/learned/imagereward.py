"""ImageReward v1.0 (Xu et al. 2023): the reward of (prompt, frame), exactly what
image-reward's ``ImageReward.score(prompt, image)`` returns for that frame.

The model is the package's own ``ImageReward`` class (BLIP with a ViT-L/16 at 224 px and a
BERT text encoder that cross-attends to the image, then an MLP), built from the
``imagereward`` weights on disk as ``ImageReward.load`` builds it: ``med_config.json`` for
the text encoder, the state dict in ``ImageReward.pt``, and BERT's tokenizer
(``bert-base-uncased``: ``vocab.txt``, ``tokenizer_config.json``) from the same weights
instead of a download. A checkpoint that lacks any of the model's weights is refused (the
package itself would keep random ones). The package is imported through
:mod:`imagereward_compat`, which makes it work with transformers 5 and timm 1.x.

Frames go through the package's own ``preprocess`` transform (bicubic resize of the short
side to 224, centre crop, CLIP normalisation) and are scored in batches of ``batch_size``
with the package's modules, as ``score`` does one at a time: the prompt is tokenised to 35
tokens (padded; longer prompts are cut, with a warning naming the video, given once per
video with its first chunk), the text encoder reads the image tokens, and the MLP's output
on the [CLS] feature is standardised with the package's mean and standard deviation. fp16
and bf16 run BLIP in that precision; the MLP and the reward are float32.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from accelerate import init_empty_weights
from PIL import Image

from qualitylab.features.base import Chunk, ExtractorSpec
from qualitylab.features.learned.imagereward_compat import bert_tokenizer_from, import_imagereward
from qualitylab.features.learned.runtime import LearnedConfig, LearnedExtractor, weight_file

WEIGHTS_KEY = "imagereward"
CHECKPOINT = "ImageReward.pt"
MED_CONFIG = "med_config.json"
TOKENIZER_VOCAB = "vocab.txt"
MAX_PROMPT_TOKENS = 35


class ImageRewardConfig(LearnedConfig):
    """Device, precision and batch size (frames per forward pass); ImageReward v1.0 has no
    other settings."""


def load_imagereward(device: torch.device, dtype: torch.dtype = torch.float32) -> Any:
    """image-reward's ``ImageReward`` model with the ImageReward v1.0 weights on disk, in
    eval mode on ``device``, BLIP in ``dtype`` and the reward MLP in float32.

    FileNotFoundError when the weights are not on this machine; RuntimeError when the
    checkpoint does not hold every weight of the model.
    """
    package = import_imagereward()
    checkpoint = weight_file(WEIGHTS_KEY, CHECKPOINT)
    med_config = weight_file(WEIGHTS_KEY, MED_CONFIG)
    # BERT's tokenizer files (vocab.txt, tokenizer_config.json) lie side by side, in the
    # local copy or in the cache snapshot of bert-base-uncased.
    tokenizer_dir = weight_file(WEIGHTS_KEY, TOKENIZER_VOCAB).parent
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    # Parameters are built empty (on the meta device): no random init, and any weight the
    # checkpoint lacks stays on meta, where it is found below.
    with bert_tokenizer_from(tokenizer_dir), init_empty_weights():
        model = package.ImageReward(med_config=str(med_config), device=device)
    model.load_state_dict(state, strict=False, assign=True)
    missing = [
        name
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]
        if tensor.is_meta
    ]
    if missing:
        raise RuntimeError(
            f"{checkpoint} is not an ImageReward v1.0 checkpoint: it lacks {len(missing)} of "
            f"the model's weights, e.g. {', '.join(missing[:5])}"
        )
    model.eval().to(device)
    model.blip.to(dtype)
    model.mlp.float()
    return model


class ImageRewardExtractor(LearnedExtractor):
    """Emits ``reward``: ImageReward v1.0's reward of the prompt and each frame."""

    Config = ImageRewardConfig
    config: ImageRewardConfig

    def __init__(self, spec: ExtractorSpec, config: ImageRewardConfig) -> None:
        super().__init__(spec, config)
        self.model = load_imagereward(self.device, self.dtype)

    def process(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """The reward of the prompt and every frame of the chunk."""
        tokens = self._prompt_tokens(chunk)
        step = self.config.batch_size
        rewards = [
            self._rewards(chunk.frames[start : start + step], tokens)
            for start in range(0, len(chunk.frames), step)
        ]
        return {"reward": np.concatenate([np.zeros(0, np.float32), *rewards])}

    def _prompt_tokens(self, chunk: Chunk) -> Any:
        """The prompt tokenised as ``score`` does; warns (with the first chunk of a video)
        when the prompt is longer than the text encoder reads."""
        tokenizer = self.model.blip.tokenizer
        if chunk.previous is None:
            length = len(tokenizer(chunk.prompt, verbose=False).input_ids)
            if length > MAX_PROMPT_TOKENS:
                warnings.warn(
                    f"imagereward: the prompt of video {chunk.video_id!r} has {length} tokens; "
                    f"ImageReward reads only the first {MAX_PROMPT_TOKENS} (with [CLS] and "
                    f"[SEP]) and ignores the rest",
                    stacklevel=2,
                )
        return tokenizer(
            chunk.prompt,
            padding="max_length",
            truncation=True,
            max_length=MAX_PROMPT_TOKENS,
            return_tensors="pt",
        ).to(self.device)

    @torch.inference_mode()
    def _rewards(self, frames: np.ndarray, tokens: Any) -> np.ndarray:
        """The float32 rewards of a batch of RGB ``uint8`` frames for the tokenised prompt."""
        model = self.model
        images = torch.stack([model.preprocess(Image.fromarray(frame)) for frame in frames])
        image_embeds = model.blip.visual_encoder(images.to(self.device, self.dtype))
        count = len(frames)
        text = model.blip.text_encoder(
            tokens.input_ids.expand(count, -1),
            attention_mask=tokens.attention_mask.expand(count, -1),
            encoder_hidden_states=image_embeds,
            encoder_attention_mask=torch.ones(
                image_embeds.shape[:-1], dtype=torch.long, device=self.device
            ),
            return_dict=True,
        )
        rewards = model.mlp(text.last_hidden_state[:, 0, :].float())
        rewards = (rewards - model.mean) / model.std
        return rewards[:, 0].cpu().numpy().astype(np.float32)
