"""The ImageReward extractor and image-reward 1.5's compatibility layer.

The model is image-reward's own ``ImageReward`` class with random weights, saved where the
user's ``imagereward`` weights go (checkpoint, ``med_config.json``, a small BERT vocabulary;
``tiny_weights.save_tiny_imagereward``) and loaded through the registry. ImageReward always
builds a ViT-L/16, which takes tens of seconds to build and run on a CPU, so the fast tests
swap the package's ``create_vit`` for one that builds the package's own ``VisionTransformer``
with a tiny width and depth (``tiny_weights.use_tiny_blip_vit``); one slow test runs the
real ViT-L. The reference is the package's ``ImageReward.score``, one
frame at a time, on the package's ``load`` of the same files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import timm
import torch
from accelerate import init_empty_weights
from conftest import make_video
from PIL import Image
from tiny_weights import MED_CONFIG, save_tiny_imagereward, use_tiny_blip_vit

from qualitylab.config import weights_dir
from qualitylab.data.video import Sampling, iter_frames
from qualitylab.features import extract, registry
from qualitylab.features.base import Chunk
from qualitylab.features.learned.imagereward_compat import bert_tokenizer_from, import_imagereward
from qualitylab.features.learned.runtime import MissingWeightsError
from qualitylab.features.store import FeatureStore
from qualitylab.weights import find_model

PROMPT = "a red cat sits on the mat"
LONG_PROMPT = " ".join(["the red dog sits under a mat"] * 6)


@pytest.fixture(scope="module")
def package() -> ModuleType:
    """The ImageReward package, imported through the compatibility layer."""
    return import_imagereward()


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hugging Face cache that holds nothing."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))


@pytest.fixture
def tiny_vit(package: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """ImageReward builds the package's ViT with a tiny width and depth instead of ViT-L."""
    use_tiny_blip_vit(monkeypatch)


@pytest.fixture
def weights(package: ModuleType, tiny_vit: None, no_network: None) -> Path:
    """Random tiny ImageReward weights where the user's ``imagereward`` weights go."""
    directory = weights_dir() / "imagereward"
    save_tiny_imagereward(directory)
    return directory


def _package_load(package: ModuleType, directory: Path) -> torch.nn.Module:
    """The package's own ``load`` of the weights in ``directory`` (the model ImageReward's
    users run)."""
    with bert_tokenizer_from(directory):
        return package.load(
            str(directory / "ImageReward.pt"),
            device="cpu",
            med_config=str(directory / "med_config.json"),
        )


@pytest.fixture
def reference(package: ModuleType, weights: Path) -> torch.nn.Module:
    """The package's own ``load`` of the user's weights."""
    return _package_load(package, weights)


def _frames(count: int = 5) -> np.ndarray:
    """Frames of large random colour blocks, 40x60."""
    blocks = np.random.default_rng(0).integers(0, 256, (count, 4, 5, 3), dtype=np.uint8)
    return blocks.repeat(10, axis=1).repeat(12, axis=2)


def _chunk(frames: np.ndarray, prompt: str = PROMPT, previous: np.ndarray | None = None) -> Chunk:
    return Chunk(frames=frames, previous=previous, prompt=prompt, video_id="videos/cat")


def _scores(model: torch.nn.Module, prompt: str, frames: np.ndarray) -> np.ndarray:
    """ImageReward.score of each frame, one by one."""
    with torch.no_grad():
        return np.array([model.score(prompt, Image.fromarray(frame)) for frame in frames])


# --- the compatibility layer -------------------------------------------------------------


def test_compat_provides_transformers_4_names(package: ModuleType) -> None:
    from ImageReward.models.BLIP import med
    from transformers import modeling_utils, pytorch_utils

    assert import_imagereward() is package
    assert med.apply_chunking_to_forward is pytorch_utils.apply_chunking_to_forward
    assert modeling_utils.prune_linear_layer is pytorch_utils.prune_linear_layer
    with pytest.raises(NotImplementedError, match="transformers 5"):
        med.find_pruneable_heads_and_indices({0}, 12, 64, set())
    encoder = med.BertModel(med.BertConfig(**MED_CONFIG), add_pooling_layer=False)
    assert encoder.get_head_mask(None, 3) == [None, None, None]
    with pytest.raises(NotImplementedError, match="head masks"):
        encoder.get_head_mask(torch.ones(4), 3)
    additive = encoder.invert_attention_mask(torch.tensor([[1, 1, 0]]))
    assert additive.shape == (1, 1, 1, 3)
    assert additive[0, 0, 0, :2].tolist() == [0, 0]
    assert additive[0, 0, 0, 2] == torch.finfo(torch.float32).min


def test_compat_import_leaves_warnings_on(package: ModuleType) -> None:
    """blip.py's blanket "ignore every warning" filter does not outlive the import."""
    assert ("ignore", None, Warning, None, 0) not in warnings.filters
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn("shown after importing ImageReward", UserWarning, stacklevel=1)
    assert [str(warning.message) for warning in caught] == ["shown after importing ImageReward"]


@pytest.mark.slow
def test_compat_import_is_quiet_and_leaves_process_state() -> None:
    """In a fresh interpreter with Python's default filters: importing prints nothing, keeps
    every warnings filter there was, and leaves transformers' logging level as it was."""
    script = """
import json, warnings
from transformers.utils import logging
logging.set_verbosity_info()
filters = list(warnings.filters)
from qualitylab.features.learned.imagereward_compat import import_imagereward
import_imagereward()
kept = all(entry in warnings.filters for entry in filters)
blanket = ("ignore", None, Warning, None, 0) in warnings.filters
print(json.dumps([kept, blanket, logging.get_verbosity() == logging.INFO]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stderr == ""
    assert json.loads(done.stdout) == [True, False, True]


def test_timm_1_provides_the_old_import_paths(package: ModuleType) -> None:
    from ImageReward.models.BLIP import blip, vit

    assert vit.PatchEmbed is timm.layers.PatchEmbed
    assert vit.DropPath is timm.layers.DropPath
    assert vit.trunc_normal_ is timm.layers.trunc_normal_
    assert vit.named_apply is timm.models.named_apply
    assert vit.adapt_input_conv is timm.models.adapt_input_conv
    assert vit.register_model is timm.models.register_model
    assert callable(blip.download_cached_file)


def test_blip_vit_large_has_timm_vit_large_weights(package: ModuleType) -> None:
    """The ViT ImageReward builds has the parameters of timm's own ViT-L/16 at 224 px."""
    from ImageReward.models.BLIP import blip

    with init_empty_weights():
        encoder, width = blip.create_vit("large", 224)
        reference = timm.create_model("vit_large_patch16_224", pretrained=False, num_classes=0)
    assert width == 1024
    shapes = {name: tuple(value.shape) for name, value in encoder.state_dict().items()}
    expected = {name: tuple(value.shape) for name, value in reference.state_dict().items()}
    assert shapes == expected


def test_blip_vit_computes_timm_vit(package: ModuleType) -> None:
    """With timm 1.x underneath, BLIP's ViT computes what timm's ViT computes."""
    from ImageReward.models.BLIP import vit

    torch.manual_seed(0)
    options = {"img_size": 64, "patch_size": 16, "embed_dim": 48, "depth": 2, "num_heads": 3}
    encoder = vit.VisionTransformer(**options).eval()
    reference = timm.models.VisionTransformer(**options, num_classes=0).eval()
    reference.load_state_dict(encoder.state_dict())
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(encoder(images), reference.forward_features(images))


# --- loading -------------------------------------------------------------------------------


def test_missing_weights_fail_at_start(empty_hub_cache: None) -> None:
    with pytest.raises(MissingWeightsError, match="imagereward") as error:
        registry.create("imagereward", {"device": "cpu"})
    assert "hf download THUDM/ImageReward ImageReward.pt" in str(error.value)


def test_checkpoint_lacking_weights_is_refused(weights: Path) -> None:
    state = torch.load(weights / "ImageReward.pt", weights_only=True)
    del state["mlp.layers.0.weight"]
    torch.save(state, weights / "ImageReward.pt")
    with pytest.raises(RuntimeError, match=r"lacks 1 of the model's weights.*mlp\.layers\.0"):
        registry.create("imagereward", {"device": "cpu"})


def test_weights_are_read_from_the_hugging_face_cache(
    package: ModuleType,
    tiny_vit: None,
    no_network: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no local copy, every file (the tokenizer's too) comes from the cache snapshots
    of the catalogue's pinned revisions."""
    files = tmp_path / "files"
    save_tiny_imagereward(files)
    hub_cache = tmp_path / "hf"
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub_cache))
    for artifact in find_model("imagereward").artifacts:
        repo = hub_cache / f"models--{artifact.repo_id.replace('/', '--')}"
        target = repo / "snapshots" / artifact.revision / artifact.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files / artifact.filename, target)
    extractor = registry.create("imagereward", {"device": "cpu"})
    frames = _frames(3)
    expected = _scores(_package_load(package, files), PROMPT, frames)
    np.testing.assert_allclose(extractor.process(_chunk(frames))["reward"], expected, atol=1e-5)


# --- rewards -------------------------------------------------------------------------------


def test_rewards_equal_imagereward_score(weights: Path, reference: torch.nn.Module) -> None:
    extractor = registry.create("imagereward", {"device": "cpu"})
    frames = _frames()
    rewards = extractor.process(_chunk(frames))["reward"]
    assert rewards.dtype == np.float32
    assert rewards.shape == (len(frames),)
    expected = _scores(reference, PROMPT, frames)
    assert np.ptp(expected) > 0.05  # the frames are told apart
    np.testing.assert_allclose(rewards, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(rewards, _scores(extractor.model, PROMPT, frames), atol=1e-5)


def test_batches_and_repeats_give_the_same_rewards(weights: Path) -> None:
    frames = _frames(7)
    batched = registry.create("imagereward", {"device": "cpu", "batch_size": 3})
    one_by_one = registry.create("imagereward", {"device": "cpu", "batch_size": 1})
    first = batched.process(_chunk(frames))["reward"]
    np.testing.assert_array_equal(batched.process(_chunk(frames))["reward"], first)
    np.testing.assert_allclose(one_by_one.process(_chunk(frames))["reward"], first, atol=1e-5)


def test_long_prompt_is_cut_with_one_warning_per_video(
    weights: Path, reference: torch.nn.Module
) -> None:
    extractor = registry.create("imagereward", {"device": "cpu"})
    frames = _frames(2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = extractor.process(_chunk(frames, LONG_PROMPT))["reward"]
        extractor.process(_chunk(frames, LONG_PROMPT, previous=frames[-1]))
        extractor.process(_chunk(frames, PROMPT))
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 1
    assert "'videos/cat'" in messages[0] and "first 35" in messages[0]
    np.testing.assert_allclose(first, _scores(reference, LONG_PROMPT, frames), atol=1e-5)


def test_engine_stores_rewards_and_the_video_warning(
    weights: Path, reference: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = make_video(tmp_path / "clip.mp4", num_frames=4, size=(48, 64))
    (plan,) = extract.plan_extractors(
        ["imagereward"], Sampling(), {"imagereward": {"device": "cpu"}}
    )
    task = extract.VideoTask("clips/1", str(video), LONG_PROMPT)
    result = extract.extract_video(task, [plan], Sampling(), str(tmp_path / "store"))
    assert result.failures == {}
    assert result.computed == ["imagereward"]
    assert len(result.warnings) == 1 and "'clips/1'" in result.warnings[0]
    stored = FeatureStore(tmp_path / "store").get(plan.key(result.sha256, LONG_PROMPT))
    frames = np.stack([frame.image for frame in iter_frames(video, Sampling())])
    expected = _scores(reference, LONG_PROMPT, frames)
    np.testing.assert_allclose(stored.signals["reward"], expected, atol=1e-5)


# --- the real architecture and the GPU -----------------------------------------------------


@pytest.mark.slow
def test_vit_large_model_equals_imagereward_score(package: ModuleType, no_network: None) -> None:
    """The full ImageReward architecture (ViT-L/16), loaded through the registry."""
    directory = weights_dir() / "imagereward"
    save_tiny_imagereward(directory)
    extractor = registry.create("imagereward", {"device": "cpu", "batch_size": 2})
    frames = _frames(3)
    rewards = extractor.process(_chunk(frames))["reward"]
    np.testing.assert_allclose(rewards, _scores(extractor.model, PROMPT, frames), atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(("precision", "tolerance"), [("fp16", 2e-2), ("bf16", 5e-2)])
def test_half_precision_on_cuda_is_close_to_fp32(
    weights: Path, precision: str, tolerance: float
) -> None:
    frames = _frames(6)
    fp32 = registry.create("imagereward", {"device": "cuda", "precision": "fp32"})
    half = registry.create("imagereward", {"device": "cuda", "precision": precision})
    expected = fp32.process(_chunk(frames))["reward"]
    rewards = half.process(_chunk(frames))["reward"]
    assert rewards.dtype == np.float32
    np.testing.assert_allclose(rewards, expected, atol=tolerance)
