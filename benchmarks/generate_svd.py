"""Stable Video Diffusion img2vid-xt: seconds per clip and peak GPU memory.

Builds an SVD pipeline of the real img2vid-xt size with random weights (the UNet, VAE and
image encoder configs are written here from the published
``stabilityai/stable-video-diffusion-img2vid-xt`` configs, the scheduler's is
``tests/tiny_pipelines.svd_scheduler``: nothing is downloaded), saves it
in fp16 as the hub's fp16 variant, and times one 25-frame 576x1024 clip through
qualitylab's own diffusers backend (``from_pretrained``, the run's settings), twice:

1. plain: everything on the GPU, ``decode_chunk_size`` 8;
2. memory savers: model CPU offload, UNet feed-forward chunking, ``decode_chunk_size`` 2;

and prints seconds per clip and peak GPU memory of each, and their ratios. Needs a CUDA
GPU (about 20 GB of memory for the plain run); exits with a message on a machine without.

    uv run python benchmarks/generate_svd.py [--steps 25] [--frames 25]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_pipelines import save_tiny_text_to_image, svd_scheduler  # noqa: E402

from qualitylab.generate.diffusers_backend import DiffusersBackend  # noqa: E402
from qualitylab.generate.settings import GenerateSettings  # noqa: E402

WIDTH, HEIGHT = 1024, 576


def save_real_size_svd(directory: Path) -> Path:
    """A random-weight SVD img2vid-xt pipeline of the published sizes, saved in fp16."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    with torch.device("cuda"):
        unet = UNetSpatioTemporalConditionModel(
            sample_size=96,
            in_channels=8,
            out_channels=4,
            down_block_types=(
                "CrossAttnDownBlockSpatioTemporal",
                "CrossAttnDownBlockSpatioTemporal",
                "CrossAttnDownBlockSpatioTemporal",
                "DownBlockSpatioTemporal",
            ),
            up_block_types=(
                "UpBlockSpatioTemporal",
                "CrossAttnUpBlockSpatioTemporal",
                "CrossAttnUpBlockSpatioTemporal",
                "CrossAttnUpBlockSpatioTemporal",
            ),
            block_out_channels=(320, 640, 1280, 1280),
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=768,
            layers_per_block=2,
            cross_attention_dim=1024,
            transformer_layers_per_block=1,
            num_attention_heads=(5, 10, 20, 20),
            num_frames=25,
        )
        vae = AutoencoderKLTemporalDecoder(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            latent_channels=4,
            sample_size=768,
            scaling_factor=0.18215,
            force_upcast=True,
        )
        image_encoder = CLIPVisionModelWithProjection(
            CLIPVisionConfig(
                hidden_size=1280,
                intermediate_size=5120,
                num_attention_heads=16,
                num_hidden_layers=32,
                patch_size=14,
                image_size=224,
                projection_dim=1024,
                hidden_act="gelu",
            )
        )
    scheduler = svd_scheduler()
    pipeline = StableVideoDiffusionPipeline(
        vae=vae.half(),
        image_encoder=image_encoder.half(),
        unet=unet.half(),
        scheduler=scheduler,
        feature_extractor=CLIPImageProcessor(crop_size=224, size=224),
    )
    pipeline.save_pretrained(directory, variant="fp16")
    del pipeline, unet, vae, image_encoder
    torch.cuda.empty_cache()
    return directory


def time_clip(settings: GenerateSettings) -> tuple[float, float]:
    """Seconds for one clip (after a warm-up clip) and peak GPU memory in GiB."""
    backend = DiffusersBackend(settings)
    backend.prepare()
    start = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    backend.clip(start, seed=0)  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    frames = backend.clip(start, seed=1)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    assert frames.shape == (settings.clip.num_frames, HEIGHT, WIDTH, 3), frames.shape
    peak = torch.cuda.max_memory_allocated() / 2**30
    del backend
    torch.cuda.empty_cache()
    return seconds, peak


def main() -> None:
    """Time a clip plain and with the memory savers, and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25, help="denoising steps (default 25)")
    parser.add_argument("--frames", type=int, default=25, help="frames per clip (default 25)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit(
            "generate_svd: no CUDA GPU here (torch.cuda.is_available() is False); this "
            "benchmark times real-size Stable Video Diffusion and needs one"
        )
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        svd = save_real_size_svd(Path(tmp) / "svd")
        t2i = save_tiny_text_to_image(Path(tmp) / "t2i")  # loaded by the backend, not timed
        base = GenerateSettings().with_overrides(
            {
                "keyframe.model": str(t2i),
                "clip.model": str(svd),
                "clip.width": WIDTH,
                "clip.height": HEIGHT,
                "clip.num_frames": args.frames,
                "clip.steps": args.steps,
                "runtime.device": "cuda",
                "runtime.precision": "fp16",
            }
        )
        plain = base.with_overrides({"clip.decode_chunk_size": 8})
        savers = base.with_overrides(
            {
                "clip.decode_chunk_size": 2,
                "runtime.cpu_offload": True,
                "runtime.forward_chunking": True,
            }
        )
        results = {}
        for name, settings in (("plain", plain), ("memory savers", savers)):
            seconds, peak = time_clip(settings)
            results[name] = (seconds, peak)
            print(
                f"{name:>14}: {seconds:7.1f} s per {args.frames}-frame {HEIGHT}x{WIDTH} clip "
                f"({args.steps} steps), peak GPU memory {peak:5.1f} GiB"
            )
    (plain_s, plain_gib), (savers_s, savers_gib) = results["plain"], results["memory savers"]
    print(
        f"memory savers vs plain: {savers_s / plain_s:.2f}x the time, "
        f"{savers_gib / plain_gib:.2f}x the peak memory"
    )


if __name__ == "__main__":
    main()
