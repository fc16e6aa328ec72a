"""What a defect detector reads and what it is taught: per-frame inputs from stored
signals, frame times, and per-frame labels from ground-truth intervals in seconds.

A clip's signals are the stored per-frame and per-pair signals of the ``technical``,
``ssim`` and ``motion`` extractors (``extractor.signal`` → 1-D array), as the feature
store holds them for the run's frame sampling. Frame ``t`` reads each pair signal twice:
the pair that ends at it and the pair that starts at it (the first and last frame repeat
their one pair). Every input is also given as its deviation from the clip's median, so
that a stretch that differs from the rest of its clip stands out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qualitylab.data.samples import DEFECT_WEIGHTS
from qualitylab.data.video import Sampling, iter_frames
from qualitylab.intervals.core import Interval, merge, to_intervals, to_mask

# The frame defects a detector looks for, in a fixed order (the demo data's frame defects).
DEFECTS: tuple[str, ...] = tuple(name for name in DEFECT_WEIGHTS if name != "mismatch")
EXTRACTORS: tuple[str, ...] = ("technical", "ssim", "motion")

# signal -> (over, transform): "log" is log1p(max(x, 0) * scale), "lin" is x * scale.
SIGNALS: dict[str, tuple[str, str, float]] = {
    "technical.brightness": ("frame", "lin", 1 / 255),
    "technical.clipped_share": ("frame", "lin", 1.0),
    "technical.sharpness": ("frame", "log", 1.0),
    "technical.colourfulness": ("frame", "lin", 1 / 100),
    "technical.noise": ("frame", "log", 1.0),
    "technical.blockiness": ("frame", "log", 1.0),
    "ssim.adjacent": ("pair", "lin", 1.0),
    "technical.frame_diff": ("pair", "log", 1.0),
    "technical.brightness_change": ("pair", "log", 1.0),
    "motion.speed_mean": ("pair", "log", 10.0),
    "motion.speed_p90": ("pair", "log", 10.0),
    "motion.speed_std": ("pair", "log", 10.0),
    "motion.coherence": ("pair", "lin", 1.0),
    "motion.warp_error": ("pair", "log", 100.0),
    "motion.flicker": ("pair", "log", 100.0),
}


@dataclass
class ClipSignals:
    """One clip's stored signals, the time in seconds of each analysed frame, and (for
    labelled clips) the ground-truth frame intervals of each defect."""

    id: str
    signals: dict[str, np.ndarray]
    times: np.ndarray
    truth: dict[str, list[Interval]] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        """Number of analysed frames."""
        return len(self.times)


def missing_signals(signals: Mapping[str, np.ndarray]) -> list[str]:
    """The detector inputs that ``signals`` lacks."""
    return [name for name in SIGNALS if name not in signals]


def frame_inputs(signals: Mapping[str, np.ndarray], n_frames: int) -> np.ndarray:
    """The detector's inputs ``[n_frames, n_inputs]`` (float32) from one clip's signals;
    KeyError naming the signals that are missing."""
    missing = missing_signals(signals)
    if missing:
        raise KeyError(f"signals missing for the defect detector: {', '.join(missing)}")
    columns = []
    for name, (over, transform, scale) in SIGNALS.items():
        values = np.asarray(signals[name], np.float64)
        values = np.nan_to_num(values, nan=0.0)
        values = np.log1p(np.maximum(values, 0) * scale) if transform == "log" else values * scale
        for column in _per_frame(values, over, n_frames, name):
            columns += [column, column - np.median(column)]
    return np.stack(columns, axis=1).astype(np.float32)


def input_names() -> list[str]:
    """The names of the columns of :func:`frame_inputs`."""
    names = []
    for name, (over, _, _) in SIGNALS.items():
        for variant in ("",) if over == "frame" else (":before", ":after"):
            names += [f"{name}{variant}", f"{name}{variant}:vs_median"]
    return names


def _per_frame(values: np.ndarray, over: str, n_frames: int, name: str) -> list[np.ndarray]:
    expected = n_frames if over == "frame" else n_frames - 1
    if len(values) != expected:
        raise ValueError(f"{name} has {len(values)} values; expected {expected} ({over}s)")
    if over == "frame":
        return [values]
    if n_frames == 1:
        return [np.zeros(1), np.zeros(1)]
    before = np.concatenate([values[:1], values])
    after = np.concatenate([values, values[-1:]])
    return [before, after]


def frame_times(video: str | Path, sampling: Sampling) -> np.ndarray:
    """The timestamps in seconds of the frames ``sampling`` takes from ``video`` (what the
    stored signals of a run with that sampling are over)."""
    native = Sampling(
        fps=sampling.fps, num_frames=sampling.num_frames, max_seconds=sampling.max_seconds
    )
    return np.array([frame.timestamp for frame in iter_frames(video, native)], np.float64)


def truth_intervals(
    records: Sequence[Mapping[str, object]], times: np.ndarray
) -> dict[str, list[Interval]]:
    """Per defect, the analysed-frame intervals of ground-truth records with ``defect``,
    ``start_s`` and ``end_s`` (a frame at time t is inside when start_s ≤ t < end_s)."""
    truth: dict[str, list[Interval]] = {}
    # Timestamps are rounded in the container; this keeps a frame on a boundary inside.
    tolerance = 1e-3
    for record in records:
        inside = (times + tolerance >= float(record["start_s"])) & (
            times + tolerance < float(record["end_s"])
        )
        found = to_intervals(inside.astype(float), 0.5, closing=0, min_length=1)
        truth.setdefault(str(record["defect"]), []).extend(found)
    return {defect: merge(found) for defect, found in truth.items()}


def labels(truth: Mapping[str, Sequence[Interval]], n_frames: int) -> np.ndarray:
    """Per-frame 0/1 labels ``[n_frames, len(DEFECTS)]`` from ground-truth intervals."""
    return np.stack(
        [to_mask(truth.get(defect, []), n_frames) for defect in DEFECTS], axis=1
    ).astype(np.float32)
