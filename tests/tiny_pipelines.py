"""Tiny random diffusers pipelines for the generation tests, built offline from configs.

Each ``save_tiny_*`` function builds a seeded pipeline whose components have the real
architectures (the classes the published pipelines use) at toy sizes, saves it with
``save_pretrained`` and returns the directory; the generation code then loads it with
``from_pretrained`` exactly as it loads a downloaded model:

- :func:`save_tiny_svd`: a ``StableVideoDiffusionPipeline`` (UNetSpatioTemporalConditionModel,
  AutoencoderKLTemporalDecoder, CLIPVisionModelWithProjection with its CLIPImageProcessor,
  EulerDiscreteScheduler configured as img2vid-xt's), as diffusers' own tests build it;
- :func:`save_tiny_text_to_image`: a ``StableDiffusionPipeline`` (UNet2DConditionModel,
  AutoencoderKL, CLIPTextModel, the offline CLIP tokenizer of ``tiny_weights``,
  DDIMScheduler), without a safety checker.

Both work at 32x32 pixels (any multiple of 4). With ``variant="fp16"`` the weight files
carry the fp16 variant names the catalogue entries (``svd_xt``, ``sdxl_base``) look for,
so the directory can be imported with ``qualitylab weights import``; the weights stay
float32.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tiny_weights import clip_tokenizer

TINY_SIZE = 32


def svd_scheduler():
    """The EulerDiscreteScheduler configured as stable-video-diffusion-img2vid-xt's."""
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        interpolation_type="linear",
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
    )


def save_tiny_svd(directory: Path, seed: int = 0, variant: str | None = None) -> Path:
    """A seeded tiny Stable Video Diffusion img2vid pipeline, saved as a pipeline directory
    (with ``variant="fp16"``, its weight files named as the hub's fp16 variant files are)."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=TINY_SIZE,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32,
        num_attention_heads=8,
        projection_class_embeddings_input_dim=96,
        addition_time_embed_dim=32,
    )
    scheduler = svd_scheduler()
    torch.manual_seed(seed)
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        latent_channels=4,
    )
    torch.manual_seed(seed)
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=224,  # the pipeline resizes every image to 224x224 for its encoder
            intermediate_size=37,
            patch_size=32,
        )
    )
    feature_extractor = CLIPImageProcessor(crop_size=224, size=224)
    pipeline = StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=image_encoder,
        unet=unet,
        scheduler=scheduler,
        feature_extractor=feature_extractor,
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(directory, variant=variant)
    return directory


def save_tiny_text_to_image(directory: Path, seed: int = 0, variant: str | None = None) -> Path:
    """A seeded tiny Stable Diffusion text-to-image pipeline, saved as a pipeline directory
    (``variant`` as for :func:`save_tiny_svd`)."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = clip_tokenizer()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=TINY_SIZE,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=8,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=[16, 32],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=8,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(directory, variant=variant)
    return directory
