"""Train the two defect detectors on demo data and measure them on demo data built with
another seed; find the defect intervals of the videos of a scored run.

``train_detectors`` builds (or reuses) the labelled demo sets under ``work_dir`` (one per
seed; their signals go to the shared feature store), fits the rules' thresholds and
trains the sequence model on the training seeds, measures both on the held-out seed, and
writes into ``out_dir``: ``rules/`` and ``model/`` (each a detector directory),
``metrics.json`` (both detectors' measures) and ``experiment.json`` (the settings).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qualitylab.atomic import write_text
from qualitylab.config import home_dir
from qualitylab.data.manifest import Manifest
from qualitylab.data.samples import MAX_CLIPS, MIN_CLIPS
from qualitylab.features.extract import VideoResult
from qualitylab.features.extraction_run import extract_features
from qualitylab.features.protocols import protocol_and_sampling
from qualitylab.intervals.core import Postprocess
from qualitylab.intervals.data import INTERVALS_CLIPS, demo_clips, run_clips
from qualitylab.intervals.detect import (
    ANY,
    Detector,
    RuleDetector,
    detect,
    intervals_record,
    load_detector,
    measure,
)
from qualitylab.intervals.inputs import EXTRACTORS, ClipSignals
from qualitylab.intervals.model import SequenceConfig, train_sequence_detector
from qualitylab.intervals.rules import fit_rules

METRICS_FILE = "metrics.json"
EXPERIMENT_FILE = "experiment.json"


class IntervalsExperiment(BaseModel):
    """Which demo seeds train and which one tests, how many clips each, the sequence
    model's settings and how probabilities become intervals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train_seeds: tuple[int, ...] = (10, 11)
    test_seed: int = 20
    clips: int = Field(INTERVALS_CLIPS, ge=MIN_CLIPS, le=MAX_CLIPS)
    model: SequenceConfig = SequenceConfig()
    post: Postprocess = Postprocess()

    @model_validator(mode="after")
    def _held_out(self) -> IntervalsExperiment:
        if not self.train_seeds:
            raise ValueError("train_seeds: give at least one seed")
        if self.test_seed in self.train_seeds:
            raise ValueError(
                f"test_seed {self.test_seed} is also a training seed; the test clips must be "
                "built with another seed"
            )
        return self


@dataclass
class Progress:
    """Callbacks for a caller that shows progress: a step starting, and extraction's."""

    step: Callable[[str], None] = lambda name: None
    on_start: Callable[[int], None] | None = None
    on_result: Callable[[VideoResult], None] | None = None


def labelled_set(
    seed: int,
    clips: int,
    work_dir: str | Path | None = None,
    *,
    workers: int | None = None,
    store: str | Path | None = None,
    progress: Progress | None = None,
) -> list[ClipSignals]:
    """The labelled demo clips of ``seed`` (built or reused under ``work_dir``, default
    ``QUALITYLAB_HOME/intervals``)."""
    progress = progress or Progress()
    root = Path(work_dir) if work_dir is not None else home_dir() / "intervals"
    progress.step(f"demo data, seed {seed} ({clips} clips)")
    return demo_clips(
        root / f"demo_{clips}_seed{seed}",
        seed,
        clips,
        workers=workers,
        store=store,
        on_start=progress.on_start,
        on_result=progress.on_result,
    )


def train_detectors(
    out_dir: str | Path,
    experiment: IntervalsExperiment = IntervalsExperiment(),
    work_dir: str | Path | None = None,
    *,
    workers: int | None = None,
    store: str | Path | None = None,
    progress: Progress | None = None,
) -> dict[str, dict[str, dict[str, float | int]]]:
    """Fit the rules and train the sequence model on the training seeds, measure both on
    the test seed, save both into ``out_dir``; return the measures by detector
    (``rules``, ``model``)."""
    progress = progress or Progress()
    out_dir = Path(out_dir)
    train: list[ClipSignals] = []
    for seed in experiment.train_seeds:
        train += labelled_set(
            seed, experiment.clips, work_dir, workers=workers, store=store, progress=progress
        )
    test = labelled_set(
        experiment.test_seed,
        experiment.clips,
        work_dir,
        workers=workers,
        store=store,
        progress=progress,
    )
    progress.step(f"fitting the rules on {len(train)} clips")
    rules = RuleDetector(fit_rules(train), experiment.post)
    progress.step(f"training the sequence model on {len(train)} clips")
    model = train_sequence_detector(train, experiment.model, experiment.post)
    progress.step(f"measuring both on {len(test)} clips of seed {experiment.test_seed}")
    metrics = {"rules": measure(rules, test), "model": measure(model, test)}
    rules.save(out_dir / "rules")
    model.save(out_dir / "model")
    write_text(out_dir / EXPERIMENT_FILE, experiment.model_dump_json(indent=2) + "\n")
    write_text(out_dir / METRICS_FILE, json.dumps(json_ready(metrics), indent=2) + "\n")
    return metrics


def evaluate_detector(
    detector_dir: str | Path,
    seed: int,
    clips: int = INTERVALS_CLIPS,
    work_dir: str | Path | None = None,
    *,
    workers: int | None = None,
    store: str | Path | None = None,
    progress: Progress | None = None,
) -> dict[str, dict[str, float | int]]:
    """The measures of the saved detector in ``detector_dir`` on the demo clips of ``seed``."""
    detector = load_detector(detector_dir)
    test = labelled_set(seed, clips, work_dir, workers=workers, store=store, progress=progress)
    return measure(detector, test)


def run_intervals(
    detector: Detector,
    manifest: Manifest,
    features_dir: str | Path,
    *,
    workers: int | None = None,
    store: str | Path | None = None,
    progress: Progress | None = None,
) -> dict[str, object]:
    """The defect intervals of every video of ``manifest``: the detector's signals
    extracted at the default protocol's sampling into ``features_dir`` (reusing the
    store), then detected. JSON-ready, as :mod:`qualitylab.intervals.output` describes;
    videos whose extraction failed are left out."""
    progress = progress or Progress()
    protocol, sampling = protocol_and_sampling("default")
    summary = extract_features(
        manifest,
        list(EXTRACTORS),
        features_dir,
        sampling=sampling,
        protocol=protocol,
        workers=workers,
        store=store,
        purpose="score",
        on_start=progress.on_start,
        on_result=progress.on_result,
    )
    if summary.interrupted:
        raise KeyboardInterrupt
    clips = run_clips(features_dir)
    return {
        "detector": detector.kind,
        "sampling": sampling.to_dict(),
        "defects": detector.defects,
        "frames": {clip.id: clip.n_frames for clip in clips},
        "videos": {clip.id: intervals_record(detect(detector, clip), clip.times) for clip in clips},
    }


def write_run_intervals(
    detector_dir: str | Path,
    manifest: Manifest,
    features_dir: str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    store: str | Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Detect the defect intervals of every video of ``manifest`` with the detector saved
    in ``detector_dir`` (see :func:`run_intervals`) and write them as JSON to ``out``."""
    detector = load_detector(detector_dir)
    found = run_intervals(
        detector, manifest, features_dir, workers=workers, store=store, progress=progress
    )
    found = {"detector_dir": str(Path(detector_dir).resolve()), **found}
    write_text(out, json.dumps(found, indent=2) + "\n")
    return Path(out)


def summary_lines(metrics: dict[str, dict[str, dict[str, float | int]]]) -> list[str]:
    """One line per detector: F1, precision, recall and mean IoU of ``any`` defect."""
    lines = []
    for name, measures in metrics.items():
        every = measures[ANY]
        lines.append(
            f"{name}: F1 {every['f1']:.3f} (precision {every['precision']:.3f}, recall "
            f"{every['recall']:.3f}), mean IoU {every['mean_iou']:.3f} over "
            f"{every['truth_intervals']} intervals, {every['false_alarms']} false alarms"
        )
    return lines


def json_ready(value: object) -> object:
    """``value`` with NaN floats as None, nested dicts included (for JSON)."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
