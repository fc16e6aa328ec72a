"""The rule-based defect detector: one hand-written score per defect from the technical,
SSIM and motion signals, and one threshold per defect.

Per frame ``t`` (``before``/``after``: the pair ending/starting at ``t``; ``p90``: the
clip's 90th percentile; logs are natural):

============  ==========================================================================
defect        score (higher = more likely the defect)
============  ==========================================================================
frozen        ``-log(min(frame_diff before, after) + 0.01)``: a neighbour is a duplicate
flicker       ``min(before, after)`` of ``brightness_change / (brightness + 1)``: the
              brightness jumps both into and out of the frame
blur          ``log(p90 sharpness + 1) - log(sharpness + 1)``: sharper frames elsewhere
noise         ``log(noise)``
shake         ``min(before, after)`` of ``|log(speed_mean + 0.01) - its clip median|``
dark          ``log(max(p90 brightness, 100) / (brightness + 1))``
overexposed   ``clipped_share``
blocks        ``log(blockiness)``
============  ==========================================================================

A frame has the defect when its score exceeds the defect's threshold. :func:`fit_rules`
picks each threshold as the one that maximises that defect's frame-level F1 on training
clips; the detected frames then become intervals as any detector's do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from qualitylab.intervals.core import frame_counts, frame_scores
from qualitylab.intervals.inputs import DEFECTS, ClipSignals, labels, missing_signals

# Brightness (0-255 luma) a dark frame is compared with when its clip is all dark.
_REFERENCE_BRIGHTNESS = 100.0


class RuleConfig(BaseModel):
    """A threshold on each defect's rule score (see the module table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: dict[str, float]


def rule_scores(signals: Mapping[str, np.ndarray], n_frames: int) -> np.ndarray:
    """The rule score of every defect on every frame, ``[n_frames, len(DEFECTS)]``;
    KeyError naming missing signals."""
    missing = missing_signals(signals)
    if missing:
        raise KeyError(f"signals missing for the defect rules: {', '.join(missing)}")

    def frame(name: str) -> np.ndarray:
        return np.nan_to_num(np.asarray(signals[name], np.float64))

    def pair(name: str) -> tuple[np.ndarray, np.ndarray]:
        values = frame(name)
        if n_frames == 1:
            return np.zeros(1), np.zeros(1)
        return np.concatenate([values[:1], values]), np.concatenate([values, values[-1:]])

    brightness = frame("technical.brightness")
    sharpness = frame("technical.sharpness")
    diff_before, diff_after = pair("technical.frame_diff")
    change_before, change_after = pair("technical.brightness_change")
    speed = np.log(np.maximum(frame("motion.speed_mean"), 0) + 0.01)
    speed_before, speed_after = pair("motion.speed_mean")
    speed_before = np.abs(np.log(np.maximum(speed_before, 0) + 0.01) - np.median(speed))
    speed_after = np.abs(np.log(np.maximum(speed_after, 0) + 0.01) - np.median(speed))
    scores = {
        "frozen": -np.log(np.minimum(diff_before, diff_after) + 0.01),
        "flicker": np.minimum(change_before, change_after) / (brightness + 1),
        "blur": np.log(np.percentile(sharpness, 90) + 1) - np.log(sharpness + 1),
        "noise": np.log(np.maximum(frame("technical.noise"), 1e-3)),
        "shake": np.minimum(speed_before, speed_after),
        "dark": np.log(
            max(float(np.percentile(brightness, 90)), _REFERENCE_BRIGHTNESS) / (brightness + 1)
        ),
        "overexposed": frame("technical.clipped_share"),
        "blocks": np.log(np.maximum(frame("technical.blockiness"), 1e-3)),
    }
    return np.stack([scores[defect] for defect in DEFECTS], axis=1)


def rule_flags(config: RuleConfig, signals: Mapping[str, np.ndarray], n_frames: int) -> np.ndarray:
    """Per frame and defect, 1.0 where the rule score exceeds its threshold, else 0.0."""
    thresholds = np.array([config.thresholds[defect] for defect in DEFECTS])
    return (rule_scores(signals, n_frames) > thresholds).astype(np.float32)


def fit_rules(clips: Sequence[ClipSignals]) -> RuleConfig:
    """Each defect's threshold chosen to maximise its frame-level F1 over ``clips`` (with
    ground truth); the midpoint between neighbouring candidate scores."""
    if not clips:
        raise ValueError("fitting the rules needs at least one labelled clip")
    scores = np.concatenate([rule_scores(clip.signals, clip.n_frames) for clip in clips])
    truth = np.concatenate([labels(clip.truth, clip.n_frames) for clip in clips]).astype(bool)
    thresholds = {}
    for column, defect in enumerate(DEFECTS):
        values = np.unique(scores[:, column])
        candidates = (values[:-1] + values[1:]) / 2 if len(values) > 1 else values
        best, best_f1 = float(values.max()), 0.0  # never fires unless it finds something
        for threshold in candidates[:: max(1, len(candidates) // 400)]:
            f1 = frame_scores(*frame_counts(truth[:, column], scores[:, column] > threshold))["f1"]
            if f1 > best_f1:
                best, best_f1 = float(threshold), f1
        thresholds[defect] = best
    return RuleConfig(thresholds=thresholds)
