"""Learned extractors: batching, and decoding once for several of them.

1. Frames/s of ``clip_b32`` with a CLIP model of the real ViT-B/32 size (random weights,
   ``CLIPConfig()``'s defaults are ViT-B/32's shapes) at batch size 1 and at the default
   batch size, on the same frames.
2. Seconds of one extraction run with ``clip_b32``, ``lpips`` and ``raft`` (real-size
   random weights) over the first videos of the demo dataset (256x192) against one run
   per extractor, each decoding every video again.

Weights are written to a temporary ``QUALITYLAB_HOME`` and loaded by the extractors' own
loaders, as a user's would be.

    uv run python benchmarks/learned_batching.py [--videos 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from qualitylab.config import weights_dir
from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.data.samples import build_demo_dataset
from qualitylab.data.video import Sampling, decode
from qualitylab.features import registry
from qualitylab.features.base import Chunk
from qualitylab.features.extraction_run import extract_features
from qualitylab.features.learned.runtime import LearnedConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_weights import clip_tokenizer, save_tiny_alexnet, save_tiny_raft  # noqa: E402

PROMPT = "a red fox runs across a snowy field"
# RAFT kept light enough for a CPU run: few refinement steps at a small size.
RAFT_SETTINGS = {"num_flow_updates": 4, "max_side": 160}


def save_clip_b32(directory: Path) -> None:
    """A random CLIP model of ViT-B/32's size with the tests' character-level tokenizer."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tokenizer = clip_tokenizer()
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        }
    )
    CLIPModel(config).save_pretrained(directory)
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(
        directory
    )


def batching(frames: np.ndarray) -> tuple[float, float, int]:
    """Frames/s of clip_b32 at batch size 1 and at the default batch size."""
    default = LearnedConfig().batch_size
    rates = []
    for batch_size in (1, default):
        extractor = registry.create("clip_b32", {"batch_size": batch_size})
        extractor.process(Chunk(frames[:2], None, PROMPT, "warm-up"))
        started = time.perf_counter()
        extractor.process(Chunk(frames, None, PROMPT, "bench"))
        rates.append(len(frames) / (time.perf_counter() - started))
    return rates[0], rates[1], default


def decoding(manifest_path: Path, videos: int, scratch: Path) -> tuple[float, float]:
    """Seconds of one run with every extractor, and of one run per extractor, over the
    first ``videos`` videos of the manifest."""
    manifest = load_manifest(manifest_path, ColumnMapping())
    manifest.table = manifest.table.iloc[:videos].reset_index(drop=True)
    names = ["clip_b32", "lpips", "raft"]
    options = {"sampling": Sampling(), "overrides": {"raft": RAFT_SETTINGS}, "workers": 1}
    # Load the models first (once per process, as in any run), so that neither side pays it.
    warm_up = load_manifest(manifest_path, ColumnMapping())
    warm_up.table = warm_up.table.iloc[-1:].reset_index(drop=True)
    extract_features(warm_up, names, scratch / "warm-up", **options)
    started = time.perf_counter()
    extract_features(manifest, names, scratch / "together", **options)
    together = time.perf_counter() - started
    started = time.perf_counter()
    for name in names:
        overrides = {name: RAFT_SETTINGS} if name == "raft" else {}
        extract_features(
            manifest, [name], scratch / f"alone-{name}", **{**options, "overrides": overrides}
        )
    return together, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=4, help="videos for the decoding test")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        os.environ["QUALITYLAB_HOME"] = str(scratch / "home")
        save_clip_b32(weights_dir() / "clip_b32")
        # Real-size architectures with random weights, as the tests make them.
        save_tiny_alexnet(weights_dir() / "lpips_alex")
        save_tiny_raft(weights_dir() / "raft_large")
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")

        manifest = build_demo_dataset(scratch / "demo")
        frames = decode(manifest.parent / "videos" / "demo_000.mp4").frames
        one, batched, default = batching(np.concatenate([frames, frames]))
        print(
            f"clip_b32 (ViT-B/32 size): batch 1 {one:.1f} frames/s, batch {default} "
            f"{batched:.1f} frames/s; ratio {batched / one:.2f}x"
        )

        together, alone = decoding(manifest, args.videos, scratch)
        print(
            f"clip_b32 + lpips + raft on {args.videos} demo videos (256x192): decoded once "
            f"{together:.1f} s, once per extractor {alone:.1f} s; ratio {alone / together:.2f}x"
        )


if __name__ == "__main__":
    main()
