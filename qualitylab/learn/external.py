"""A trained predictor scored on another rated set (``qualitylab train ... --eval OTHER``).

OTHER is a feature table (``.parquet``/``.csv`` holding the predictor's features, or an
extract-features directory), or a manifest of rated videos whose features are then
extracted with the predictor's extractors, settings and frame sampling by the scoring
machinery (:func:`qualitylab.score.score_manifest`), into ``EVAL_DIR/features``.

``EVAL_DIR`` (``MODEL_DIR/eval``) receives ``predictions.csv`` (id, the target, the
prediction, and the pair and group columns when present) and ``metrics.json``: every
metric of :func:`qualitylab.learn.metrics.scores` with a bootstrap interval (resampling
pair groups, e.g. prompts, when present), the within-group pairwise accuracy, the
Spearman inside each ``group_by`` group with its system-level correlation, and the
yardstick of a constant predictor (the training mean, or the training majority class).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qualitylab.learn import evaluation, metrics
from qualitylab.learn.predictor import Predictor, PredictorError

PREDICTIONS_FILE = "predictions.csv"
METRICS_FILE = "metrics.json"


@dataclass
class ExternalEvaluation:
    """Predictions on the other set and their agreement with its ratings."""

    predictions: pd.DataFrame
    metrics: dict[str, Any]
    report: dict[str, Any]
    notes: list[str]


def is_feature_table(path: Path, predictor: Predictor) -> bool:
    """Whether ``path`` is a feature table (a directory holding one, a Parquet file, or a
    CSV with the predictor's first feature) rather than a manifest of videos."""
    from qualitylab.features.layout import TABLE_FILES

    if path.is_dir():
        return (path / TABLE_FILES["combined"]).is_file()
    if path.suffix.lower() == ".parquet":
        return True
    if path.suffix.lower() == ".csv":
        return predictor.columns[0] in pd.read_csv(path, nrows=0).columns
    return False


def rated_rows(
    source: Path, predictor: Predictor, eval_dir: Path, workers: int | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The rows of ``source`` with the predictor's output in ``predicted`` and every
    descriptive column of the table or manifest; notes on what was assumed or failed."""
    from qualitylab.data.manifest import ColumnMapping, ManifestError, load_manifest
    from qualitylab.features.layout import read_feature_table
    from qualitylab.score import score_manifest

    if is_feature_table(source, predictor):
        table, _ = read_feature_table(source)
        rows = table[[c for c in table.columns if c not in predictor.columns]].copy()
        rows["predicted"] = predictor.score(table)
        return rows, []
    try:
        manifest = load_manifest(source, ColumnMapping(targets=(predictor.info.target,)))
    except ManifestError as exc:
        raise PredictorError(f"--eval {source}: {exc}") from None
    scored = score_manifest(manifest, predictor, eval_dir / "features", workers=workers)
    failed = scored.scores["error"].notna()
    notes = list(scored.notes)
    if failed.any():
        notes.append(f"{int(failed.sum())} videos of {source} could not be scored and are left out")
    rows = scored.scores[~failed].rename(columns={"predicted_score": "predicted"})
    return rows.reset_index(drop=True), notes


def evaluate_on(
    predictor: Predictor, source: str | Path, eval_dir: str | Path, workers: int | None = None
) -> ExternalEvaluation:
    """Score ``source`` with ``predictor`` and compare with its ratings of the predictor's
    target; writes ``eval_dir``. PredictorError when the target or the features are missing."""
    source, eval_dir = Path(source), Path(eval_dir)
    if not source.exists():
        raise PredictorError(f"--eval {source}: no such file or directory")
    info = predictor.info
    rows, notes = rated_rows(source, predictor, eval_dir, workers)
    if info.target not in rows:
        raise PredictorError(f"--eval {source}: has no column {info.target!r} (the target)")
    target = pd.to_numeric(rows[info.target], errors="coerce")
    if target.notna().sum() < 3:
        raise PredictorError(f"--eval {source}: fewer than 3 rows with a numeric {info.target!r}")
    if target.isna().any():
        notes.append(f"{int(target.isna().sum())} rows without a {info.target} left out")
    rows = rows[target.notna()].reset_index(drop=True)
    truth = target.dropna().to_numpy(np.float64)
    predicted = rows["predicted"].to_numpy(np.float64)
    pair_by = info.config.pair_by if info.config.pair_by in rows else None
    group_by = info.config.group_by if info.config.group_by in rows else None
    pairs = rows[pair_by].astype(str).to_numpy() if pair_by else None
    groups = rows[group_by].astype(str).to_numpy() if group_by else None
    clusters, role = evaluation.bootstrap_clusters(groups, pairs)
    task_args = _score_arguments(info.task, info.threshold, truth, predicted)
    overall = metrics.scores(info.task, *task_args)
    ci = metrics.bootstrap_ci(info.task, *task_args, groups=clusters, seed=info.seed)
    summary = {name: {"value": value, "ci": list(ci[name])} for name, value in overall.items()}
    report: dict[str, Any] = {
        "rows": len(rows),
        "source": str(source),
        "group_by": group_by,
        "groups": None if groups is None else len(np.unique(groups)),
        "pair_by": pair_by,
        "ci_resamples": {"group_by": group_by, "pair_by": pair_by}.get(role, "row"),
        "constant_yardstick": _constant(info, truth),
    }
    if pairs is not None:
        report["pairwise"] = evaluation.pairwise_with_ci(truth, predicted, pairs, seed=info.seed)
    within_by = info.config.within if info.config.within in rows else None
    within = rows[within_by].astype(str).to_numpy() if within_by else None
    report["within"] = evaluation.within_columns(
        truth, predicted, {group_by: groups, within_by: within}
    )
    keep = ["id", *(c for c in (pair_by, group_by, within_by) if c and c != "id")]
    predictions = rows[[c for c in dict.fromkeys(keep) if c in rows]].copy()
    predictions["target"] = truth
    predictions["predicted"] = predicted
    eval_dir.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(eval_dir / PREDICTIONS_FILE, index=False)
    payload = {"source": str(source.resolve()), "predictor_id": predictor.id}
    payload |= {"metrics": summary, "evaluation": report, "notes": notes}
    (eval_dir / METRICS_FILE).write_text(
        json.dumps(metrics.to_json_ready(payload), indent=2, allow_nan=False) + "\n"
    )
    return ExternalEvaluation(predictions, summary, report, notes)


def _score_arguments(task: str, threshold: float | None, truth: np.ndarray, predicted: np.ndarray):
    if task == "regression":
        return truth, predicted
    labels = (truth >= threshold).astype(int)
    return labels, (predicted >= 0.5).astype(int), predicted, truth


def _constant(info: Any, truth: np.ndarray) -> dict[str, float]:
    """The constant predictor's error on the other set: it predicts the training target's
    mean (or majority class), recorded in the predictor's evaluation; a predictor that
    lacks the record gets the other set's own mean (an optimistic yardstick)."""
    mean = info.evaluation.get("target_mean")
    if info.task == "classification":
        labels = (truth >= info.threshold).astype(int)
        majority = info.evaluation.get("majority_class", int(labels.mean() >= 0.5))
        return {"accuracy": float((labels == majority).mean()), "pairwise_accuracy": 0.5}
    value = float(truth.mean()) if mean is None else float(mean)
    error = value - truth
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "pairwise_accuracy": 0.5,
    }
