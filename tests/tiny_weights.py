"""Tiny random copies of the pretrained weights the learned extractors read, built offline.

Each ``save_tiny_*`` function writes a complete copy of one weights key into a directory,
laid out as the user's copy under ``$QUALITYLAB_HOME/weights/<key>/`` is, and returns the
directory; it is seeded, so the same function always writes the same weights:

- ``clip_b32`` (and any transformers CLIP key): :func:`save_tiny_clip`;
- ``siglip_so400m`` (and any transformers SigLIP key): :func:`save_tiny_siglip`;
- ``hps_v2``: :func:`save_tiny_hps`;
- ``imagereward``: :func:`save_tiny_imagereward`, with :func:`use_tiny_blip_vit` in force
  both when it is written and when it is loaded;
- ``lpips_alex``: :func:`save_tiny_alexnet`;
- ``raft_large``: :func:`save_tiny_raft`.

CLIP and SigLIP are tiny ``transformers`` models saved with ``save_pretrained``; SigLIP's
real tokenizer needs ``sentencepiece``, so the tiny SigLIP carries a Unigram tokenizer built
with the ``tokenizers`` library instead. HPS v2 is a tiny open_clip architecture (an
``open_clip_config.json`` beside the checkpoint). ImageReward is the package's own class
with a small BERT. LPIPS's AlexNet and RAFT large keep torchvision's architectures (the
loaders read torchvision's state dicts), with seeded random weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qualitylab.features.learned.imagereward_compat import bert_tokenizer_from, import_imagereward

# --- CLIP, SigLIP and HPS v2 (text-frame similarity) ---------------------------------------

HPS_CHECKPOINT = "HPS_v2_compressed.pt"
SIGLIP_MAX_TOKENS = 64
_TOWER = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2}


def clip_tokenizer():
    """A byte-level CLIP tokenizer whose vocabulary is every single character (with and
    without CLIP's end-of-word marker), with no merges: one token per character."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    characters = sorted(pre_tokenizers.ByteLevel.alphabet())
    pieces = [*characters, *(f"{c}</w>" for c in characters), "<|startoftext|>", "<|endoftext|>"]
    vocab = {piece: index for index, piece in enumerate(pieces)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _siglip_tokenizer():
    """A lower-casing Unigram tokenizer with SigLIP's special tokens and end-of-sequence
    post-processing, over letters and digits."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(f"▁{c}", -2.0) for c in letters] + [(c, -3.0) for c in letters + "0123456789"]
    backend = Tokenizer(models.Unigram(pieces, unk_id=2))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=SIGLIP_MAX_TOKENS,
    )


def save_tiny_clip(directory: Path) -> Path:
    """A seeded tiny CLIPModel and its CLIPProcessor, saved as a model directory."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tokenizer = clip_tokenizer()
    config = CLIPConfig(
        text_config={
            **_TOWER,
            "num_attention_heads": 4,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 77,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**_TOWER, "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    directory.mkdir(parents=True, exist_ok=True)
    CLIPModel(config).save_pretrained(directory)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    return directory


def save_tiny_siglip(directory: Path) -> Path:
    """A seeded tiny SiglipModel and its SiglipProcessor, saved as a model directory."""
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

    tokenizer = _siglip_tokenizer()
    config = SiglipConfig(
        text_config={
            **_TOWER,
            "num_attention_heads": 4,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": SIGLIP_MAX_TOKENS,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "bos_token_id": None,
        },
        vision_config={**_TOWER, "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
    )
    torch.manual_seed(0)
    directory.mkdir(parents=True, exist_ok=True)
    SiglipModel(config).save_pretrained(directory)
    image_processor = SiglipImageProcessor(size={"height": 32, "width": 32})
    processor = SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    processor.save_pretrained(directory)
    return directory


def save_tiny_hps(directory: Path) -> Path:
    """A tiny open_clip architecture and a seeded random state dict of it, saved as HPS v2
    saves its checkpoint (``{"state_dict": ...}``)."""
    import open_clip

    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "model_cfg": {
            "embed_dim": 16,
            "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16,
                           "patch_size": 8},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2,
                         "layers": 2},
        },
        "preprocess_cfg": {"interpolation": "bicubic", "resize_mode": "shortest"},
    }  # fmt: skip
    (directory / "open_clip_config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = open_clip.create_model(f"local-dir:{directory}", load_weights=False)
    torch.save({"state_dict": model.state_dict()}, directory / HPS_CHECKPOINT)
    return directory


# --- ImageReward ---------------------------------------------------------------------------

# A small BERT WordPiece vocabulary: BERT's special tokens and the words of the prompts.
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "the", "red", "cat", "dog"]
VOCAB += ["sits", "on", "under", "mat", "##s"]
# The text encoder must stay 768 wide (ImageReward's MLP reads 768 features); the rest is
# shrunk. BLIP adds two special tokens ([DEC], [ENC]) to BERT's vocabulary.
MED_CONFIG = {
    "architectures": ["BertModel"],
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 40,
    "model_type": "bert",
    "num_attention_heads": 4,
    "num_hidden_layers": 1,
    "pad_token_id": 0,
    "type_vocab_size": 2,
    "vocab_size": len(VOCAB) + 2,
    "encoder_width": 1024,
    "add_cross_attention": True,
}
TINY_VIT_WIDTH = 32


def use_tiny_blip_vit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ImageReward build the package's ViT with a tiny width and depth instead of
    ViT-L, while ``monkeypatch`` is in force (for writing and for loading the weights)."""
    import_imagereward()
    from ImageReward.models.BLIP import blip_pretrain, vit

    def create_tiny_vit(kind: str, image_size: int, *args: object) -> tuple[torch.nn.Module, int]:
        assert kind == "large"  # ImageReward v1.0 is BLIP with a ViT-L
        encoder = vit.VisionTransformer(
            img_size=image_size, patch_size=16, embed_dim=TINY_VIT_WIDTH, depth=2, num_heads=2
        )
        return encoder, TINY_VIT_WIDTH

    monkeypatch.setattr(blip_pretrain, "create_vit", create_tiny_vit)


def save_tiny_imagereward(directory: Path) -> Path:
    """A seeded random ImageReward model saved as ``ImageReward.pt``, with its
    ``med_config.json`` and BERT tokenizer files beside it. The text encoder is the small
    BERT of ``MED_CONFIG``; the vision tower is what the package's ``create_vit`` builds:
    the tiny ViT under :func:`use_tiny_blip_vit`, else the real ViT-L/16."""
    package = import_imagereward()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (directory / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": True, "model_max_length": 512})
    )
    (directory / "med_config.json").write_text(json.dumps(MED_CONFIG))
    torch.manual_seed(0)
    with bert_tokenizer_from(directory):
        model = package.ImageReward(med_config=str(directory / "med_config.json"), device="cpu")
    # Wider random weights than the package's init, so that rewards differ between frames.
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=module.in_features**-0.5)
            torch.nn.init.normal_(module.bias, std=0.1)
    torch.save(model.state_dict(), directory / "ImageReward.pt")
    return directory


# --- LPIPS (AlexNet) and RAFT large --------------------------------------------------------

ALEXNET_CHECKPOINT = "alexnet-owt-7be5be79.pth"
RAFT_CHECKPOINT = "raft_large_C_T_SKHT_V2-ff5fadd5.pth"


def save_tiny_alexnet(directory: Path) -> Path:
    """A seeded random torchvision AlexNet state dict, saved as torchvision's checkpoint
    file (233 MB: the architecture is the real one)."""
    from torchvision.models import alexnet

    torch.manual_seed(0)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(alexnet(weights=None).state_dict(), directory / ALEXNET_CHECKPOINT)
    return directory


def save_tiny_raft(directory: Path) -> Path:
    """A seeded random torchvision RAFT large state dict, saved as torchvision's checkpoint
    file (the architecture is the real one)."""
    from torchvision.models.optical_flow import raft_large

    torch.manual_seed(0)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(raft_large(weights=None).state_dict(), directory / RAFT_CHECKPOINT)
    return directory
