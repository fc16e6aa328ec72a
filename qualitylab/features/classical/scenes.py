"""Scene cuts with PySceneDetect: its content score of every neighbouring pair of sampled
frames, and the cuts that score implies under a content or adaptive rule.

The extractor runs on the sampled frames the engine decodes for every other extractor,
fed one by one to PySceneDetect's ``ContentDetector`` through its Python API (with a
``StatsManager`` to read the score back), rather than on a second, full-rate decode: the
cuts exist to tell which pairs *of those frames* straddle a scene change, so they must be
located on the same frame grid, and one decode is shared by every extractor. A cut is
placed at the first sampled frame of the new scene, exact for that purpose even when the
sampling skips frames.

What is stored is ``content_val`` (PySceneDetect's frame score, the weighted mean absolute
change of hue, saturation, luma and, when weighted, edges between the two frames; the
statistics key of the same name), one value per pair. It depends on the two frames only,
so the extractor keeps no state between chunks. The cuts are decided from the whole
video's stored scores by :func:`detect_cuts`, since the adaptive rule compares each score
with the scores on both sides of it; they are never stored, and a changed setting
gives a new record (every setting is part of the config hash).

| setting | default | meaning |
|---|---|---|
| ``detector`` | ``adaptive`` | ``adaptive`` (PySceneDetect's AdaptiveDetector rule) or ``content`` (ContentDetector's) |
| ``threshold`` | 27 | content: a pair whose score is at least this is a cut |
| ``adaptive_threshold`` | 2 | adaptive: a pair is a cut when its score is at least this many times the mean score of the ``window_width`` pairs on each side... |
| ``min_content_val`` | 15 | adaptive: ...and at least this |
| ``window_width`` | 2 | adaptive: pairs on each side in that mean |
| ``min_scene_seconds`` | 0.5 | a cut needs at least this many seconds since the start or the last cut |
| ``luma_only`` | false | score luma changes only (PySceneDetect's ``luma_only``) |

The defaults are PySceneDetect's but for ``adaptive_threshold`` (3 there): frames
sampled at a few per second change more within a shot than neighbouring frames at 24-30
fps, so a cut stands out less against its neighbours. 2 was chosen on synthetic joined
clips (seeds 2000-2039 of :func:`qualitylab.data.joined.joined_video`, F1 of exact cut
frames 0.95 against 0.87 at 3), apart from the seeds that ``benchmarks/scene_cuts.py``
reports on.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from qualitylab.features.base import Chunk, Extractor, ExtractorConfig

# PySceneDetect's name of its frame score (the statistics-file column).
SCORE = "content_val"
# PySceneDetect's AdaptiveDetector: a ratio is capped here, and a window mean below
# AVERAGE_FLOOR counts as zero.
MAX_RATIO = 255.0
AVERAGE_FLOOR = 1e-5


class ScenesConfig(ExtractorConfig):
    """The detector rule and its thresholds (see the module table)."""

    detector: Literal["adaptive", "content"] = "adaptive"
    threshold: float = Field(27.0, gt=0, le=255)
    adaptive_threshold: float = Field(2.0, gt=0)
    min_content_val: float = Field(15.0, ge=0, le=255)
    window_width: int = Field(2, ge=1)
    min_scene_seconds: float = Field(0.5, ge=0)
    luma_only: bool = False


class ScenesExtractor(Extractor):
    """Emits PySceneDetect's content score of every pair that ends in a chunk."""

    Config = ScenesConfig
    config: ScenesConfig

    def process(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """The ``content_val`` of every pair that ends in this chunk."""
        from scenedetect import ContentDetector, FrameTimecode, StatsManager

        detector = ContentDetector(min_scene_len=0, luma_only=self.config.luma_only)
        detector.stats_manager = StatsManager()
        frames = [chunk.frames[i] for i in range(len(chunk.frames))]
        if chunk.previous is not None:
            frames.insert(0, chunk.previous)
        # The time base only labels the frames; the score does not depend on it.
        times = [FrameTimecode(i, fps=1.0) for i in range(len(frames))]
        for time, frame in zip(times, frames):
            detector.process_frame(time, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        scores = [detector.stats_manager.get_metrics(time, [SCORE])[0] for time in times[1:]]
        return {SCORE: np.asarray(scores, np.float32)}


def detect_cuts(scores: np.ndarray, timestamps: np.ndarray, config: ScenesConfig) -> np.ndarray:
    """The sampled frames that start a new scene (positions >= 1, ascending) given the
    ``content_val`` of each pair (T-1 values) and the T frames' timestamps in seconds.

    The rules are PySceneDetect's: ``content`` takes every pair scoring at least
    ``threshold``; ``adaptive`` takes a pair when its score over the mean score of the
    ``window_width`` pairs on each side (the first frame scoring 0, as in PySceneDetect;
    no cut within ``window_width`` frames of either end, whose window is incomplete) is at
    least ``adaptive_threshold`` and its score at least ``min_content_val``. Then a cut is
    kept only when ``min_scene_seconds`` have passed since the first frame or the last
    kept cut (PySceneDetect's suppress mode).
    """
    scores = np.asarray(scores, np.float64)
    times = np.asarray(timestamps, np.float64)
    if len(times) != len(scores) + 1:
        raise ValueError(f"{len(scores)} pair scores need {len(scores) + 1} timestamps")
    frame_scores = np.concatenate([[0.0], scores])
    if config.detector == "content":
        candidates = np.flatnonzero(frame_scores >= config.threshold)
    else:
        candidates = _adaptive_candidates(frame_scores, config)
    kept: list[int] = []
    last = times[0] if len(times) else 0.0
    for position in candidates:
        if times[position] - last >= config.min_scene_seconds:
            kept.append(int(position))
            last = times[position]
    return np.asarray(kept, np.int64)


def _adaptive_candidates(frame_scores: np.ndarray, config: ScenesConfig) -> np.ndarray:
    width = config.window_width
    n = len(frame_scores)
    if n < 2 * width + 1:
        return np.zeros(0, np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(frame_scores, 2 * width + 1)
    centre = windows[:, width]
    average = (windows.sum(axis=1) - centre) / (2 * width)
    zero = np.abs(average) < AVERAGE_FLOOR
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.minimum(centre / np.where(zero, 1.0, average), MAX_RATIO)
    ratio = np.where(zero, np.where(centre >= config.min_content_val, MAX_RATIO, 0.0), ratio)
    hits = (ratio >= config.adaptive_threshold) & (centre >= config.min_content_val)
    return np.flatnonzero(hits) + width
