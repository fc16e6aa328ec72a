"""Classical extraction: the engine against a naive reference, at identical settings.

The naive reference is what a straightforward script does: for each extractor in turn,
decode every video again, walk it one pair of frames at a time in one process, and
compute each signal with the obvious library call — scikit-image's
``structural_similarity`` on ``rgb2gray`` frames, OpenCV's flow followed by numpy
reductions, and numpy/scipy formulas for the technical checks. The engine decodes each
video once for all extractors, uses the project's vectorised extractors, and spreads
videos over worker processes. Both write nothing the other reads; the values are compared
signal by signal before the speeds are printed.

    uv run python benchmarks/extract_classical.py                 # the shared real set
    uv run python benchmarks/extract_classical.py --limit 40      # its first 40 videos
    uv run python benchmarks/extract_classical.py --manifest M.csv --workers 2

Without ``--manifest`` it uses ../shared/datasets/t2v-human-5models, or the embedded demo
set when that is absent.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage, signal
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from qualitylab.data.manifest import load_manifest
from qualitylab.data.samples import build_demo_dataset
from qualitylab.data.video import iter_frames
from qualitylab.features.classical.flow import FlowConfig, compute_flow
from qualitylab.features.classical.technical import TechnicalConfig
from qualitylab.features.extraction_run import extract_features
from qualitylab.features.tables import load_signals

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "t2v-human-5models"
FEATURES = ("ssim", "flow", "technical")
# Largest accepted difference between engine and reference, relative to max(1, |reference|).
TOLERANCE = {"ssim": 1e-4, "flow": 1e-4, "technical": 1e-4}

Signals = dict[str, list[float]]


def naive_ssim(before: np.ndarray, after: np.ndarray) -> Signals:
    return {"adjacent": [structural_similarity(rgb2gray(before), rgb2gray(after), data_range=1.0)]}


def naive_flow(before: np.ndarray, after: np.ndarray) -> Signals:
    grey_before = cv2.cvtColor(before, cv2.COLOR_RGB2GRAY)
    grey_after = cv2.cvtColor(after, cv2.COLOR_RGB2GRAY)
    flow = compute_flow(grey_before, grey_after, FlowConfig()).astype(np.float64)
    quantities = {
        "flow": flow,
        "magnitude": np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2),
        "angle": np.arctan2(flow[..., 0], flow[..., 1]),
    }
    out: Signals = {}
    for name, values in quantities.items():
        reductions = {
            "sum": values.sum(),
            "median": np.median(values),
            "mean": values.mean(),
            "std": values.std(),
            "min": values.min(),
            "max": values.max(),
        }
        out.update({f"{name}_{key}": [value] for key, value in reductions.items()})
    return out


def naive_frame_checks(frame: np.ndarray, config: TechnicalConfig) -> Signals:
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float64)
    rgb = frame.astype(np.float64)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    height, width = luma.shape
    noise = np.abs(signal.convolve2d(luma, kernel, mode="valid")).sum()
    clipped = float(np.mean(luma >= config.clip_level))
    brightness = luma.mean()
    return {
        "brightness": [brightness],
        "dark": [float(brightness < config.dark_threshold)],
        "clipped_share": [clipped],
        "overexposed": [float(clipped > config.overexposed_share)],
        "sharpness": [ndimage.laplace(luma, mode="mirror").var()],
        "colourfulness": [
            math.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * math.hypot(rg.mean(), yb.mean())
        ],
        "noise": [math.sqrt(math.pi / 2) * noise / (6 * (width - 2) * (height - 2))],
        "blockiness": [naive_blockiness(luma)],
    }


def naive_blockiness(luma: np.ndarray) -> float:
    edges, inner = [], []
    for oriented in (luma, luma.T):
        if oriented.shape[0] >= 16:
            steps = np.abs(np.diff(oriented, axis=0))
            at_edge = (np.arange(steps.shape[0]) % 8) == 7
            edges.append(steps[at_edge].ravel())
            inner.append(steps[~at_edge].ravel())
    if not edges:
        return 1.0
    return (np.concatenate(edges).mean() + 1) / (np.concatenate(inner).mean() + 1)


def naive_pair_checks(before: np.ndarray, after: np.ndarray, config: TechnicalConfig) -> Signals:
    first = cv2.cvtColor(before, cv2.COLOR_RGB2GRAY).astype(np.float64)
    second = cv2.cvtColor(after, cv2.COLOR_RGB2GRAY).astype(np.float64)
    difference = np.abs(second - first).mean()
    change = abs(second.mean() - first.mean())
    return {
        "frame_diff": [difference],
        "static": [float(difference < config.static_threshold)],
        "brightness_change": [change],
        "brightness_jump": [float(change > config.jump_threshold)],
    }


def naive_video(extractor: str, path: str) -> Signals:
    """One extractor's signals for one video, decoding it afresh, one pair at a time."""
    config = TechnicalConfig()
    collected: Signals = {}

    def add(values: Signals) -> None:
        for name, value in values.items():
            collected.setdefault(name, []).extend(value)

    previous = None
    for frame in iter_frames(path):
        image = frame.image
        if extractor == "technical":
            add(naive_frame_checks(image, config))
        if previous is not None:
            pair: Callable[[np.ndarray, np.ndarray], Signals] = {
                "ssim": naive_ssim,
                "flow": naive_flow,
                "technical": lambda a, b: naive_pair_checks(a, b, config),
            }[extractor]
            add(pair(previous, image))
        previous = image
    return collected


def naive_run(paths: list[str]) -> tuple[dict[str, dict[str, np.ndarray]], float]:
    started = time.perf_counter()
    results: dict[str, dict[str, np.ndarray]] = {path: {} for path in paths}
    for extractor in FEATURES:
        for path in paths:
            for name, values in naive_video(extractor, path).items():
                results[path][f"{extractor}.{name}"] = np.asarray(values, np.float64)
    return results, time.perf_counter() - started


def compare(
    engine: dict[str, dict[str, np.ndarray]], naive: dict[str, dict[str, np.ndarray]]
) -> dict[str, float]:
    worst = dict.fromkeys(FEATURES, 0.0)
    for path, signals in naive.items():
        for name, reference in signals.items():
            values = engine[path][name].astype(np.float64)
            if len(values) != len(reference):
                raise AssertionError(
                    f"{path} {name}: {len(values)} values, reference {len(reference)}"
                )
            if len(values):
                error = np.max(np.abs(values - reference) / np.maximum(1.0, np.abs(reference)))
                extractor = name.split(".")[0]
                worst[extractor] = max(worst[extractor], float(error))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--manifest", type=Path, help="dataset to run on (default: the shared real set)"
    )
    parser.add_argument("--limit", type=int, help="use only the first N videos")
    parser.add_argument(
        "--workers", type=int, default=0, help="engine worker processes (0: one per core)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        manifest_path = args.manifest or (
            SHARED / "manifest.csv"
            if (SHARED / "manifest.csv").is_file()
            else build_demo_dataset(Path(scratch) / "demo")
        )
        manifest = load_manifest(manifest_path)
        manifest.table = manifest.table.iloc[: args.limit].reset_index(drop=True)
        paths = list(manifest.table["video"])
        print(f"{len(paths)} videos from {manifest_path}; features {', '.join(FEATURES)}")

        summary = extract_features(
            manifest, FEATURES, Path(scratch) / "engine", workers=args.workers or None
        )
        if summary.failed:
            raise SystemExit(
                f"engine failures: {[(r.task.id, r.failures) for r in summary.failed]}"
            )
        index, signal_rows = load_signals(Path(scratch) / "engine")
        engine = {video: signals for video, signals in zip(index["video"], signal_rows)}
        print(
            f"engine: {summary.seconds:.1f} s, {len(paths) / summary.seconds:.3f} videos/s ({summary.frames} frames)"
        )

        naive, naive_seconds = naive_run(paths)
        print(f"naive reference: {naive_seconds:.1f} s, {len(paths) / naive_seconds:.3f} videos/s")

    worst = compare(engine, naive)
    for extractor, error in worst.items():
        verdict = "agree" if error <= TOLERANCE[extractor] else "DISAGREE"
        print(
            f"  {extractor}: largest relative difference {error:.2e} ({verdict}, tolerance {TOLERANCE[extractor]:g})"
        )
    ratio = naive_seconds / summary.seconds
    print(f"ratio (naive time / engine time): {ratio:.2f}x  (target: at least 4x)")
    if any(error > TOLERANCE[e] for e, error in worst.items()):
        raise SystemExit("values disagree")


if __name__ == "__main__":
    main()
