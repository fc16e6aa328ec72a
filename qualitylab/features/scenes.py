"""A video's scenes on its sampled frames, and what they change in the features.

A video's scene boundaries come from one of two sources, in this order:

- ``recorded``: the manifest's ``scene_starts`` column (what ``qualitylab generate``
  writes: the source frame index where each scene starts, space-separated, e.g.
  ``"0 48 96"``), mapped onto the sampled frames: a scene starts at the first sampled
  frame at or after its recorded start;
- ``detected``: the cuts of the ``scenes`` extractor's record (see
  :func:`qualitylab.features.classical.scenes.detect_cuts`).

With neither, a video is one scene and nothing changes.

The masking rule: a pair signal's value at a pair that straddles a cut (frames i-1 and
i with a scene starting at i) compares two different shots, not one shot over time, so
every pair signal of the video (SSIM, flow, motion, technical pair checks, LPIPS, the
content score itself) leaves those values out before it is aggregated, in the
aggregated and the non-aggregated sets alike. Frame signals are kept whole.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from qualitylab.features.classical.scenes import ScenesConfig, detect_cuts
from qualitylab.features.registry import get_spec
from qualitylab.features.store import SignalRecord

SCENES_EXTRACTOR = "scenes"
SCENE_STARTS_COLUMN = "scene_starts"
SceneSource = Literal["recorded", "detected"]


@dataclass(frozen=True)
class Scenes:
    """The scenes of one video on its T sampled frames: ``starts`` are the positions of
    each scene's first sampled frame (0 first), ``frame_indices`` and ``timestamps`` the
    sampled frames' source index and time."""

    starts: tuple[int, ...]
    frame_indices: np.ndarray
    timestamps: np.ndarray
    source: SceneSource

    @property
    def cuts(self) -> np.ndarray:
        """Positions i of the sampled frames that start a scene after the first (a cut
        lies between frames i-1 and i)."""
        return np.asarray(self.starts[1:], np.int64)

    def cut_flags(self) -> np.ndarray:
        """Per sampled frame, 1.0 when a cut lies between it and the frame before."""
        flags = np.zeros(len(self.frame_indices), np.float32)
        flags[self.cuts] = 1.0
        return flags

    def bounds(self) -> list[tuple[int, int]]:
        """Each scene's ``[start, stop)`` positions on the sampled frames."""
        stops = (*self.starts[1:], len(self.frame_indices))
        return list(zip(self.starts, stops))

    def describe(self) -> list[dict[str, Any]]:
        """Each scene's first and last sampled frame as source frame index and seconds."""
        return [
            {
                "scene": number,
                "start_frame": int(self.frame_indices[start]),
                "end_frame": int(self.frame_indices[stop - 1]),
                "start_seconds": round(float(self.timestamps[start]), 6),
                "end_seconds": round(float(self.timestamps[stop - 1]), 6),
            }
            for number, (start, stop) in enumerate(self.bounds())
        ]


def parse_scene_starts(value: Any) -> tuple[int, ...] | None:
    """The source frame indices of a ``scene_starts`` cell (``"0 48 96"``, or one number),
    ascending; None for an empty cell; ValueError names the bad value."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        starts = [float(part) for part in text.split()]
    except ValueError:
        raise ValueError(
            f"{SCENE_STARTS_COLUMN} {text!r}: expected frame indices separated by spaces"
        ) from None
    if any(start < 0 or start != int(start) for start in starts) or starts != sorted(starts):
        raise ValueError(
            f"{SCENE_STARTS_COLUMN} {text!r}: expected ascending non-negative frame indices"
        )
    return tuple(int(start) for start in starts)


def format_scene_starts(starts: Sequence[int]) -> str:
    """A ``scene_starts`` cell: the frame indices separated by spaces."""
    return " ".join(str(int(start)) for start in starts)


def recorded_scenes(
    starts: Sequence[int], frame_indices: np.ndarray, timestamps: np.ndarray
) -> Scenes:
    """The scenes of recorded source-frame starts on the sampled frames; starts that
    fall on one sampled frame (a scene shorter than the sampling step) merge."""
    frame_indices = np.asarray(frame_indices)
    positions = np.searchsorted(frame_indices, np.asarray(starts, np.int64), side="left")
    inside = positions[(positions > 0) & (positions < len(frame_indices))]
    return Scenes(
        (0, *np.unique(inside).tolist()), frame_indices, np.asarray(timestamps), "recorded"
    )


def detected_scenes(record: SignalRecord) -> Scenes:
    """The scenes of a ``scenes`` extractor record, under the settings it records."""
    config = ScenesConfig(**record.config)
    cuts = detect_cuts(record.signals["content_val"], record.timestamps, config)
    return Scenes(
        (0, *cuts.tolist()), np.asarray(record.frame_indices), record.timestamps, "detected"
    )


def video_scenes(
    records: Mapping[str, SignalRecord], recorded: tuple[int, ...] | None
) -> Scenes | None:
    """A video's scenes from its recorded starts, else from its ``scenes`` record (keyed
    by extractor name among ``records``); None when neither is there."""
    if recorded is not None and records:
        any_record = next(iter(records.values()))
        return recorded_scenes(recorded, any_record.frame_indices, any_record.timestamps)
    if SCENES_EXTRACTOR in records:
        return detected_scenes(records[SCENES_EXTRACTOR])
    return None


def pair_signals(extractors: Sequence[Mapping[str, Any]]) -> set[str]:
    """The ``extractor.signal`` names of the pair signals of run-record extractor entries."""
    return {
        f"{entry['name']}.{signal.name}"
        for entry in extractors
        for signal in get_spec(entry["name"]).signals
        if signal.over == "pair"
    }


def drop_cut_pairs(
    signals: Mapping[str, np.ndarray], pairs: Collection[str], scenes: Scenes | None
) -> dict[str, np.ndarray]:
    """``signals`` with the values of the ``pairs`` signals at pairs that straddle a cut
    left out (the masking rule); unchanged without scenes or cuts."""
    if scenes is None or not len(scenes.cuts):
        return dict(signals)
    straddling = scenes.cuts - 1  # pair i-1 joins frames i-1 and i
    return {
        name: np.delete(values, straddling) if name in pairs else values
        for name, values in signals.items()
    }


def scene_slices(
    signals: Mapping[str, np.ndarray], pairs: Collection[str], scenes: Scenes
) -> list[dict[str, np.ndarray]]:
    """Per scene, each signal's values within it: frames ``[start, stop)`` and the pairs
    between them (as if each scene were a video of its own)."""
    return [
        {
            name: values[start : stop - 1] if name in pairs else values[start:stop]
            for name, values in signals.items()
        }
        for start, stop in scenes.bounds()
    ]
