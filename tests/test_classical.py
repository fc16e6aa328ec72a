"""The classical extractors: SSIM against scikit-image, flow on known motion, technical
checks on frames built to trip them, and the chunking contract of every extractor."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.signal import convolve2d
from skimage import data
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from qualitylab.features import registry
from qualitylab.features.base import Chunk
from qualitylab.features.classical import flow, technical
from qualitylab.features.classical.flow import FlowConfig, compute_flow
from qualitylab.features.classical.ssim import ssim

CLASSICAL = ("ssim", "flow", "flow_farneback", "technical")
RNG_SEED = 0


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2)


def _noisy(frame: np.ndarray, sigma: float, seed: int = RNG_SEED) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, frame.shape)
    return np.clip(frame + noise, 0, 255).round().astype(np.uint8)


def _texture(size: int, seed: int = RNG_SEED) -> np.ndarray:
    """A smooth random RGB texture that optical flow can lock on to."""
    noise = np.random.default_rng(seed).uniform(0, 255, (size, size, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    return cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def _video(num_frames: int = 8, height: int = 47, width: int = 63) -> np.ndarray:
    """Frames of a camera panning over the astronaut while the light changes."""
    image = data.astronaut()
    frames = []
    for i in range(num_frames):
        crop = image[100 + 2 * i : 100 + 2 * i + height, 150 + 3 * i : 150 + 3 * i + width]
        frames.append(np.clip(crop * (0.8 + 0.05 * i), 0, 255).astype(np.uint8))
    return np.stack(frames)


def _chunk(frames: np.ndarray, previous: np.ndarray | None = None) -> Chunk:
    return Chunk(frames=frames, previous=previous, prompt="a test", video_id="v")


def _process_in_chunks(extractor, frames: np.ndarray, size: int) -> dict[str, np.ndarray]:
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, len(frames), size):
        previous = frames[start - 1] if start > 0 else None
        parts.append(extractor.process(_chunk(frames[start : start + size], previous)))
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _technical(frames: list[np.ndarray], **overrides: float) -> dict[str, np.ndarray]:
    return registry.create("technical", overrides).process(_chunk(np.stack(frames)))


# --- SSIM ---------------------------------------------------------------------------


def _flat_regions() -> tuple[np.ndarray, np.ndarray]:
    image = np.full((120, 151, 3), 200, np.uint8)
    image[30:50, 20:130] = 20
    image[80:, 100:] = (250, 30, 90)
    changed = image.copy()
    changed[60, 60] = 201
    return image, changed


def _ssim_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    astronaut = data.astronaut()
    camera = _rgb(data.camera())
    chelsea = data.chelsea()
    rng = np.random.default_rng(RNG_SEED)
    random_a = rng.integers(0, 256, (63, 47, 3), dtype=np.uint8)
    random_b = rng.integers(0, 256, (63, 47, 3), dtype=np.uint8)
    binary_a = (rng.integers(0, 2, (47, 63, 3)) * 255).astype(np.uint8)
    binary_b = (rng.integers(0, 2, (47, 63, 3)) * 255).astype(np.uint8)
    return {
        "astronaut-noisy": (astronaut, _noisy(astronaut, 10)),
        "camera-shifted": (camera, np.roll(camera, (2, 3), axis=(0, 1))),
        "chelsea-blurred": (chelsea, cv2.GaussianBlur(chelsea, (0, 0), 1.5)),
        "chelsea-vs-astronaut-odd": (chelsea[:101, :77], astronaut[:101, :77]),
        "random-63x47": (random_a, random_b),
        "binary-high-contrast": (binary_a, binary_b),
        "flat-regions": _flat_regions(),
        "flat-regions-faint-noise": (_flat_regions()[0], _noisy(_flat_regions()[0], 0.6)),
        "constant-levels": (
            np.full((40, 50, 3), 100, np.uint8),
            np.full((40, 50, 3), 180, np.uint8),
        ),
        "smallest-7x7": (random_a[:7, :7], random_b[:7, :7]),
    }


@pytest.mark.parametrize("case", list(_ssim_cases()))
def test_ssim_matches_skimage(case: str) -> None:
    frame_a, frame_b = _ssim_cases()[case]
    expected = structural_similarity(rgb2gray(frame_a), rgb2gray(frame_b), data_range=1.0)
    assert ssim(frame_a, frame_b) == pytest.approx(expected, abs=1e-4)


def test_ssim_extractor_matches_skimage_per_pair() -> None:
    frames = _video()
    values = registry.create("ssim").process(_chunk(frames))["adjacent"]
    expected = [
        structural_similarity(rgb2gray(a), rgb2gray(b), data_range=1.0)
        for a, b in zip(frames[:-1], frames[1:])
    ]
    np.testing.assert_allclose(values, expected, atol=1e-4)


@pytest.mark.parametrize(
    "frame",
    [data.astronaut()[:64, :80], np.full((9, 9, 3), 255, np.uint8), np.zeros((9, 9, 3), np.uint8)],
)
def test_ssim_of_identical_frames_is_one(frame: np.ndarray) -> None:
    assert ssim(frame, frame.copy()) == pytest.approx(1.0, abs=1e-6)


def test_ssim_rejects_frames_smaller_than_its_window() -> None:
    frames = np.zeros((2, 6, 20, 3), np.uint8)
    with pytest.raises(ValueError, match="20x6"):
        registry.create("ssim").process(_chunk(frames))


# --- the chunking contract ----------------------------------------------------------


@pytest.mark.parametrize("name", CLASSICAL)
def test_signals_do_not_depend_on_chunking(name: str) -> None:
    extractor = registry.create(name)
    frames = _video()
    whole = extractor.process(_chunk(frames))
    for size in (1, 3, 5):
        chunked = _process_in_chunks(extractor, frames, size)
        assert chunked.keys() == whole.keys()
        for signal in whole:
            np.testing.assert_array_equal(chunked[signal], whole[signal], err_msg=signal)


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize("with_previous", [False, True])
@pytest.mark.parametrize("num_frames", [1, 4])
def test_outputs_have_declared_names_lengths_and_dtype(
    name: str, with_previous: bool, num_frames: int
) -> None:
    extractor = registry.create(name)
    frames = _video(num_frames + 1)
    chunk = _chunk(frames[1:], frames[0] if with_previous else None)
    out = extractor.process(chunk)
    spec = registry.get_spec(name)
    assert set(out) == {signal.name for signal in spec.signals}
    num_pairs = len(list(chunk.pairs()))
    for signal in spec.signals:
        values = out[signal.name]
        assert values.dtype == np.float32, signal.name
        assert values.shape == ((num_frames,) if signal.over == "frame" else (num_pairs,))
        assert np.isfinite(values).all(), signal.name


@pytest.mark.parametrize("name", CLASSICAL)
def test_one_frame_video_has_empty_pair_signals(name: str) -> None:
    out = registry.create(name).process(_chunk(_video(1)))
    for signal in registry.get_spec(name).signals:
        expected = (1,) if signal.over == "frame" else (0,)
        assert out[signal.name].shape == expected, signal.name


# --- optical flow -------------------------------------------------------------------


def _translated_pair(dx: int, dy: int, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Two crops of one texture whose content moves by (dx, dy) px from first to second."""
    texture = _texture(size + 32)
    before = texture[16 : 16 + size, 16 : 16 + size]
    after = texture[16 - dy : 16 - dy + size, 16 - dx : 16 - dx + size]
    return before, after


@pytest.mark.parametrize("method", ["dis", "farneback"])
@pytest.mark.parametrize(("dx", "dy"), [(3, -2), (0, 4), (-2, 0)])
def test_flow_recovers_a_translation(method: str, dx: int, dy: int) -> None:
    before, after = _translated_pair(dx, dy)
    grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in (before, after)]
    field = compute_flow(*grey, FlowConfig(method=method))[16:-16, 16:-16]
    np.testing.assert_allclose(field.reshape(-1, 2).mean(axis=0), (dx, dy), atol=0.15)

    name = "flow" if method == "dis" else "flow_farneback"
    out = registry.create(name).process(_chunk(np.stack([before, after])))
    assert out["magnitude_median"][0] == pytest.approx(math.hypot(dx, dy), abs=0.15)
    assert out["angle_median"][0] == pytest.approx(math.atan2(dx, dy), abs=0.05)
    assert out["flow_mean"][0] == pytest.approx((dx + dy) / 2, abs=0.15)
    assert out["flow_sum"][0] == pytest.approx(out["flow_mean"][0] * 2 * 96 * 96, rel=1e-5)


def test_flow_reductions_match_numpy() -> None:
    frames = _video(2, 64, 80)
    out = registry.create("flow").process(_chunk(frames))
    grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
    field = compute_flow(*grey, FlowConfig())
    quantities = {
        "flow": field,
        "magnitude": np.hypot(field[..., 0], field[..., 1]),
        "angle": np.arctan2(field[..., 0], field[..., 1]),
    }
    reductions = {
        "sum": np.sum,
        "median": np.median,
        "mean": np.mean,
        "std": np.std,
        "min": np.min,
        "max": np.max,
    }
    for quantity, values in quantities.items():
        for reduction, reduce in reductions.items():
            expected = reduce(values.astype(np.float64))
            assert out[f"{quantity}_{reduction}"][0] == pytest.approx(
                expected, rel=1e-4, abs=1e-4
            ), f"{quantity}_{reduction}"


def _median_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(RNG_SEED)
    normal = rng.normal(size=2**20 + 1).astype(np.float32)
    return {
        "odd": normal,
        "even": normal[:-1],
        "mostly-ties": np.concatenate([np.zeros(900_000, np.float32), normal[:100_001]]),
        "all-equal": np.full(300_000, 3.5, np.float32),
        "sorted": np.sort(normal),
        "reversed": np.sort(normal)[::-1].copy(),
        "small-even": normal[:10],
        "single": normal[:1],
    }


@pytest.mark.parametrize("case", list(_median_cases()))
def test_median_is_numpys_exactly(case: str) -> None:
    values = _median_cases()[case]
    expected = np.median(values)  # float32 arithmetic, as the signal
    assert flow.median(values) == float(expected)


def test_reductions_of_values_with_nan_sort_nan_last() -> None:
    values = np.array([3.0, np.nan, 1.0, 2.0], np.float32)
    total, median, mean, std, low, high = flow.reduce_values(values)
    assert median == 2.5 and low == 1.0
    assert all(math.isnan(v) for v in (total, mean, std, high))


def test_flow_of_identical_frames_is_zero() -> None:
    frame = _texture(48)
    out = registry.create("flow").process(_chunk(np.stack([frame, frame])))
    assert out["magnitude_max"][0] == pytest.approx(0.0, abs=1e-3)


def test_flow_max_side_downscales_before_flow() -> None:
    before, after = _translated_pair(4, 0, size=128)
    out = registry.create("flow", {"max_side": 64}).process(_chunk(np.stack([before, after])))
    assert out["magnitude_median"][0] == pytest.approx(2.0, abs=0.2)


def test_flow_rejects_frames_too_small() -> None:
    with pytest.raises(ValueError, match="10x40"):
        registry.create("flow").process(_chunk(np.zeros((2, 40, 10, 3), np.uint8)))


# --- technical checks ---------------------------------------------------------------


def test_static_frames_are_flagged() -> None:
    frame = _video(1)[0]
    out = _technical([frame, frame.copy(), _video(3)[2]])
    np.testing.assert_array_equal(out["frame_diff"][:1], [0.0])
    np.testing.assert_array_equal(out["static"], [1.0, 0.0])
    assert out["brightness_change"][0] == 0.0


def test_dark_and_overexposed_frames_are_flagged() -> None:
    normal = data.astronaut()[::4, ::4]
    dark = (normal * 0.1).astype(np.uint8)
    overexposed = np.clip(normal.astype(np.int16) + 150, 0, 255).astype(np.uint8)
    out = _technical([normal, dark, overexposed])
    np.testing.assert_array_equal(out["dark"], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(out["overexposed"], [0.0, 0.0, 1.0])
    assert out["clipped_share"][2] > 0.25 > out["clipped_share"][0]
    assert _technical([dark], dark_threshold=10)["dark"][0] == 0.0


def test_brightness_jump_is_flagged() -> None:
    base = np.full((32, 32, 3), 100, np.uint8)
    out = _technical([base, base + 5, base + 55])
    np.testing.assert_allclose(out["brightness_change"], [5.0, 50.0])
    np.testing.assert_array_equal(out["brightness_jump"], [0.0, 1.0])
    np.testing.assert_allclose(out["brightness"], [100.0, 105.0, 155.0])


def test_blur_lowers_sharpness() -> None:
    image = data.astronaut()
    out = _technical([image, cv2.GaussianBlur(image, (0, 0), 2.0)])
    assert out["sharpness"][1] < 0.2 * out["sharpness"][0]


@pytest.mark.parametrize("sigma", [3.0, 8.0])
def test_noise_estimate_tracks_added_noise(sigma: float) -> None:
    rows, cols = np.mgrid[0:128, 0:160]
    smooth = _rgb(60 + 0.4 * rows + 0.3 * cols)
    noise = np.random.default_rng(RNG_SEED).normal(0, sigma, smooth.shape[:2])[..., None]
    noisy = np.clip(smooth + noise, 0, 255).round().astype(np.uint8)
    clean = smooth.round().astype(np.uint8)
    out = _technical([clean, noisy])
    assert out["noise"][0] < 0.5
    assert out["noise"][1] == pytest.approx(sigma, rel=0.2)


def test_noise_estimate_matches_its_definition() -> None:
    grey = cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2GRAY)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]])
    height, width = grey.shape
    response = convolve2d(grey.astype(np.float64), kernel, mode="valid")
    expected = math.sqrt(math.pi / 2) * np.abs(response).sum() / (6 * (width - 2) * (height - 2))
    assert technical.noise_sigma(grey) == pytest.approx(expected, rel=1e-9)


def test_block_averaging_raises_blockiness() -> None:
    image = data.astronaut()
    small = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
    blocky = cv2.resize(small, (512, 512), interpolation=cv2.INTER_NEAREST)
    out = _technical([image, blocky])
    assert out["blockiness"][0] == pytest.approx(1.0, abs=0.1)
    assert out["blockiness"][1] > 3.0
    flat = np.full((12, 12), 90, np.uint8)
    assert technical.blockiness(flat) == 1.0
    assert technical.blockiness(np.full((40, 40), 90, np.uint8)) == 1.0


def test_colourfulness_is_zero_for_grey_and_matches_its_definition() -> None:
    assert technical.colourfulness(_rgb(data.camera())) == 0.0
    frame = data.chelsea()
    red, green, blue = (frame[..., i].astype(np.float64) for i in range(3))
    rg, yb = red - green, (red + green) / 2 - blue
    expected = math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())
    assert technical.colourfulness(frame) == pytest.approx(expected, rel=1e-9)


def test_technical_rejects_frames_smaller_than_3_px() -> None:
    with pytest.raises(ValueError, match="2x5"):
        registry.create("technical").process(_chunk(np.zeros((1, 5, 2, 3), np.uint8)))


# --- configs and the registry -------------------------------------------------------


def test_configs_are_validated() -> None:
    extractor = registry.create("technical", {"dark_threshold": 10})
    assert extractor.config.dark_threshold == 10
    with pytest.raises(ValueError, match="technical"):
        registry.create("technical", {"dark_treshold": 10})
    with pytest.raises(ValueError, match="overexposed_share"):
        registry.create("technical", {"overexposed_share": 2})
    with pytest.raises(ValueError, match="method"):
        registry.create("flow", {"method": "raft"})
    with pytest.raises(ValueError, match="ssim"):
        registry.create("ssim", {"window": 11})
    assert registry.create("flow_farneback").config.method == "farneback"
    assert registry.create("flow", {"dis_preset": "fast", "max_side": 256}).config.max_side == 256


def test_configs_are_frozen() -> None:
    extractor = registry.create("flow")
    with pytest.raises(ValueError):
        extractor.config.method = "farneback"  # type: ignore[misc]
