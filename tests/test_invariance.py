"""Property tests of the feature protocols: the default protocol's features do not move
when the same content comes at another resolution, frame rate or length; the thesis
protocol's sums do, which is why the default protocol exists.

The content is a camera pan over a photograph that ships with scikit-image, with a
brightness flicker that is a function of time (not of the frame index), rendered with
OpenCV at 512 and 256 px short side (each from the photograph, not one from the other)
and at 24 and 8 fps (the same instants k/8 s in both). The longer clip plays the pan
forward and then back, so that at the canonical 8 fps it holds the shorter clip's frames
and pairs twice over (in reverse order the second time): the same content, twice as
long.

Tolerance: every aggregation of a signal may differ from the reference clip's by 5 %
of the signal's own scale (|mean| + std on the reference clip), plus 0.005 (half a
percent of the pixels for the shares and flags, which are often nearly zero); the fine-detail measures ``technical.sharpness`` and
``technical.noise`` by 20 %. The videos go through H.264 at each size and rate
separately and the 512 px clips are area-downscaled to 256 px by the decoder, so the
decoded pixels, and with them the features, are only nearly equal. Motion, SSIM,
brightness, colour and the warp and flicker errors agree within about 4 %; the
Laplacian variance and the noise estimate react to the encoder's and the resampling
filter's treatment of the finest detail and move by up to about 17 % at 256 px against
512 px. Against the clip twice as long, percentiles may differ by 10 %: they interpolate
between neighbouring values of 11 pairs on the one side and of 22 (each value twice) on
the other, which moves them by up to half the gap between neighbouring values (7 % of
the scale measured, for ``technical.brightness_change.p25``). The thesis sums, by contrast, move by factors of 2 to 8
(``test_thesis_sums_are_not_invariant``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import skimage.data

from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.data.video import Sampling, write_video
from qualitylab.features.aggregate import INVARIANT_AGGREGATIONS
from qualitylab.features.extraction_run import extract_features
from qualitylab.features.protocols import DEFAULT, THESIS

pytestmark = pytest.mark.slow  # renders and encodes 512 px video: about 10 s of CPU

SECONDS = 1.5
RTOL = 0.05
# Signals that measure the finest detail, which the encoder and resampling filter touch.
FINE_DETAIL_RTOL = {"technical.sharpness": 0.20, "technical.noise": 0.20}
LONGER = "512px_24fps_twice_as_long"
LENGTH_RTOL = 0.10
ATOL = 5e-3
REFERENCE = "512px_24fps"


def render_pan(short_side: int, fps: int, seconds: float = SECONDS) -> np.ndarray:
    """A pan to the right over the astronaut photograph: ``uint8`` [T, H, W, 3] with W the
    even number nearest 4/3 H."""
    photo = skimage.data.astronaut()
    height, width = short_side, _width(short_side)
    # Rendered at twice the size and area-downscaled, so that sub-pixel positions do not
    # blur some frames more than others.
    window = 0.6 * photo.shape[0]  # the camera sees 60 % of the photograph's height
    scale = 2 * height / window
    source = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    travel = source.shape[1] / 2 - width  # pixels the window moves over the whole pan
    frames = []
    for k in range(round(seconds * fps)):
        t = k / fps
        shift = np.float32([[1, 0, 2 * travel * t / (2 * seconds)], [0, 1, 2 * height * 0.2]])
        large = cv2.warpAffine(source, shift, (2 * width, 2 * height), flags=cv2.WARP_INVERSE_MAP)
        frame = cv2.resize(large, (width, height), interpolation=cv2.INTER_AREA)
        gain = 1 + 0.15 * np.sin(2 * np.pi * 1.5 * t)  # 1.5 Hz brightness flicker
        frames.append(np.clip(frame * gain, 0, 255).astype(np.uint8))
    return np.stack(frames)


def _width(short_side: int) -> int:
    return 2 * round(short_side * 2 / 3)


def there_and_back(frames: np.ndarray, step: int) -> np.ndarray:
    """The frames forward, then back to the first, such that every ``step``-th frame (the
    canonical frame rate's sampling) is the forward frames sampled that way followed by
    the same frames in reverse, without repeating the turning frame."""
    turn = (len(frames) - 1) // step * step  # the last sampled frame
    return np.concatenate([frames[: turn + 1], frames[turn - 1 :: -1]])


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The same pan as four videos and a manifest of them."""
    root = tmp_path_factory.mktemp("invariance")
    high = render_pan(512, 24)
    variants = {
        REFERENCE: (high, 24),
        "256px_24fps": (render_pan(256, 24), 24),
        "512px_8fps": (render_pan(512, 8), 8),
        LONGER: (there_and_back(high, 3), 24),
    }
    for name, (frames, fps) in variants.items():
        write_video(root / f"{name}.mp4", frames, fps, quality=18)
    lines = [f"{name},{name}.mp4,a pan over an astronaut" for name in variants]
    (root / "manifest.csv").write_text("id,video,prompt\n" + "\n".join(lines) + "\n")
    return root, list(variants)


def _features(root: Path, protocol, sampling: Sampling, names: list[str], out: str):
    manifest = load_manifest(root / "manifest.csv", ColumnMapping())
    summary = extract_features(
        manifest, names, root / out, sampling=sampling, protocol=protocol, workers=1
    )
    assert not summary.failed, [result.failures for result in summary.failed]
    table = pd.read_parquet(root / out / "features.parquet")
    return table.set_index("id").drop(columns=["video", "prompt"])


@pytest.fixture(scope="module")
def default_table(clips) -> pd.DataFrame:
    root, _ = clips
    return _features(root, DEFAULT, DEFAULT.sampling(), list(DEFAULT.extractors), "default")


def test_default_protocol_columns_are_length_invariant_aggregations(default_table) -> None:
    aggregations = {column.rsplit(".", 1)[1] for column in default_table.columns}
    assert aggregations == set(INVARIANT_AGGREGATIONS)
    assert {column.split(".")[0] for column in default_table.columns} == set(DEFAULT.extractors)


@pytest.mark.parametrize("variant", ["256px_24fps", "512px_8fps", LONGER])
def test_default_protocol_features_are_invariant(default_table, variant: str) -> None:
    reference, other = default_table.loc[REFERENCE], default_table.loc[variant]
    signals = {column.rsplit(".", 1)[0] for column in default_table.columns}
    failures = []
    for signal in sorted(signals):
        scale = abs(reference[f"{signal}.mean"]) + reference[f"{signal}.std"]
        rtol = max(FINE_DETAIL_RTOL.get(signal, RTOL), LENGTH_RTOL if variant == LONGER else 0)
        tolerance = rtol * scale + ATOL
        for aggregation in INVARIANT_AGGREGATIONS:
            column = f"{signal}.{aggregation}"
            if abs(other[column] - reference[column]) > tolerance:
                failures.append(f"{column}: {reference[column]:.4g} vs {other[column]:.4g}")
    assert not failures, f"{variant} differs from {REFERENCE}: " + "; ".join(failures)


def test_motion_is_in_frame_diagonals_per_second(default_table) -> None:
    # The window moves (source width - frame width) pixels in 2 * SECONDS at 512 px.
    photo_height, photo_width = skimage.data.astronaut().shape[:2]
    source_width = photo_width * 512 / (0.6 * photo_height)
    travel = source_width - _width(512)
    expected = travel / (2 * SECONDS) / np.hypot(512, _width(512))
    speeds = default_table["motion.speed_median.median"]
    assert speeds.to_numpy() == pytest.approx(expected, rel=0.05)
    assert (default_table["motion.coherence.median"] > 0.95).all()


def test_thesis_sums_are_not_invariant(clips) -> None:
    """The thesis' native-resolution pixel sums grow with the frame area and its frame sums
    with the length: they encode how a video was made, not how good it is."""
    root, _ = clips
    table = _features(root, THESIS, Sampling(), ["ssim", "flow"], "thesis")
    magnitude_sum = table["flow.magnitude_sum.mean"]
    # 4x the pixels, each moving 2x as far: about 8x.
    assert magnitude_sum[REFERENCE] / magnitude_sum["256px_24fps"] > 4
    # 3x the pairs at 24 fps, each a third of the motion: ssim sums triple.
    ssim_sum = table["ssim.adjacent.sum"]
    assert ssim_sum[REFERENCE] / ssim_sum["512px_8fps"] > 2
    assert ssim_sum[LONGER] / ssim_sum[REFERENCE] > 1.8
