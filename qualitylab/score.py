"""Scoring a new generation run with a trained predictor.

The videos get the features the predictor was trained on (the same extractors, settings
and frame sampling, recorded in its ``predictor.json``), extracted into a feature store
that is reused across runs; then per video: the predicted score, its uncertainty (the
standard deviation of the forest's trees' predictions, or of their class-1 probabilities
for a classifier; NaN for learners other than rf), the Webench quality index (the
hand-weighted baseline, from whatever of its families the features hold), ``ood`` (what
lies outside the predictor's training ranges, see :mod:`qualitylab.learn.ood`), the three
largest SHAP contributions, ``scenes`` (per-scene scores of a video with more than one
scene, see :func:`scene_scores`) and ``predictor_id`` (the id of the predictor's artifact).
Every manifest column not already among these (targets, groups such as the generator)
is passed through, so that the scores can be compared with ratings directly.

A bundle of aspect predictors (:mod:`qualitylab.learn.bundle`) gives per aspect
``predicted_<aspect>``, ``uncertainty_<aspect>`` and ``top_shap_<aspect>`` in place of the
single-target columns; its videos are ranked by ``predicted_overall`` when the bundle has
an overall aspect, else by the mean of the aspects' percentile ranks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qualitylab.baseline import DEGENERATE_NOTE, QualityIndexConfig, quality_index
from qualitylab.data.manifest import Manifest
from qualitylab.data.video import Sampling
from qualitylab.features.extract import VideoResult
from qualitylab.features.extraction_run import extract_features
from qualitylab.features.layout import feature_run, widest_table
from qualitylab.features.names import extractor_of
from qualitylab.features.protocols import RUN_KEY, Protocol, run_protocol
from qualitylab.features.registry import extractor_class, get_spec
from qualitylab.features.scenes import SCENE_STARTS_COLUMN, SCENES_EXTRACTOR
from qualitylab.features.tables import scene_features
from qualitylab.learn.bundle import OVERALL, PredictorBundle
from qualitylab.learn.explain import explain, top_contributions
from qualitylab.learn.predictor import Predictor, PredictorError

# Extracted with the predictor's features so that the quality index has its technical checks.
INDEX_EXTRACTOR = "technical"
SCORE_COLUMNS = [
    "rank",
    "id",
    "video",
    "prompt",
    "predicted_score",
    "uncertainty",
    "quality_index",
    "ood",
    "top_shap",
    "scenes",
    "error",
    "predictor_id",
]
SHARED_COLUMNS = ["quality_index", "ood"]


def score_columns(model: Predictor | PredictorBundle) -> list[str]:
    """The columns of a scored run, in order: :data:`SCORE_COLUMNS` for a predictor, and
    per aspect ``predicted_``, ``uncertainty_`` and ``top_shap_`` columns for a bundle."""
    if isinstance(model, Predictor):
        return list(SCORE_COLUMNS)
    per_aspect = [f"{kind}_{a}" for a in model.aspects for kind in ("predicted", "uncertainty")]
    shap = [f"top_shap_{aspect}" for aspect in model.aspects]
    return [
        "rank",
        "id",
        "video",
        "prompt",
        *per_aspect,
        *SHARED_COLUMNS,
        *shap,
        "error",
        "predictor_id",
    ]


@dataclass
class ScoreResult:
    """The scores of a run (ranked, failed videos last with their error), its notes, and
    how many videos had features computed or all taken from the store."""

    scores: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    computed: int = 0
    reused: int = 0


def extraction_plan(
    predictor: Predictor | PredictorBundle,
) -> tuple[list[str], dict[str, dict], Sampling, Protocol, list[str]]:
    """The extractors, their settings, the frame sampling and the feature protocol that
    reproduce the predictor's features, plus notes on anything that had to be assumed.

    The protocol is ``predictor.json["protocol"]``, else that of the run the predictor
    was trained from (its ``features_source``), else thesis. A bundle's aspects share
    one extraction: its first aspect's.
    """
    if isinstance(predictor, PredictorBundle):
        predictor = predictor.first
    notes: list[str] = []
    recorded = predictor.info.extractors
    if recorded:
        names = [entry["name"] for entry in recorded]
        overrides = {entry["name"]: _value_settings(entry) for entry in recorded}
    else:
        names = list(dict.fromkeys(extractor_of(column) for column in predictor.columns))
        overrides = {}
        notes.append(
            "the predictor does not record its extractors' settings; the defaults of "
            f"{', '.join(names)} are used"
        )
    sampling_record = predictor.info.sampling
    if sampling_record is None:
        notes.append("the predictor does not record its frame sampling; every frame is used")
    sampling = Sampling(**(sampling_record or {}))
    if INDEX_EXTRACTOR not in names:
        names.append(INDEX_EXTRACTOR)
    return names, overrides, sampling, _protocol(predictor, notes), notes


def needs_prompts(predictor: Predictor) -> bool:
    """Whether scoring with ``predictor`` runs an extractor that reads the prompt."""
    names, *_ = extraction_plan(predictor)
    return any(get_spec(name).reads_prompt for name in names)


def _protocol(predictor: Predictor, notes: list[str]) -> Protocol:
    if predictor.info.protocol is not None:
        return run_protocol({RUN_KEY: predictor.info.protocol})
    source = predictor.info.features_source
    run = feature_run(source) if source else None
    if run is None:
        notes.append("the predictor does not record its feature protocol; thesis is assumed")
    return run_protocol(run)


def _value_settings(entry: dict[str, Any]) -> dict[str, Any]:
    """A recorded extractor config without its execution settings (device, batch size),
    which are chosen for this machine again."""
    execution = extractor_class(get_spec(entry["name"])).Config.EXECUTION_FIELDS
    return {key: value for key, value in entry["config"].items() if key not in execution}


def score_manifest(
    manifest: Manifest,
    predictor: Predictor | PredictorBundle,
    features_dir: str | Path,
    *,
    skipped: pd.DataFrame | None = None,
    index_config: QualityIndexConfig | None = None,
    workers: int | None = None,
    store: str | Path | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[VideoResult], None] | None = None,
) -> ScoreResult:
    """Extract what the feature ``store`` lacks (default: the shared one), then score
    every video of ``manifest``; the scored run's index and tables go to
    ``features_dir``, which must not hold another run's tables (RunError).

    ``skipped`` lists videos left out before extraction (``id, video, error``); they and
    the videos whose extraction failed appear at the end with their error. Raises
    RunError when extraction cannot start and PredictorError when the features made
    do not match the predictor's schema.
    """
    names, overrides, sampling, protocol, notes = extraction_plan(predictor)
    if SCENES_EXTRACTOR not in names and not _all_recorded(manifest):
        names.append(SCENES_EXTRACTOR)
    summary = extract_features(
        manifest,
        names,
        features_dir,
        sampling=sampling,
        overrides=overrides,
        workers=workers,
        store=store,
        purpose="score",
        protocol=protocol,
        on_start=on_start,
        on_result=on_result,
    )
    if summary.interrupted:
        raise KeyboardInterrupt
    errors = {
        result.task.id: "; ".join(f"{name}: {error}" for name, error in result.failures.items())
        for result in summary.failed
    }
    table_path = widest_table(features_dir)
    table = pd.read_parquet(table_path) if table_path.is_file() else pd.DataFrame()
    if not table.empty:
        table = table[table["id"].isin(set(manifest.table["id"]) - set(errors))]
    result = score_table(table, predictor, index_config)
    if not result.scores.empty and isinstance(predictor, Predictor):
        per_scene, scene_notes = scene_scores(features_dir, predictor)
        result.scores["scenes"] = [per_scene.get(i, "") for i in result.scores["id"]]
        result.notes += scene_notes
    elif not result.scores.empty:
        result.notes.append(
            "per-scene scores are written for single-target predictors only, not bundles"
        )
    result.notes = notes + result.notes
    failed = manifest.table[manifest.table["id"].isin(errors)][["id", "video", "prompt"]]
    failed = failed.assign(error=failed["id"].map(errors))
    parts = [result.scores, failed, skipped if skipped is not None else pd.DataFrame()]
    scores = pd.concat([part for part in parts if not part.empty], ignore_index=True)
    scores = scores.reindex(columns=score_columns(predictor)).assign(predictor_id=predictor.id)
    scores["rank"] = scores["rank"].astype("Int64")  # stays an integer beside failed videos
    passed = [c for c in manifest.table.columns if c not in scores.columns]
    result.scores = scores.merge(manifest.table[["id", *passed]], on="id", how="left")
    result.computed, result.reused = summary.computed, summary.reused
    return result


def _all_recorded(manifest: Manifest) -> bool:
    """True when every row of ``manifest`` records its scene starts (a generate run)."""
    table = manifest.table
    if SCENE_STARTS_COLUMN not in table.columns:
        return False
    starts = table[SCENE_STARTS_COLUMN]
    return bool(starts.notna().all() and (starts.astype(str).str.strip() != "").all())


def scene_scores(
    features_dir: str | Path, predictor: Predictor
) -> tuple[dict[str, str], list[str]]:
    """Per video of a scored run with more than one scene, its scenes scored one by one
    (each scene's frames and pairs aggregated as if a video): a JSON object ``{"source":
    "recorded" | "detected", "scenes": [{"scene", "start_frame", "end_frame",
    "start_seconds", "end_seconds", "predicted_score", "uncertainty"}, ...]}`` keyed by id;
    and a note saying where the boundaries came from."""
    videos, table = scene_features(features_dir)
    if not videos:
        return {}, []
    scores = predictor.score(table)
    spread = predictor.uncertainty(table)
    out: dict[str, str] = {}
    row = 0
    for identifier, scenes in videos:
        described = scenes.describe()
        for scene in described:
            scene["predicted_score"] = _number(scores[row])
            scene["uncertainty"] = _number(spread[row])
            row += 1
        out[identifier] = json.dumps({"source": scenes.source, "scenes": described})
    sources = pd.Series([scenes.source for _, scenes in videos]).value_counts()
    counts = ", ".join(f"{count} {source}" for source, count in sources.items())
    note = (
        f"{len(videos)} videos have more than one scene and are scored scene by scene too "
        f"(boundaries: {counts}; recorded = the manifest's {SCENE_STARTS_COLUMN}, detected "
        f"= the {SCENES_EXTRACTOR} extractor; see the 'scenes' column)"
    )
    return out, [note]


def _number(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def score_table(
    table: pd.DataFrame,
    predictor: Predictor | PredictorBundle,
    index_config: QualityIndexConfig | None = None,
) -> ScoreResult:
    """Score the rows of a feature table: prediction, uncertainty, quality index, top SHAP
    (per aspect for a bundle), ranked best first."""
    if table.empty:
        return ScoreResult(pd.DataFrame(columns=score_columns(predictor)))
    models = (
        predictor.predictors if isinstance(predictor, PredictorBundle) else {"score": predictor}
    )
    scores = table[[c for c in ("id", "video", "prompt") if c in table.columns]].copy()
    scores = scores.reset_index(drop=True)
    shap = {}
    for aspect, model in models.items():
        try:
            scores[f"predicted_{aspect}"] = model.score(table)
        except PredictorError as exc:
            raise PredictorError(
                f"{exc} (the extracted features: {len(table.columns)} columns)"
            ) from None
        scores["uncertainty" if aspect == "score" else f"uncertainty_{aspect}"] = model.uncertainty(
            table
        )
        shap["top_shap" if aspect == "score" else f"top_shap_{aspect}"] = top_contributions(
            explain(model, table)
        )
    index = quality_index(table, index_config or QualityIndexConfig())
    scores["quality_index"] = index.quality_index.to_numpy()
    scores["ood"] = predictor.out_of_distribution(table)
    scores = scores.assign(**shap)
    scores["predictor_id"] = predictor.id
    order = _ranking(scores, list(models))
    scores = scores.iloc[np.argsort(-order, kind="stable")].reset_index(drop=True)
    scores.insert(0, "rank", np.arange(1, len(scores) + 1))
    result = ScoreResult(scores)
    outside = int((scores["ood"] != "").sum())
    if outside:
        result.notes.append(
            f"{outside} of {len(scores)} videos lie outside the predictor's training "
            "distribution (see the 'ood' column); their scores are extrapolations"
        )
    if index.missing_families:
        result.notes.append(
            f"quality index without {', '.join(index.missing_families)} (not among the features)"
        )
    if index.degenerate:
        result.notes.append(DEGENERATE_NOTE)
    return result


def _ranking(scores: pd.DataFrame, aspects: list[str]) -> np.ndarray:
    """What the videos are ranked by (highest first): the predicted score, the overall
    aspect, or the mean of the aspects' percentile ranks."""
    if len(aspects) == 1 or OVERALL in aspects:
        name = aspects[0] if len(aspects) == 1 else OVERALL
        return scores[f"predicted_{name}"].to_numpy(np.float64)
    ranks = scores[[f"predicted_{aspect}" for aspect in aspects]].rank(pct=True)
    return ranks.mean(axis=1).to_numpy(np.float64)
