"""The one place where the service calls the rest of qualitylab.

Every call the app, the jobs and the run discovery make into the library goes through
these functions, so that a rename in the library touches this module only. Errors that
mean "bad input" are gathered in ``INPUT_ERRORS``; the service answers them with 4xx.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qualitylab.compare import Comparison, compare_tables, load_run
from qualitylab.data.folder import FOLDER_MANIFEST, VIDEO_EXTENSIONS, read_input
from qualitylab.data.manifest import Manifest
from qualitylab.data.video import VideoInfo, probe
from qualitylab.errors import QualitylabError
from qualitylab.evaluate import EvaluationConfig, evaluate
from qualitylab.evaluate.output import read_evaluation, summary_table, write_evaluation
from qualitylab.features.extraction_run import extract_features
from qualitylab.features.layout import read_feature_table
from qualitylab.features.registry import is_pair_signal
from qualitylab.features.tables import left_out_pairs, video_signals
from qualitylab.intervals.output import video_intervals
from qualitylab.learn.explain import explain, global_importance
from qualitylab.learn.metrics import to_json_ready
from qualitylab.learn.predictor import INFO_FILE, Predictor, artifact_id, load_predictor
from qualitylab.learn.timeline import frame_attribution
from qualitylab.score import score_manifest

__all__ = [
    "artifact_id",
    "INPUT_ERRORS",
    "VIDEO_EXTENSIONS",
    "Comparison",
    "Predictor",
    "VideoInfo",
    "compare_runs",
    "defect_intervals",
    "evaluate_run",
    "evaluation_summaries",
    "extract_run",
    "importance",
    "is_pair_signal",
    "is_predictor_dir",
    "open_input",
    "open_predictor",
    "probe_video",
    "score_run",
    "shap_timeline",
    "signals_of",
]

# Bad input from the client or the files it names: answered with a 4xx, never a 500.
INPUT_ERRORS: tuple[type[Exception], ...] = (QualitylabError,)
# Columns of a scores file that are not metrics of the videos.
BOOKKEEPING = ("rank", "error")
# What extraction jobs compute when the client names no extractor: the offline families.
DEFAULT_EXTRACTORS = ("ssim", "flow", "technical")


@dataclass
class Progress:
    """The callbacks a job passes to a long library call: the number of videos when it
    starts, then one call per finished video with whether it was computed or reused."""

    on_start: Callable[[int], None]
    on_video: Callable[[bool], None]


def open_predictor(model_dir: str | Path) -> Predictor:
    """The predictor saved in ``model_dir`` (PredictorError when it is not one)."""
    return load_predictor(model_dir)


def is_predictor_dir(path: Path) -> bool:
    """Whether ``path`` looks like a saved predictor (it holds ``predictor.json``)."""
    return (path / INFO_FILE).is_file()


def open_input(
    source: str | Path, prompts: str | Path | None = None
) -> tuple[Manifest, pd.DataFrame]:
    """The manifest of a manifest file or a folder of videos, and the videos left out."""
    return read_input(source, prompts)


def probe_video(path: str | Path) -> VideoInfo:
    """The container facts of a video; VideoDecodeError when it is not a readable video."""
    return probe(path)


def _on_result(progress: Progress | None) -> Callable[[Any], None] | None:
    if progress is None:
        return None
    return lambda result: progress.on_video(bool(result.computed))


def score_run(
    source: str | Path,
    prompts: str | Path | None,
    model_dir: str | Path,
    features_dir: Path,
    scores_path: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score the videos of ``source`` with the predictor in ``model_dir``, reusing the
    store in ``features_dir``, and write the scores CSV; returns what the job reports.
    KeyboardInterrupt when ``progress`` interrupts it (the finished videos stay stored)."""
    predictor = load_predictor(model_dir)
    manifest, skipped = read_input(source, prompts)
    result = score_manifest(
        manifest,
        predictor,
        features_dir,
        skipped=skipped,
        workers=1,
        on_start=progress.on_start if progress else None,
        on_result=_on_result(progress),
    )
    scores_path.parent.mkdir(parents=True, exist_ok=True)
    result.scores.to_csv(scores_path, index=False)
    errors = result.scores["error"].notna()
    return {
        "scores": str(scores_path),
        "rows": len(result.scores),
        "scored": int((~errors).sum()),
        "failed": int(errors.sum()),
        "notes": result.notes,
    }


def extract_run(
    source: str | Path,
    prompts: str | Path | None,
    extractors: list[str] | None,
    features_dir: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Extract ``extractors`` (default: the offline families) for the videos of
    ``source`` into ``features_dir``; returns what the job reports."""
    manifest, _ = read_input(source, prompts)
    summary = extract_features(
        manifest,
        list(extractors or DEFAULT_EXTRACTORS),
        features_dir,
        workers=1,
        on_start=progress.on_start if progress else None,
        on_result=_on_result(progress),
    )
    if summary.interrupted:
        raise KeyboardInterrupt
    return {
        "features": str(features_dir),
        "rows": summary.table_rows,
        "failed": len(summary.failed),
        "computed": summary.computed,
        "reused": summary.reused,
    }


def evaluate_run(
    source: str | Path,
    model_dir: str | Path,
    settings: Any,
    out_dir: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Evaluate the predictor in ``model_dir`` against the ratings of the manifest
    ``source`` (its features extracted as the predictor needs them) with the yardsticks of
    ``qualitylab evaluate``; writes evaluation.json/.md/.png into ``out_dir`` and returns
    what the job reports. ``settings`` carries target, group_by, pair_by and raters."""
    folder_manifest = Path(source) / FOLDER_MANIFEST
    if folder_manifest.is_file():
        source = folder_manifest
    config = EvaluationConfig(
        target=settings.target,
        scorers=(str(model_dir),),
        group_by=settings.group_by,
        pair_by=settings.pair_by,
        raters=tuple(settings.raters or ()),
    )
    evaluation = evaluate(
        source,
        config,
        work_dir=out_dir / "features",
        workers=1,
        on_start=progress.on_start if progress else None,
        on_result=_on_result(progress),
    )
    write_evaluation(evaluation, out_dir)
    scorer = next(result for result in evaluation.results if result.role == "scorer")
    return {
        "evaluation": str(out_dir),
        "rows": evaluation.rows,
        "metrics": to_json_ready(scorer.agreement.to_dict()["metrics"]),
        "notes": evaluation.notes,
    }


def evaluation_summaries(directories: list[Path]) -> list[dict[str, Any]]:
    """The summary table (one row per scorer, yardstick and rater) of each evaluation
    saved in ``directories``, newest first, skipping any that is not there."""
    summaries = []
    for directory in directories:
        try:
            data = read_evaluation(directory)
        except FileNotFoundError:
            continue
        summaries.append(
            {
                "directory": str(directory),
                "target": data["config"]["target"],
                "rows": data["rows"],
                "table": summary_table(data).to_dict("records"),
            }
        )
    return summaries


def signals_of(features_dir: str | Path, video_id: str) -> dict[str, np.ndarray]:
    """Every stored per-frame (or per-pair) signal of one video of a run, keyed
    ``extractor.signal``; KeyError when the run does not hold the video."""
    _, signals = video_signals(features_dir, video_id)
    return signals


def defect_intervals(scores: str | Path, video_id: str) -> list[dict[str, Any]]:
    """The defect intervals ``score --intervals`` found in one video of a run (each with
    ``from``/``to`` as fractions of the clip); empty when it wrote none."""
    return video_intervals(scores, video_id)


def shap_timeline(
    predictor: Predictor, features_dir: str | Path, video_id: str
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The SHAP values of one video's features spread over its frames (``signal,
    position, frame, value, shap``), and its SHAP value per feature."""
    table, _ = read_feature_table(features_dir)
    row = table[table["id"].astype(str) == str(video_id)]
    if row.empty:
        raise KeyError(f"no features for video {video_id!r} in {features_dir}")
    shap_values = explain(predictor, row).row(str(video_id)).to_dict()
    signals = signals_of(features_dir, video_id)
    left_out = left_out_pairs(features_dir, video_id)
    return frame_attribution(signals, shap_values, left_out), shap_values


def importance(predictor: Predictor) -> pd.DataFrame | None:
    """Mean |SHAP| per feature on the predictor's training features, or None when those
    features are no longer where the predictor says it was trained."""
    source = predictor.info.features_source
    if not source or not Path(source).exists():
        return None
    table, _ = read_feature_table(source)
    return global_importance(explain(predictor, table))


def compare_runs(
    scores_a: Path, scores_b: Path, labels: tuple[str, str], n_boot: int = 2000
) -> Comparison:
    """The paired comparison of two score files by prompt, on their metrics (not on the
    bookkeeping columns ``rank`` and ``error``); CompareError when they share no prompt
    or metric."""
    a, b = (
        load_run(path).drop(columns=list(BOOKKEEPING), errors="ignore")
        for path in (scores_a, scores_b)
    )
    return compare_tables(a, b, n_boot=n_boot, labels=labels)
