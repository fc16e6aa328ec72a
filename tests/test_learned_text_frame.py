"""The text–frame extractors, loaded from tiny random models laid out like the user's weights,
against each upstream library's own computation on the same weights.

The tiny models come from ``tiny_weights``: CLIP and SigLIP are tiny ``transformers`` models
saved with ``save_pretrained``; HPS v2 is a tiny open_clip architecture (an
``open_clip_config.json`` beside the checkpoint) whose random state dict is saved as HPS v2
saves its own. Each is built once per module and copied under its weights key by ``install``.
Jina-CLIP v2's modeling code lives only on the Hugging Face Hub, so offline it is tested for
its error; the ``network`` test runs the real model.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_video
from safetensors.torch import save_file
from tiny_weights import HPS_CHECKPOINT, save_tiny_clip, save_tiny_hps, save_tiny_siglip

from qualitylab.config import weights_dir
from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.data.video import decode
from qualitylab.features import registry
from qualitylab.features.base import Chunk
from qualitylab.features.extraction_run import RunError, extract_features
from qualitylab.features.learned.runtime import MissingWeightsError, model_directory
from qualitylab.features.learned.text_frame import hps_architecture
from qualitylab.weights import download, find_model

PROMPT = "a red fox runs across a snowy field"
LONG_PROMPT = " ".join(["a very long prompt about a fox in the snow"] * 12)
# The tiny models of this file, by the registry entry that reads them.
TINY = ("clip_b32", "siglip_so400m", "hps_v2")


def _frames(count: int = 5, height: int = 40, width: int = 56) -> np.ndarray:
    """A camera panning over a smooth random colour texture."""
    noise = np.random.default_rng(0).uniform(0, 255, (height, width + 8 * count, 3))
    texture = cv2.GaussianBlur(noise.astype(np.float32), (0, 0), 3.0)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return np.stack([texture[:, 8 * i : 8 * i + width] for i in range(count)])


def _chunk(frames: np.ndarray, prompt: str = PROMPT, video_id: str = "v1") -> Chunk:
    return Chunk(frames=frames, previous=None, prompt=prompt, video_id=video_id)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny CLIP model directory, built once for the module."""
    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def tiny_siglip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny SigLIP model directory, built once for the module."""
    return save_tiny_siglip(tmp_path_factory.mktemp("tiny-siglip"))


@pytest.fixture(scope="module")
def tiny_hps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny HPS v2 model directory, built once for the module."""
    return save_tiny_hps(tmp_path_factory.mktemp("tiny-hps"))


_FIXTURES = {"clip_b32": "tiny_clip", "siglip_so400m": "tiny_siglip", "hps_v2": "tiny_hps"}


def _install(source: Path, key: str) -> Path:
    """Copy a tiny model to where the user's weights ``key`` go."""
    target = weights_dir() / key
    shutil.copytree(source, target)
    return target


@pytest.fixture
def install(request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Installs the tiny model an extractor reads, under its weights key."""

    def installed(name: str) -> Path:
        return _install(request.getfixturevalue(_FIXTURES[name]), name)

    return installed


def _reference(name: str, directory: Path, frames: np.ndarray, prompt: str) -> np.ndarray:
    """The cosine similarity of the prompt and each frame, as the upstream library computes
    it with its own processor and model on the same weights."""
    if name == "hps_v2":
        return _open_clip_reference(directory, frames, prompt)
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(directory).eval()
    processor = AutoProcessor.from_pretrained(directory)
    if name == "clip_b32":
        # Padded only to the prompt's length, with the attention mask.
        inputs = processor(
            text=[prompt], images=list(frames), padding=True, truncation=True, return_tensors="pt"
        )
    else:
        # SigLIP as trained: padded to its length, without an attention mask.
        encoded = processor(
            text=[prompt],
            images=list(frames),
            padding="max_length",
            truncation=True,
            return_tensors="pt",
        )
        inputs = {"input_ids": encoded["input_ids"], "pixel_values": encoded["pixel_values"]}
    with torch.no_grad():
        output = model(**inputs)
    return (output.image_embeds @ output.text_embeds.T)[:, 0].numpy()


def _open_clip_reference(directory: Path, frames: np.ndarray, prompt: str) -> np.ndarray:
    """HPS v2's score recipe: the open_clip model with the checkpoint's state dict, the eval
    transform, the tokenizer, and the product of the normalised features."""
    import open_clip
    from PIL import Image

    architecture = f"local-dir:{directory}"
    model, _, preprocess = open_clip.create_model_and_transforms(architecture)
    model.load_state_dict(torch.load(directory / HPS_CHECKPOINT)["state_dict"])
    model.eval()
    tokenizer = open_clip.get_tokenizer(architecture)
    images = torch.stack([preprocess(Image.fromarray(frame)) for frame in frames])
    with torch.no_grad():
        image_features = model.encode_image(images, normalize=True)
        text_features = model.encode_text(tokenizer([prompt]), normalize=True)
    return (image_features @ text_features.T)[:, 0].numpy()


@pytest.mark.parametrize(
    "name", ["clip_b32", "clip_l14", "siglip_so400m", "siglip_l16", "jina_clip_v2", "hps_v2"]
)
def test_missing_weights_fail_at_start_up(name: str) -> None:
    with pytest.raises(MissingWeightsError, match=f"qualitylab weights download {name}") as error:
        registry.create(name)
    assert f"  {name}: weights" in str(error.value)


def test_model_setting_accepts_only_its_family() -> None:
    with pytest.raises(ValueError, match="clip_b32"):
        registry.create("clip_b32", {"model": "hps_v2"})


@pytest.mark.parametrize("name", TINY)
def test_matches_upstream_and_is_deterministic(name: str, install: Callable[[str], Path]) -> None:
    directory = install(name)
    frames = _frames()
    extractor = registry.create(name)
    output = extractor.process(_chunk(frames))
    assert set(output) == {"prompt_sim"}
    values = output["prompt_sim"]
    assert values.dtype == np.float32 and values.shape == (len(frames),)
    assert np.all(np.abs(values) <= 1 + 1e-6)
    assert np.ptp(values) > 0
    np.testing.assert_allclose(values, _reference(name, directory, frames, PROMPT), atol=1e-5)
    np.testing.assert_array_equal(extractor.process(_chunk(frames))["prompt_sim"], values)


@pytest.mark.parametrize("name", TINY)
def test_batched_equals_one_by_one(name: str, install: Callable[[str], Path]) -> None:
    install(name)
    frames = _frames(count=7)
    batched = registry.create(name).process(_chunk(frames))["prompt_sim"]
    single = registry.create(name, {"batch_size": 1}).process(_chunk(frames))["prompt_sim"]
    np.testing.assert_allclose(single, batched, atol=1e-6)


@pytest.mark.parametrize("name", TINY)
def test_long_prompt_is_truncated_with_a_warning_per_video(
    name: str, install: Callable[[str], Path]
) -> None:
    directory = install(name)
    frames = _frames(count=3)
    extractor = registry.create(name)
    with pytest.warns(UserWarning, match=r"has \d+ tokens; .* so it was truncated") as caught:
        first = extractor.process(_chunk(frames[:2], LONG_PROMPT, "v1"))
        second = extractor.process(_chunk(frames[2:], LONG_PROMPT, "v1"))
        extractor.process(_chunk(frames, LONG_PROMPT, "v2"))
    messages = [str(warning.message) for warning in caught]
    assert sum("'v1'" in message for message in messages) == 1
    assert sum("'v2'" in message for message in messages) == 1
    values = np.concatenate([first["prompt_sim"], second["prompt_sim"]])
    np.testing.assert_allclose(values, _reference(name, directory, frames, LONG_PROMPT), atol=1e-5)


def test_hps_builds_vit_h_14_unless_a_config_lies_beside_the_checkpoint(tmp_path: Path) -> None:
    assert hps_architecture(tmp_path) == "ViT-H-14"
    (tmp_path / "open_clip_config.json").write_text("{}")
    assert hps_architecture(tmp_path) == f"local-dir:{tmp_path}"


def test_jina_without_its_remote_code_names_the_model_and_the_fix() -> None:
    # jina-clip-v2's config.json sends transformers to this repository for its code.
    directory = weights_dir() / "jina_clip_v2"
    directory.mkdir(parents=True)
    code = "jinaai/jina-clip-implementation"
    config = {
        "architectures": ["JinaCLIPModel"],
        "auto_map": {
            "AutoConfig": f"{code}--configuration_clip.JinaCLIPConfig",
            "AutoModel": f"{code}--modeling_clip.JinaCLIPModel",
        },
        "model_type": "jina_clip",
    }
    (directory / "config.json").write_text(json.dumps(config))
    save_file({}, directory / "model.safetensors")
    with pytest.raises(RuntimeError) as error:
        registry.create("jina_clip_v2")
    message = str(error.value)
    assert message.startswith("jina_clip_v2: cannot load Jina-CLIP v2")
    assert code in message and "qualitylab weights download jina_clip_v2" in message


@pytest.mark.network
def test_jina_clip_v2_matches_its_own_encoders() -> None:
    from huggingface_hub import snapshot_download
    from PIL import Image
    from transformers import AutoModel

    for result in download([find_model("jina_clip_v2")]):
        assert result.status in ("present", "downloaded"), result.message
    snapshot_download("jinaai/jina-clip-implementation")
    frames = _frames()
    values = registry.create("jina_clip_v2", {"device": "cpu"}).process(_chunk(frames))
    model = AutoModel.from_pretrained(model_directory("jina_clip_v2"), trust_remote_code=True)
    text = model.encode_text([PROMPT])
    images = model.encode_image([Image.fromarray(frame) for frame in frames])
    assert values["prompt_sim"].dtype == np.float32
    np.testing.assert_allclose(values["prompt_sim"], (images @ text.T)[:, 0], atol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("name", TINY)
def test_fp16_on_cuda_matches_fp32(name: str, install: Callable[[str], Path]) -> None:
    install(name)
    frames = _frames()
    fp32 = registry.create(name, {"device": "cuda", "precision": "fp32"}).process(_chunk(frames))
    fp16 = registry.create(name, {"device": "cuda", "precision": "fp16"}).process(_chunk(frames))
    assert fp16["prompt_sim"].dtype == np.float32
    np.testing.assert_allclose(fp16["prompt_sim"], fp32["prompt_sim"], atol=1e-2)


def test_extract_features_writes_clip_columns(
    tmp_path: Path, install: Callable[[str], Path]
) -> None:
    install("clip_b32")
    rows = []
    for index in range(2):
        make_video(tmp_path / f"v{index}.mp4", num_frames=4 + index)
        rows.append({"id": f"v{index}", "video": f"v{index}.mp4", "prompt": f"clip {index}"})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    manifest = load_manifest(tmp_path / "manifest.csv", ColumnMapping(targets=()))
    summary = extract_features(manifest, ["clip_b32"], tmp_path / "out")
    assert not summary.failed
    table = pd.read_parquet(summary.tables["agg"])
    assert table["id"].tolist() == ["v0", "v1"]
    columns = [column for column in table.columns if column.startswith("clip_b32.prompt_sim.")]
    assert len(columns) == 15
    # The stored signal of v0 is the extractor's output on the decoded frames.
    nonagg = pd.read_parquet(summary.tables["nonagg"]).set_index("id")
    stored = nonagg.loc["v0", [f"clip_b32.prompt_sim.f{i:03d}" for i in range(4)]].to_numpy()
    frames = decode(tmp_path / "v0.mp4").frames
    direct = registry.create("clip_b32").process(_chunk(frames, "clip 0", "v0"))["prompt_sim"]
    np.testing.assert_allclose(stored.astype(np.float32), direct, atol=1e-6)


def test_extract_features_without_weights_names_the_model_and_the_fix(tmp_path: Path) -> None:
    make_video(tmp_path / "v.mp4")
    pd.DataFrame([{"id": "v", "video": "v.mp4", "prompt": "p"}]).to_csv(
        tmp_path / "manifest.csv", index=False
    )
    manifest = load_manifest(tmp_path / "manifest.csv", ColumnMapping(targets=()))
    with pytest.raises(RunError, match="clip_l14") as error:
        extract_features(manifest, ["clip_l14"], tmp_path / "out")
    assert "qualitylab weights download clip_l14" in str(error.value)
