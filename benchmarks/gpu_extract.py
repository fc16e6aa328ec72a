"""The learned extractors' models at full size on a CUDA GPU: frames/s, peak memory, decode rate.

Every thesis family is built at its real size from its architecture, with random weights
(nothing is downloaded: the speed of a network does not depend on its weights), directly on
the GPU: CLIP ViT-B/32 and ViT-L/14, SigLIP so400m-patch14-384 and large-patch16-384
(transformers), HPS v2 (open_clip ViT-H-14), ImageReward (BLIP's ViT-L/16 and its BERT-base
text encoder with cross-attention, the package's own classes), LPIPS (AlexNet, the lpips
package) and RAFT large (torchvision). Each runs the computation its extractor runs per
frame (or per pair of neighbouring frames, at the video's resolution) in fp16 and bf16 over
a sweep of batch sizes, and the script prints frames/s and the peak GPU memory of each,
then the CPU decode rate of a video at that resolution, which is what has to keep the GPU
fed. Inputs are ready-made tensors at the model's input size: resizing and normalising the
frames, done on the CPU by the extractors, is not included.

    uv run python benchmarks/gpu_extract.py                     # everything, about 5-10 min
    uv run python benchmarks/gpu_extract.py --families clip_b32 raft --batches 8 32

Without CUDA it says so and exits with status 2; ``--check-on-cpu`` runs one batch of each
family on the CPU instead, to check the code without a GPU (slow for the large models).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

PROMPT_TOKENS = 35  # a typical prompt's length in tokens
# A model built on the GPU: its modules (cast to each precision in turn) and one batch's step.
Built = tuple[list, Callable[[int, object], None]]
DEVICE = "cuda"  # --check-on-cpu switches it to the CPU


def _clip(vision: dict, text: dict, projection: int, image: int) -> Built:
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(
        vision_config={**vision, "image_size": image}, text_config=text, projection_dim=projection
    )
    return _text_frame(CLIPModel(config), image, config.text_config.vocab_size, 77)


def _siglip(tower: dict, patch: int) -> Built:
    from transformers import SiglipConfig, SiglipModel

    config = SiglipConfig(
        vision_config={**tower, "image_size": 384, "patch_size": patch},
        text_config={
            **tower,
            "vocab_size": 32000,
            "max_position_embeddings": 64,
            "bos_token_id": None,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
    )
    return _text_frame(SiglipModel(config), 384, 32000, 64)


def _text_frame(model, image: int, vocab: int, context: int) -> Built:
    """Cosine similarity of one prompt with a batch of frames, as the extractors compute it."""
    import torch

    model.eval()
    tokens = torch.randint(0, vocab, (1, context), device=DEVICE)

    def step(batch: int, dtype) -> None:
        pixels = torch.randn(batch, 3, image, image, device=DEVICE, dtype=dtype)
        frames = model.get_image_features(pixel_values=pixels).pooler_output
        text = model.get_text_features(input_ids=tokens).pooler_output
        torch.nn.functional.cosine_similarity(frames, text).float().cpu()

    return [model], step


def clip_b32() -> Built:
    vision = {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "patch_size": 32,
    }
    text = {
        "hidden_size": 512,
        "intermediate_size": 2048,
        "num_hidden_layers": 12,
        "num_attention_heads": 8,
    }
    return _clip(vision, text, 512, 224)  # fmt: skip


def clip_l14() -> Built:
    vision = {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "patch_size": 14,
    }
    text = {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
    }
    return _clip(vision, text, 768, 224)  # fmt: skip


def siglip_so400m() -> Built:
    tower = {
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "num_hidden_layers": 27,
        "num_attention_heads": 16,
    }
    return _siglip(tower, 14)  # fmt: skip


def siglip_l16() -> Built:
    tower = {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
    }
    return _siglip(tower, 16)  # fmt: skip


def hps_v2() -> Built:
    import open_clip
    import torch

    model = open_clip.create_model("ViT-H-14", pretrained=None, device=DEVICE).eval()
    tokens = torch.randint(0, 49408, (1, 77), device=DEVICE)

    def step(batch: int, dtype) -> None:
        pixels = torch.randn(batch, 3, 224, 224, device=DEVICE, dtype=dtype)
        frames = model.encode_image(pixels)
        text = model.encode_text(tokens)
        torch.nn.functional.cosine_similarity(frames, text).float().cpu()

    return [model], step


def imagereward() -> Built:
    """BLIP's ViT-L/16 on each frame, then the BERT-base text encoder reading the prompt
    with cross-attention on the frame's patches (ImageReward's reward before its MLP)."""
    import torch

    from qualitylab.features.learned.imagereward_compat import import_imagereward

    import_imagereward()
    from ImageReward.models.BLIP.med import BertConfig, BertModel
    from ImageReward.models.BLIP.vit import VisionTransformer

    vit = VisionTransformer(img_size=224, patch_size=16, embed_dim=1024, depth=24, num_heads=16)
    config = BertConfig(vocab_size=30524, encoder_width=1024, add_cross_attention=True)
    text_encoder = BertModel(config, add_pooling_layer=False)
    vit.to(DEVICE).eval()
    text_encoder.to(DEVICE).eval()
    tokens = torch.randint(0, 30524, (1, PROMPT_TOKENS), device=DEVICE)

    def step(batch: int, dtype) -> None:
        pixels = torch.randn(batch, 3, 224, 224, device=DEVICE, dtype=dtype)
        patches = vit(pixels)
        mask = torch.ones(patches.shape[:2], dtype=torch.long, device=DEVICE)
        text = text_encoder(
            tokens.expand(batch, -1),
            attention_mask=torch.ones_like(tokens).expand(batch, -1),
            encoder_hidden_states=patches,
            encoder_attention_mask=mask,
            return_dict=True,
        )
        text.last_hidden_state[:, 0, :].float().cpu()

    return [vit, text_encoder], step


def lpips(height: int, width: int) -> Built:
    import lpips as package
    import torch

    model = package.LPIPS(net="alex", pnet_rand=True, verbose=False).to(DEVICE).eval()

    def step(batch: int, dtype) -> None:
        before = torch.rand(batch, 3, height, width, device=DEVICE, dtype=dtype) * 2 - 1
        after = torch.rand(batch, 3, height, width, device=DEVICE, dtype=dtype) * 2 - 1
        model(before, after).float().cpu()

    return [model], step


def raft(height: int, width: int) -> Built:
    import torch
    from torchvision.models.optical_flow import raft_large

    model = raft_large(weights=None).to(DEVICE).eval()

    def step(batch: int, dtype) -> None:
        before = torch.rand(batch, 3, height, width, device=DEVICE, dtype=dtype) * 2 - 1
        after = torch.rand(batch, 3, height, width, device=DEVICE, dtype=dtype) * 2 - 1
        flow = model(before, after)[-1]
        torch.linalg.vector_norm(flow.float(), dim=1).mean(dim=(1, 2)).cpu()

    return [model], step


TEXT_FRAME = {
    "clip_b32": clip_b32,
    "clip_l14": clip_l14,
    "siglip_so400m": siglip_so400m,
    "siglip_l16": siglip_l16,
    "hps_v2": hps_v2,
    "imagereward": imagereward,
}
PAIRS = {"lpips": lpips, "raft": raft}


def sweep(name: str, built: Built, batches: list[int], seconds: float) -> None:
    """Time the model per precision (its weights cast to it, as the extractors do) and batch
    size; print frames/s and peak memory."""
    import torch

    modules, step = built
    for precision, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        for module in modules:
            module.to(dtype)
        for batch in batches:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            try:
                with torch.inference_mode():
                    step(batch, dtype)  # warm-up: kernels chosen, memory allocated
                    torch.cuda.synchronize()
                    runs, started = 0, time.perf_counter()
                    while runs < 3 or time.perf_counter() - started < seconds:
                        step(batch, dtype)
                        runs += 1
                    torch.cuda.synchronize()
                    elapsed = time.perf_counter() - started
            except torch.cuda.OutOfMemoryError:
                print(f"{name:>14} {precision:>5} {batch:>6}   out of GPU memory")
                break
            except Exception as exc:  # e.g. an operation without a kernel in this precision
                print(f"{name:>14} {precision:>5} {batch:>6}   failed: {type(exc).__name__}: {exc}")
                break
            peak = torch.cuda.max_memory_allocated() / 2**30
            print(
                f"{name:>14} {precision:>5} {batch:>6} {runs * batch / elapsed:>10.1f} {peak:>9.2f}"
            )


def decode_rate(height: int, width: int, frames: int = 48) -> None:
    """Frames/s of decoding a synthetic video at this resolution on the CPU, at native size
    and resized to a short side of 384 (one decoder thread, as one worker uses)."""
    from qualitylab.data.video import Sampling, iter_frames, write_video

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height, width + frames * 4, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as scratch:
        path = write_video(
            Path(scratch) / "clip.mp4",
            (np.ascontiguousarray(base[:, 4 * i : 4 * i + width]) for i in range(frames)),
            fps=24,
        )
        for label, sampling in (
            ("native", Sampling()),
            ("short side 384", Sampling(short_side=384)),
        ):
            started = time.perf_counter()
            count = sum(1 for _ in iter_frames(path, sampling))
            rate = count / (time.perf_counter() - started)
            print(f"decode {width}x{height} ({label}): {rate:.0f} frames/s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [*TEXT_FRAME, *PAIRS]
    parser.add_argument("--families", nargs="+", choices=names, default=names)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--pair-batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--height", type=int, default=576, help="frame height for LPIPS and RAFT")
    parser.add_argument("--width", type=int, default=1024, help="frame width for LPIPS and RAFT")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per setting")
    parser.add_argument(
        "--check-on-cpu",
        action="store_true",
        help="only check that each chosen family runs: one batch of 1 in fp32 on the CPU",
    )
    args = parser.parse_args()

    import torch

    if args.check_on_cpu:
        global DEVICE
        DEVICE = "cpu"
        for name in args.families:
            with torch.device(DEVICE), torch.inference_mode():
                built = PAIRS[name](128, 128) if name in PAIRS else TEXT_FRAME[name]()
                built[1](1, torch.float32)
            print(f"{name}: runs")
        return
    if not torch.cuda.is_available():
        print(
            "benchmarks/gpu_extract.py needs a CUDA GPU and none is available here "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); "
            "run it on a machine with one.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"{'family':>14} {'prec':>5} {'batch':>6} {'frames/s':>10} {'peak GiB':>9}")
    for name in args.families:
        started = time.perf_counter()
        with torch.device(DEVICE):
            if name in PAIRS:
                built, batches = PAIRS[name](args.height, args.width), args.pair_batches
            else:
                built, batches = TEXT_FRAME[name](), args.batches
        print(f"{name:>14} built in {time.perf_counter() - started:.1f} s")
        sweep(name, built, batches, args.seconds)
        del built
        torch.cuda.empty_cache()
    decode_rate(args.height, args.width)


if __name__ == "__main__":
    main()
