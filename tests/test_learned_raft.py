"""The RAFT extractor, loaded from a random RAFT large checkpoint laid out like the user's,
against torchvision's own RAFT forward on the same weights and preprocessing.

RAFT needs frames of at least 128 px, and a random RAFT large takes about a second a pair
on a CPU, so the forward passes are shared between tests: the frames are 130 x 140
(padded to 136 x 144 inside), there are two pairs, and two refinement steps instead of 12.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_weights import RAFT_CHECKPOINT, save_tiny_raft
from torchvision.models.optical_flow import RAFT, Raft_Large_Weights, raft_large

from qualitylab.config import weights_dir
from qualitylab.features import registry
from qualitylab.features.base import Chunk
from qualitylab.features.classical.flow import flow_reductions
from qualitylab.features.learned.raft import RAFTConfig
from qualitylab.features.learned.runtime import MissingWeightsError

SIGNALS = tuple(signal.name for signal in registry.get_spec("raft").signals)
UPDATES = 2
HEIGHT, WIDTH = 130, 140


def _big_frames(count: int = 3) -> np.ndarray:
    """A camera panning over a smooth random texture, at twice the test size."""
    height, width = 2 * HEIGHT, 2 * WIDTH
    noise = np.random.default_rng(0).uniform(0, 255, (height + 8 * count, width + 8 * count, 3))
    texture = cv2.GaussianBlur(noise.astype(np.float32), (0, 0), 4.0)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return np.stack([texture[3 * i : 3 * i + height, 8 * i : 8 * i + width] for i in range(count)])


BIG_FRAMES = _big_frames()
FRAMES = np.stack(
    [cv2.resize(frame, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA) for frame in BIG_FRAMES]
)


def _chunk(frames: np.ndarray, previous: np.ndarray | None = None) -> Chunk:
    return Chunk(frames=frames, previous=previous, prompt="a pan", video_id="v")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root whose ``raft_large`` weights are a seeded random RAFT large checkpoint."""
    root = tmp_path_factory.mktemp("raft-home")
    save_tiny_raft(root / "weights" / "raft_large")
    return root


@pytest.fixture(scope="module")
def raft_state(home: Path) -> dict[str, torch.Tensor]:
    """The random RAFT large state dict of ``home``."""
    return torch.load(home / "weights" / "raft_large" / RAFT_CHECKPOINT, weights_only=True)


@pytest.fixture
def weights(home: Path, monkeypatch: pytest.MonkeyPatch, no_network: None) -> Path:
    """Point this test's cache root at the one holding the random checkpoint; no network."""
    monkeypatch.setenv("QUALITYLAB_HOME", str(home))
    return weights_dir() / "raft_large" / RAFT_CHECKPOINT


@pytest.fixture(scope="module")
def batched(home: Path) -> dict[str, np.ndarray]:
    """The extractor's signals of the two pairs of ``FRAMES``, given as a chunk of the last
    two frames after the first, with both pairs in one batch."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUALITYLAB_HOME", str(home))
        extractor = registry.create("raft", {"num_flow_updates": UPDATES, "batch_size": 2})
    return extractor.process(_chunk(FRAMES[1:], FRAMES[0]))


@pytest.fixture(scope="module")
def reference(raft_state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The 18 reductions of torchvision's RAFT flow of each pair of ``FRAMES``: the weights'
    transforms, replicate-padding on the right and bottom to 136 x 144, the last flow
    estimate cut back to 130 x 140."""
    model = raft_large(weights=None)
    model.load_state_dict(raft_state)
    model.eval()
    images = torch.from_numpy(FRAMES).permute(0, 3, 1, 2)
    before, after = Raft_Large_Weights.C_T_SKHT_V2.transforms()(images[:-1], images[1:])
    pad = (0, 144 - WIDTH, 0, 136 - HEIGHT)
    before, after = (F.pad(x, pad, mode="replicate") for x in (before, after))
    with torch.no_grad():
        flow = model(before, after, num_flow_updates=UPDATES)[-1][:, :, :HEIGHT, :WIDTH]
    fields = flow.permute(0, 2, 3, 1).contiguous().numpy()
    table = np.array([flow_reductions(field) for field in fields], np.float32)
    return {name: table[:, i] for i, name in enumerate(SIGNALS)}


def _assert_signals_close(
    actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], rtol: float, atol: float
) -> None:
    assert set(actual) == set(SIGNALS)
    for name in SIGNALS:
        np.testing.assert_allclose(actual[name], expected[name], rtol=rtol, atol=atol, err_msg=name)


def test_missing_weights_fail_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="qualitylab weights download raft_large"):
        registry.create("raft")


def test_loads_from_the_torch_hub_cache(
    home: Path,
    raft_state: dict[str, torch.Tensor],
    no_network: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / RAFT_CHECKPOINT).symlink_to(
        home / "weights" / "raft_large" / RAFT_CHECKPOINT
    )
    model = registry.create("raft").model
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, raft_state[name], msg=name)


def test_signals_match_torchvision(
    batched: dict[str, np.ndarray], reference: dict[str, np.ndarray]
) -> None:
    for name in SIGNALS:
        assert batched[name].dtype == np.float32
        assert batched[name].shape == (2,)
    assert np.all(batched["magnitude_max"] > 0)
    _assert_signals_close(batched, reference, rtol=1e-5, atol=1e-4)


def test_batched_equals_one_by_one(weights: Path, batched: dict[str, np.ndarray]) -> None:
    extractor = registry.create("raft", {"num_flow_updates": UPDATES, "batch_size": 1})
    _assert_signals_close(extractor.process(_chunk(FRAMES[1:], FRAMES[0])), batched, 1e-4, 1e-3)


def test_previous_frame_and_determinism(weights: Path, batched: dict[str, np.ndarray]) -> None:
    extractor = registry.create("raft", {"num_flow_updates": UPDATES, "batch_size": 2})
    whole = extractor.process(_chunk(FRAMES))
    for name in SIGNALS:
        np.testing.assert_array_equal(whole[name], batched[name], err_msg=name)
    empty = extractor.process(_chunk(FRAMES[:1]))
    assert {name: (values.dtype, values.shape) for name, values in empty.items()} == {
        name: (np.float32, (0,)) for name in SIGNALS
    }


def test_max_side_downscales_before_the_flow(weights: Path, batched: dict[str, np.ndarray]) -> None:
    settings = {"num_flow_updates": UPDATES, "batch_size": 2, "max_side": WIDTH}
    downscaled = registry.create("raft", settings).process(_chunk(BIG_FRAMES[1:], BIG_FRAMES[0]))
    for name in SIGNALS:
        np.testing.assert_array_equal(downscaled[name], batched[name], err_msg=name)


def test_too_small_frames_are_refused(weights: Path) -> None:
    extractor = registry.create("raft", {"max_side": 128})
    with pytest.raises(ValueError, match="at least 128x128"):
        extractor.process(_chunk(FRAMES))
    with pytest.raises(ValueError, match="max_side"):
        RAFTConfig(max_side=64)


def test_default_updates_are_torchvision_s() -> None:
    default = inspect.signature(RAFT.forward).parameters["num_flow_updates"].default
    assert RAFTConfig().num_flow_updates == default == 12


@pytest.mark.gpu
def test_fp16_on_cuda_matches_fp32(weights: Path) -> None:
    full = registry.create("raft", {"device": "cuda", "precision": "fp32"})
    half = registry.create("raft", {"device": "cuda", "precision": "fp16"})
    expected = full.process(_chunk(FRAMES))
    actual = half.process(_chunk(FRAMES))
    scale = float(expected["magnitude_max"].max())
    for name in SIGNALS:
        assert actual[name].dtype == np.float32
    # Sums scale with the pixel count and angles are unstable where the flow is near zero,
    # so the per-pixel flow and magnitude statistics are compared, in pixels.
    for quantity in ("flow", "magnitude"):
        for reduction in ("median", "mean", "std", "min", "max"):
            name = f"{quantity}_{reduction}"
            np.testing.assert_allclose(
                actual[name], expected[name], rtol=0.05, atol=0.05 * scale, err_msg=name
            )
