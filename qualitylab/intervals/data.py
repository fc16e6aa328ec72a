"""Clips for the defect detectors: the signals of a feature run's videos with their frame
times and, where the manifest records them, their ground-truth defect intervals; and
labelled sets built from the demo data with a given seed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.data.samples import build_demo_dataset
from qualitylab.data.video import Sampling
from qualitylab.features.extract import VideoResult
from qualitylab.features.extraction_run import extract_features
from qualitylab.features.layout import read_index, read_run_record
from qualitylab.features.protocols import protocol_and_sampling
from qualitylab.features.tables import video_signals
from qualitylab.intervals.inputs import EXTRACTORS, ClipSignals, frame_times, truth_intervals

TRUTH_COLUMN = "defect_intervals"

# Clips per demo seed: the first 80 of the plan, the set the detectors were designed and
# measured on (the plan grew beyond it for the demo's predictor).
INTERVALS_CLIPS = 80


def run_clips(features_dir: str | Path, truth_column: str = TRUTH_COLUMN) -> list[ClipSignals]:
    """Every video of the feature run in ``features_dir`` with its stored signals and
    analysed-frame times; ``truth`` from the manifest's ``truth_column`` (JSON records
    with ``defect``, ``start_s``, ``end_s``) when the run's index has it. Videos whose
    extraction failed are left out."""
    run = read_run_record(features_dir)
    sampling = Sampling(**run["sampling"])
    index = read_index(features_dir)
    clips = []
    for row in index.itertuples(index=False):
        if not isinstance(row.sha256, str) or not row.sha256:
            continue
        _, signals = video_signals(features_dir, row.id)
        times = frame_times(row.video, sampling)
        truth = {}
        recorded = getattr(row, truth_column, None)
        if isinstance(recorded, str) and recorded.strip():
            try:
                records = json.loads(recorded)
            except ValueError as exc:
                raise ValueError(
                    f"{features_dir}: video {row.id}: column {truth_column} is not JSON ({exc})"
                ) from None
            truth = truth_intervals(records, times)
        clips.append(ClipSignals(str(row.id), signals, times, truth))
    return clips


def demo_clips(
    out_dir: str | Path,
    seed: int,
    n_clips: int = INTERVALS_CLIPS,
    *,
    workers: int | None = None,
    store: str | Path | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[VideoResult], None] | None = None,
) -> list[ClipSignals]:
    """A labelled set: the demo data built with ``seed`` in ``out_dir/data``, its signals
    extracted with the default protocol into ``out_dir/features`` (what the feature
    ``store`` lacks is computed), each clip with its ground-truth intervals."""
    out_dir = Path(out_dir)
    path = build_demo_dataset(out_dir / "data", n_clips=n_clips, seed=seed)
    manifest = load_manifest(path, ColumnMapping(targets=("synthetic_score",)))
    protocol, sampling = protocol_and_sampling("default")
    summary = extract_features(
        manifest,
        list(EXTRACTORS),
        out_dir / "features",
        sampling=sampling,
        protocol=protocol,
        workers=workers,
        store=store,
        on_start=on_start,
        on_result=on_result,
    )
    if summary.interrupted:
        raise KeyboardInterrupt
    if summary.failed:
        failed = ", ".join(result.task.id for result in summary.failed)
        raise RuntimeError(f"{out_dir / 'features'}: extraction failed for {failed}")
    return run_clips(out_dir / "features")


def clips_frame(clips: list[ClipSignals]) -> pd.DataFrame:
    """One row per clip: id, number of analysed frames and its ground-truth intervals."""
    return pd.DataFrame(
        {
            "id": [clip.id for clip in clips],
            "frames": [clip.n_frames for clip in clips],
            "truth": [json.dumps(clip.truth) for clip in clips],
        }
    )
