"""``evaluate``: every scorer against the human ratings of one set of videos, beside the
yardsticks (constant predictor, majority class, best single feature) and the human
ceiling, as one ``Evaluation``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from qualitylab.data.manifest import ColumnMapping, Manifest, ManifestError, load_manifest
from qualitylab.errors import QualitylabError
from qualitylab.evaluate.agreement import Agreement, Resampling, agreement, human_ceiling
from qualitylab.evaluate.scorers import Scored, ScorerContext, ScorerError, resolve
from qualitylab.evaluate.yardsticks import (
    best_single_feature,
    feature_columns,
    fold_splits,
    majority_label,
    out_of_fold_feature,
    out_of_fold_majority,
    out_of_fold_median,
)
from qualitylab.features.layout import TABLE_FILES, read_feature_table

ROWS = "rows"
MIN_ROWS = 3
Role = Literal["scorer", "yardstick", "human"]


class EvaluationError(QualitylabError):
    """Input that cannot be evaluated; the message names the file, column or scorer."""


class EvaluationConfig(BaseModel):
    """What to evaluate and how.

    ``cluster_by`` is the column whose groups the bootstrap resamples whole; by default
    the ``pair_by`` column (prompts: the videos of one prompt are not independent), else
    ``group_by``; ``"rows"`` resamples single rows.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    scorers: tuple[str, ...] = Field(min_length=1)
    group_by: str | None = None
    pair_by: str | None = "prompt"
    cluster_by: str | None = None
    raters: tuple[str, ...] = ()
    threshold: float | None = None
    n_resamples: int = Field(1000, ge=100)
    confidence: float = Field(0.95, gt=0, lt=1)
    seed: int = 0

    @property
    def clusters(self) -> str | None:
        """The column resampled whole by the bootstrap; None for single rows."""
        chosen = self.cluster_by or self.pair_by or self.group_by
        return None if chosen == ROWS else chosen

    @property
    def resampling(self) -> Resampling:
        """The bootstrap settings."""
        return Resampling(self.n_resamples, self.confidence, self.seed)


@dataclass
class ScorerEvaluation:
    """One row of the result: a scorer, a yardstick or a rater, and its agreement."""

    name: str
    role: Role
    kind: str
    agreement: Agreement
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for evaluation.json."""
        return {
            "name": self.name,
            "role": self.role,
            "kind": self.kind,
            **self.agreement.to_dict(),
            "notes": self.notes,
        }


@dataclass
class Evaluation:
    """Every scorer, yardstick and rater evaluated on the same rated rows."""

    config: EvaluationConfig
    source: str
    features: str | None
    rows: int
    target: dict[str, float]
    clusters: dict[str, Any]
    results: list[ScorerEvaluation]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for evaluation.json (NaN kept; see ``to_json_ready``)."""
        return {
            "config": self.config.model_dump(),
            "source": self.source,
            "features": self.features,
            "rows": self.rows,
            "target": self.target,
            "clusters": self.clusters,
            "results": [result.to_dict() for result in self.results],
            "notes": self.notes,
        }


def evaluate(
    source: str | Path,
    config: EvaluationConfig,
    *,
    features: str | Path | None = None,
    mapping: ColumnMapping | None = None,
    work_dir: str | Path | None = None,
    workers: int | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[Any], None] | None = None,
) -> Evaluation:
    """Evaluate ``config.scorers`` against ``config.target`` on the rows of ``source`` (a
    manifest, a feature table or an extract-features directory), with the columns of the
    feature table ``features`` joined on ``id``.

    A predictor whose features the rows lack is scored from features extracted into
    ``work_dir`` (``on_start``/``on_result`` follow that extraction). Raises
    EvaluationError for input that cannot be evaluated.
    """
    mapping = mapping or ColumnMapping()
    mapping = ColumnMapping(
        mapping.video, mapping.prompt, mapping.id, targets=(config.target, *config.raters)
    )
    table, manifest, notes = load_rows(source, features, mapping)
    rows = rated_rows(table, config, str(source), notes)
    truth = rows[config.target].to_numpy(float)
    context = ScorerContext(
        config.target,
        config.threshold,
        manifest,
        Path(work_dir) if work_dir is not None else None,
        workers,
        on_start,
        on_result,
    )
    try:
        scored = [resolve(spec, rows, context) for spec in config.scorers]
    except ScorerError as exc:
        raise EvaluationError(str(exc)) from None
    results = [_scorer_result(item, rows, truth, config) for item in scored]
    results += _yardsticks(rows, truth, scored, config, notes)
    if config.raters:
        results += _ceiling(rows, config)
    clusters = config.clusters
    return Evaluation(
        config=config,
        source=str(source),
        features=str(features) if features is not None else None,
        rows=len(rows),
        target={
            "min": float(truth.min()),
            "mean": float(truth.mean()),
            "median": float(np.median(truth)),
            "max": float(truth.max()),
        },
        clusters={
            "by": clusters,
            "count": int(rows[clusters].nunique()) if clusters else len(rows),
        },
        results=results,
        notes=notes,
    )


def load_rows(
    source: str | Path, features: str | Path | None, mapping: ColumnMapping
) -> tuple[pd.DataFrame, Manifest | None, list[str]]:
    """The rows of ``source`` with ``features``' columns joined on ``id``, the manifest
    when ``source`` is one (for extracting features), and notes on rows left unmatched."""
    path = Path(source)
    manifest = None
    if path.is_dir() and (path / TABLE_FILES["combined"]).is_file():
        table, _ = read_feature_table(path)
    else:
        try:
            manifest = load_manifest(source, mapping)
        except ManifestError as exc:
            raise EvaluationError(str(exc)) from None
        table = manifest.table
    table = _as_numbers(table).astype({"id": str})
    duplicated = table["id"][table["id"].duplicated()]
    if len(duplicated):
        raise EvaluationError(f"{source}: duplicate ids, e.g. {duplicated.iloc[0]!r}")
    notes: list[str] = []
    if features is not None:
        table = _join_features(table, source, features, notes)
    return table.reset_index(drop=True), manifest, notes


def rated_rows(
    table: pd.DataFrame, config: EvaluationConfig, source: str, notes: list[str]
) -> pd.DataFrame:
    """The rows with a numeric target; EvaluationError for an absent or non-numeric
    column, or fewer than three rated rows."""
    roles = [
        (config.target, "target"),
        *((rater, "--raters") for rater in config.raters),
        *((name, option) for name, option in _group_columns(config) if name),
    ]
    for name, role in roles:
        if name not in table.columns:
            described = [c for c in table.columns if "." not in str(c)]
            raise EvaluationError(
                f"{role} column {name!r} is not in {source}; its columns are "
                f"{', '.join(map(str, described))} (and {len(table.columns) - len(described)} "
                "feature columns; to use a manifest's other columns, give the manifest as "
                "RATED and the features with --features)"
            )
    for name in (config.target, *config.raters):
        column = table[name]
        numeric = pd.to_numeric(column, errors="coerce")
        if numeric.isna().all() or (numeric.isna() & column.notna()).any():
            raise EvaluationError(f"{source}: column {name!r} is not numeric")
        table = table.assign(**{name: numeric})
    rated = table[table[config.target].notna()].reset_index(drop=True)
    if len(rated) < len(table):
        notes.append(f"{len(table) - len(rated)} rows without {config.target} left out")
    if len(rated) < MIN_ROWS:
        raise EvaluationError(
            f"{source}: {len(rated)} rows with {config.target}; at least {MIN_ROWS} are needed"
        )
    return rated


def _join_features(
    table: pd.DataFrame, source: str | Path, features: str | Path, notes: list[str]
) -> pd.DataFrame:
    try:
        extra, _ = read_feature_table(features)
    except FileNotFoundError as exc:
        raise EvaluationError(str(exc)) from None
    extra = extra.astype({"id": str}).drop_duplicates("id")
    matched = table["id"].isin(set(extra["id"]))
    if not matched.any():
        raise EvaluationError(
            f"no id of {source} (e.g. {table['id'].iloc[0]!r}) is in {features} (e.g. "
            f"{extra['id'].iloc[0] if len(extra) else 'none'!r}); they must come from the "
            "same manifest"
        )
    if not matched.all():
        notes.append(f"{int((~matched).sum())} rows of {source} have no features in {features}")
    new = [c for c in extra.columns if c not in table.columns]
    return table.merge(extra[["id", *new]], on="id", how="left")


def _as_numbers(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every column whose non-empty values are all numbers made numeric
    (empty cells NaN): manifests, and the manifest columns of feature tables, are text."""
    converted = {}
    for name in table.columns:
        if name in ("id", "video", "prompt") or pd.api.types.is_numeric_dtype(table[name]):
            continue
        text = table[name].astype(str).str.strip()
        present = table[name].notna() & (text != "")
        numbers = pd.to_numeric(text.where(present), errors="coerce")
        if present.any() and numbers[present].notna().all():
            converted[name] = numbers
    return table.assign(**converted)


def _group_columns(config: EvaluationConfig) -> list[tuple[str | None, str]]:
    return [
        (config.group_by, "--group-by"),
        (config.pair_by, "--pair-by"),
        (config.clusters, "--cluster-by"),
    ]


def _labels(rows: pd.DataFrame, column: str | None) -> np.ndarray | None:
    return None if column is None else rows[column].astype(str).to_numpy()


def _agreement(
    rows: pd.DataFrame,
    truth: np.ndarray,
    values: np.ndarray,
    config: EvaluationConfig,
    scale: str | None,
) -> Agreement:
    """The agreement on the rows where ``values`` is defined."""
    keep = ~np.isnan(values)
    kept = rows[keep]
    cut = {"target": config.threshold, "probability": 0.5}.get(scale) if scale else None
    return agreement(
        truth[keep],
        values[keep],
        clusters=_labels(kept, config.clusters),
        groups=_labels(kept, config.group_by),
        pair_groups=_labels(kept, config.pair_by),
        on_scale=scale == "target",
        threshold=config.threshold,
        cut=cut,
        resampling=config.resampling,
    )


def _scorer_result(
    scored: Scored, rows: pd.DataFrame, truth: np.ndarray, config: EvaluationConfig
) -> ScorerEvaluation:
    defined = int((~np.isnan(scored.values)).sum())
    if defined < MIN_ROWS:
        raise EvaluationError(
            f"scorer {scored.name!r}: {defined} of the {len(rows)} rated rows have a value; "
            f"at least {MIN_ROWS} are needed"
        )
    result = _agreement(rows, truth, scored.values, config, scored.scale)
    return ScorerEvaluation(scored.name, "scorer", scored.kind, result, scored.notes)


def _yardsticks(
    rows: pd.DataFrame,
    truth: np.ndarray,
    scored: list[Scored],
    config: EvaluationConfig,
    notes: list[str],
) -> list[ScorerEvaluation]:
    """Best single feature, constant predictor and (with a threshold) majority class."""
    excluded = {config.target, *config.raters, *(name for name, _ in _group_columns(config))}
    candidates = feature_columns(rows, {name for name in excluded if name})
    trainings = list({item.training[2]: item.training for item in scored if item.training}.values())
    folds = None
    if not trainings:
        fold_by = config.pair_by or config.clusters
        try:
            folds = fold_splits(truth, _labels(rows, fold_by), config.seed)
        except ValueError as exc:
            notes.append(f"no out-of-fold yardsticks: {exc}")
            return []
    results = []
    try:
        if not candidates:
            notes.append("no feature columns among the rows: no best-single-feature yardstick")
        elif trainings:
            results += [
                _chosen_feature(rows, truth, training, candidates, config) for training in trainings
            ]
        else:
            results.append(_oof_feature(rows, truth, candidates, folds, config))
    except ValueError as exc:
        notes.append(f"no best-single-feature yardstick: {exc}")
    return results + _constant_yardsticks(rows, truth, trainings, folds, config)


def _chosen_feature(
    rows: pd.DataFrame,
    truth: np.ndarray,
    training: tuple[pd.DataFrame, str, str],
    candidates: list[str],
    config: EvaluationConfig,
) -> ScorerEvaluation:
    table, target, source = training
    shared = [name for name in candidates if name in table.columns]
    labelled = table[pd.to_numeric(table[target], errors="coerce").notna()]
    choice = best_single_feature(labelled, pd.to_numeric(labelled[target]), shared)
    values = choice.sign * pd.to_numeric(rows[choice.feature], errors="coerce").to_numpy(float)
    sign = "+" if choice.sign > 0 else "-"
    return ScorerEvaluation(
        f"best single feature: {sign}{choice.feature}",
        "yardstick",
        "feature",
        _agreement(rows, truth, values, config, None),
        [
            f"chosen on the training table {source} by |Spearman| with {target} "
            f"({choice.spearman:+.3f}), sign kept"
        ],
    )


def _oof_feature(
    rows: pd.DataFrame,
    truth: np.ndarray,
    candidates: list[str],
    folds: list,
    config: EvaluationConfig,
) -> ScorerEvaluation:
    values, choices = out_of_fold_feature(rows, truth, candidates, folds)
    counts = Counter(f"{'+' if c.sign > 0 else '-'}{c.feature}" for c in choices)
    chosen = ", ".join(f"{name} ({n}×)" for name, n in counts.most_common())
    grouped = (
        f", grouped by {config.pair_by or config.clusters}"
        if (config.pair_by or config.clusters)
        else ""
    )
    return ScorerEvaluation(
        "best single feature (out-of-fold)",
        "yardstick",
        "feature",
        _agreement(rows, truth, values, config, None),
        [
            f"no training data known: chosen on the other folds of the evaluated rows "
            f"({len(folds)} folds{grouped}) by |Spearman|, sign kept, each value as its "
            f"percentile among the other folds' values; chosen: {chosen}"
        ],
    )


def _constant_yardsticks(
    rows: pd.DataFrame,
    truth: np.ndarray,
    trainings: list,
    folds: list | None,
    config: EvaluationConfig,
) -> list[ScorerEvaluation]:
    """The constant (median) predictor and, with a threshold, the majority class: learned
    from the first training set, else out of fold."""
    threshold = config.threshold
    if trainings:
        table, target, source = trainings[0]
        known = pd.to_numeric(table[target], errors="coerce").dropna().to_numpy()
        median = float(np.median(known))
        values, note = np.full(len(truth), median), f"median {median:.3g} of {target} in {source}"
    else:
        values = out_of_fold_median(truth, folds)
        note = "median of the other folds (no training data known)"
    result = _agreement(rows, truth, values, config, "target")
    result.metrics, result.within, result.system = {"mae": result.metrics["mae"]}, {}, {}
    yardsticks = [
        ScorerEvaluation("constant (median) predictor", "yardstick", "constant", result, [note])
    ]
    if threshold is None:
        return yardsticks
    if trainings:
        predicted = np.full(len(truth), majority_label(known >= threshold), dtype=bool)
        note = f"the majority class of {target} >= {threshold} in {source}"
    else:
        predicted = out_of_fold_majority(truth >= threshold, folds)
        note = "the majority class of the other folds (no training data known)"
    result = _agreement(rows, truth, predicted.astype(float), config, "probability")
    result.metrics, result.within, result.system = {"accuracy": result.metrics["accuracy"]}, {}, {}
    return [
        *yardsticks,
        ScorerEvaluation("majority class", "yardstick", "constant", result, [note]),
    ]


def _ceiling(rows: pd.DataFrame, config: EvaluationConfig) -> list[ScorerEvaluation]:
    ratings = {name: rows[name].to_numpy(float) for name in config.raters}
    try:
        per_rater = human_ceiling(
            ratings,
            clusters=_labels(rows, config.clusters),
            groups=_labels(rows, config.group_by),
            pair_groups=_labels(rows, config.pair_by),
            resampling=config.resampling,
        )
    except ValueError as exc:
        raise EvaluationError(f"--raters: {exc}") from None
    return [
        ScorerEvaluation(
            f"human: {name} vs mean of the others",
            "human",
            "rater",
            result,
            [f"{name} against the mean of {', '.join(r for r in config.raters if r != name)}"],
        )
        for name, result in per_rater.items()
    ]
