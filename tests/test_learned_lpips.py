"""The LPIPS extractor, loaded from random AlexNet weights laid out like the user's, against
the lpips package's own computation on the same weights."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import lpips
import numpy as np
import pytest
import torch
from tiny_weights import ALEXNET_CHECKPOINT, save_tiny_alexnet

from qualitylab.config import weights_dir
from qualitylab.data.video import Sampling, write_video
from qualitylab.features import extract, registry
from qualitylab.features.base import Chunk, Extractor
from qualitylab.features.learned.runtime import MissingWeightsError


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root whose ``lpips_alex`` weights are a seeded random AlexNet, saved once as
    torchvision's checkpoint file (233 MB)."""
    root = tmp_path_factory.mktemp("lpips-home")
    save_tiny_alexnet(root / "weights" / "lpips_alex")
    return root


@pytest.fixture(scope="module")
def alexnet_state(home: Path) -> dict[str, torch.Tensor]:
    """The random AlexNet state dict of ``home``."""
    return torch.load(home / "weights" / "lpips_alex" / ALEXNET_CHECKPOINT, weights_only=True)


@pytest.fixture
def weights(home: Path, monkeypatch: pytest.MonkeyPatch, no_network: None) -> Path:
    """Point this test's cache root at the one holding the random checkpoint; no network."""
    monkeypatch.setenv("QUALITYLAB_HOME", str(home))
    return weights_dir() / "lpips_alex" / ALEXNET_CHECKPOINT


@pytest.fixture(scope="module")
def extractor(home: Path) -> Extractor:
    """The LPIPS extractor on the random checkpoint, four pairs a batch, shared by tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUALITYLAB_HOME", str(home))
        return registry.create("lpips", {"batch_size": 4})


def _frames(count: int = 7, height: int = 48, width: int = 56) -> np.ndarray:
    """A camera panning over a smooth random texture."""
    noise = np.random.default_rng(0).uniform(0, 255, (height + 16, width + 32, 3))
    texture = cv2.GaussianBlur(noise.astype(np.float32), (0, 0), 2.0)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return np.stack([texture[i : i + height, 3 * i : 3 * i + width] for i in range(count)])


def _chunk(frames: np.ndarray, previous: np.ndarray | None = None) -> Chunk:
    return Chunk(frames=frames, previous=previous, prompt="a pan", video_id="v")


@pytest.fixture(scope="module")
def reference(alexnet_state: dict[str, torch.Tensor]) -> np.ndarray:
    """LPIPS of each neighbouring pair of ``_frames()``, as the lpips package computes it
    from its own input conversion, with the random AlexNet as its trunk."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    # lpips names AlexNet's layer features.<i> slice<k>.<i>.
    trunk = {
        name: alexnet_state[f"features.{name.split('.', 1)[1]}"] for name in model.net.state_dict()
    }
    model.net.load_state_dict(trunk)
    images = [lpips.im2tensor(frame) for frame in _frames()]
    with torch.no_grad():
        return np.array([model(a, b).item() for a, b in zip(images[:-1], images[1:])])


def test_missing_weights_fail_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="qualitylab weights download lpips_alex"):
        registry.create("lpips")


def test_loads_from_the_torch_hub_cache(
    home: Path,
    alexnet_state: dict[str, torch.Tensor],
    no_network: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / ALEXNET_CHECKPOINT).symlink_to(
        home / "weights" / "lpips_alex" / ALEXNET_CHECKPOINT
    )
    model = registry.create("lpips").model
    for name, value in model.net.state_dict().items():
        torch.testing.assert_close(value, alexnet_state[f"features.{name.split('.', 1)[1]}"])


def test_matches_the_lpips_package(extractor: Extractor, reference: np.ndarray) -> None:
    frames = _frames()
    output = extractor.process(_chunk(frames))
    assert set(output) == {"adjacent"}
    assert output["adjacent"].dtype == np.float32
    assert output["adjacent"].shape == (len(frames) - 1,)
    np.testing.assert_allclose(output["adjacent"], reference, rtol=1e-5, atol=1e-7)


def test_identical_frames_are_at_distance_zero(extractor: Extractor) -> None:
    frames = np.repeat(_frames(1), 3, axis=0)
    output = extractor.process(_chunk(frames[1:], frames[0]))
    np.testing.assert_array_equal(output["adjacent"], np.zeros(2, np.float32))


def test_previous_frame_adds_the_first_pair(extractor: Extractor) -> None:
    frames = _frames()
    whole = extractor.process(_chunk(frames))["adjacent"]
    continued = extractor.process(_chunk(frames[3:], frames[2]))["adjacent"]
    np.testing.assert_array_equal(continued, whole[2:])
    assert extractor.process(_chunk(frames[:1]))["adjacent"].shape == (0,)
    assert extractor.process(_chunk(frames[1:2], frames[0]))["adjacent"].shape == (1,)


def test_deterministic_and_batched_equals_one_by_one(extractor: Extractor, weights: Path) -> None:
    frames = _frames()
    first = extractor.process(_chunk(frames))["adjacent"]
    np.testing.assert_array_equal(extractor.process(_chunk(frames))["adjacent"], first)
    single = registry.create("lpips", {"batch_size": 1}).process(_chunk(frames))["adjacent"]
    np.testing.assert_allclose(single, first, rtol=1e-5, atol=1e-7)


def test_too_small_frames_are_refused(extractor: Extractor) -> None:
    with pytest.raises(ValueError, match="at least 31x31"):
        extractor.process(_chunk(_frames(2, 30, 56)))


def test_runs_in_the_engine_without_warnings(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = write_video(tmp_path / "pan.mp4", list(_frames()), 8)
    plans = extract.plan_extractors(["lpips"], Sampling())
    task = extract.VideoTask("pan", str(video), "a pan")
    result = extract.extract_video(task, plans, Sampling(), str(tmp_path / "store"))
    assert result.failures == {}
    assert result.warnings == []
    assert result.computed == ["lpips"]


@pytest.mark.gpu
def test_fp16_on_cuda_matches_fp32(weights: Path) -> None:
    frames = _frames()
    full = registry.create("lpips", {"device": "cuda", "precision": "fp32"})
    half = registry.create("lpips", {"device": "cuda", "precision": "fp16"})
    expected = full.process(_chunk(frames))["adjacent"]
    actual = half.process(_chunk(frames))["adjacent"]
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=2e-2, atol=1e-3)
