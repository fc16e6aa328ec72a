"""The naive reference of ``extract_classical.py``: what a straightforward script does.

For each extractor in turn it decodes every video again, walks it one pair of frames at a
time in one process, and computes each signal with the obvious library call:
scikit-image's ``structural_similarity`` on ``rgb2gray`` frames, OpenCV's flow followed by
numpy reductions, and numpy/scipy formulas for the technical checks. It lives in its own
module so that the engine's worker processes, which import the benchmark's main module
when they start, do not import scikit-image and scipy for it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import cv2
import numpy as np
from scipy import ndimage, signal
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from qualitylab.data.video import iter_frames
from qualitylab.features.classical.flow import FlowConfig, compute_flow
from qualitylab.features.classical.technical import TechnicalConfig

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


def naive_run(
    paths: list[str], features: tuple[str, ...]
) -> tuple[dict[str, dict[str, np.ndarray]], float]:
    """Every signal of ``features`` (extractor names) for every video, and the seconds
    it took."""
    started = time.perf_counter()
    results: dict[str, dict[str, np.ndarray]] = {path: {} for path in paths}
    for extractor in features:
        for path in paths:
            for name, values in naive_video(extractor, path).items():
                results[path][f"{extractor}.{name}"] = np.asarray(values, np.float64)
    return results, time.perf_counter() - started
