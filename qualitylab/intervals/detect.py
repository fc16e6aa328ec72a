"""Defect detectors as one kind of thing: per-frame probabilities → intervals per defect,
measured against ground truth, saved and loaded.

A detector is the rule-based one (:mod:`qualitylab.intervals.rules`) or the sequence
model (:mod:`qualitylab.intervals.model`); both give per-frame probabilities of each
defect (the rules 0 or 1), which :func:`qualitylab.intervals.core.to_intervals` turns into
intervals with the detector's :class:`Postprocess` settings.

:func:`measure` reports, over a set of labelled clips, frame-level precision, recall and
F1 and the mean IoU (see :mod:`qualitylab.intervals.core`) for each defect and for
``any`` (the union of every defect's intervals against the union of the truth: *where*
the video breaks, whatever the defect), plus the count of false-alarm intervals.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qualitylab.atomic import write_text
from qualitylab.intervals.core import (
    Interval,
    Postprocess,
    false_alarms,
    frame_counts,
    frame_scores,
    interval_ious,
    merge,
    to_intervals,
    to_mask,
)
from qualitylab.intervals.inputs import DEFECTS, ClipSignals
from qualitylab.intervals.model import (
    CONFIG_FILE,
    SequenceDetector,
    load_sequence_detector,
)
from qualitylab.intervals.rules import RuleConfig, rule_flags

ANY = "any"


class RuleDetector:
    """Holds the rules' thresholds and how their flags become intervals."""

    kind = "rules"
    defects = list(DEFECTS)

    def __init__(self, config: RuleConfig, post: Postprocess = Postprocess()) -> None:
        self.config = config
        self.post = post

    def probabilities(self, clip: ClipSignals) -> np.ndarray:
        """Per frame and defect, 1 where the rule fires, else 0."""
        return rule_flags(self.config, clip.signals, clip.n_frames)

    def save(self, out_dir: str | Path) -> Path:
        """Write the thresholds into ``out_dir`` and return the directory."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "kind": self.kind,
            "config": self.config.model_dump(),
            "post": self.post.model_dump(),
        }
        write_text(out_dir / CONFIG_FILE, json.dumps(record, indent=2) + "\n")
        return out_dir


Detector = RuleDetector | SequenceDetector


def load_detector(model_dir: str | Path) -> Detector:
    """The detector saved in ``model_dir``; FileNotFoundError or ValueError saying why not."""
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir}: no {CONFIG_FILE}; is this a defect detector?")
    record = json.loads(path.read_text(encoding="utf-8"))
    kind = record.get("kind")
    if kind == "rules":
        return RuleDetector(RuleConfig(**record["config"]), Postprocess(**record["post"]))
    if kind == "sequence":
        return load_sequence_detector(model_dir)
    raise ValueError(f"{path}: unknown detector kind {kind!r}")


def detect(
    detector: Detector, clip: ClipSignals, post: Postprocess | None = None
) -> dict[str, list[Interval]]:
    """Per defect, the frame intervals the detector finds in ``clip`` with ``post``
    (default: the detector's own settings); defects with none are left out."""
    post = post or detector.post
    probabilities = detector.probabilities(clip)
    found = {
        defect: to_intervals(
            probabilities[:, column], post.threshold, post.closing, post.min_length
        )
        for column, defect in enumerate(DEFECTS)
    }
    return {defect: intervals for defect, intervals in found.items() if intervals}


def intervals_record(
    found: dict[str, list[Interval]], times: np.ndarray
) -> list[dict[str, float | int | str]]:
    """Detected intervals as JSON-ready records: defect, analysed frames ``[start, end)``
    and seconds (``start_s`` the first frame's time, ``end_s`` the time of the frame after
    the last, or the last frame's time plus one frame interval at the clip's end)."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    ends = np.append(times, times[-1] + step) if len(times) else times
    return [
        {
            "defect": defect,
            "start": start,
            "end": end,
            "start_s": round(float(times[start]), 4),
            "end_s": round(float(ends[end]), 4),
        }
        for defect, intervals in found.items()
        for start, end in intervals
    ]


def measure(
    detector: Detector, clips: Sequence[ClipSignals], post: Postprocess | None = None
) -> dict[str, dict[str, float | int]]:
    """Frame-level precision, recall, F1, mean IoU, interval counts and false alarms per
    defect and for ``any``, pooled over labelled ``clips``."""
    counts = {name: np.zeros(3, int) for name in (ANY, *DEFECTS)}
    ious: dict[str, list[float]] = {name: [] for name in counts}
    alarms = dict.fromkeys(counts, 0)
    predicted_count = dict.fromkeys(counts, 0)
    for clip in clips:
        found = detect(detector, clip, post)
        pairs = {defect: (clip.truth.get(defect, []), found.get(defect, [])) for defect in DEFECTS}
        pairs[ANY] = (
            merge([i for t, _ in pairs.values() for i in t]),
            merge([i for _, p in pairs.values() for i in p]),
        )
        for name, (truth, predicted) in pairs.items():
            counts[name] += frame_counts(
                to_mask(truth, clip.n_frames), to_mask(predicted, clip.n_frames)
            )
            ious[name] += interval_ious(truth, predicted)
            alarms[name] += false_alarms(truth, predicted)
            predicted_count[name] += len(predicted)
    return {
        name: {
            **frame_scores(*(int(c) for c in counts[name])),
            "mean_iou": float(np.mean(ious[name])) if ious[name] else float("nan"),
            "truth_intervals": len(ious[name]),
            "predicted_intervals": predicted_count[name],
            "false_alarms": alarms[name],
        }
        for name in counts
    }
