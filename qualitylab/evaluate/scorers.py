"""Scorers: what is evaluated against the ratings, resolved from a spec into one value
per evaluated row (NaN where a scorer has none).

A spec is, tried in this order:

- ``quality_index``: the Webench quality index of the rows' features;
- a directory: a predictor written by ``qualitylab train``. Rows it was trained on get
  its out-of-fold predictions (``oof.csv``), never in-sample fits; other rows get its
  predictions from their features (extracted with its recorded settings when the rows
  are a bare manifest);
- a file: a scores CSV as ``qualitylab score`` writes (``id, predicted_score, ...``),
  joined on ``id``; rows with an ``error`` get no score;
- a column of the rows (a feature such as ``ssim.adjacent.mean``), higher meaning
  better; ``-NAME`` or ``NAME:lower`` turns it round (``NAME:higher`` is the default).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from qualitylab.baseline import DEGENERATE_NOTE, QualityIndexConfig, quality_index
from qualitylab.data.manifest import Manifest
from qualitylab.errors import QualitylabError
from qualitylab.features.layout import read_feature_table
from qualitylab.learn.bundle import aspect_dir, aspect_name
from qualitylab.learn.predictor import (
    OOF_FILE,
    Predictor,
    PredictorError,
    PredictorInfo,
    load_predictor,
)

QUALITY_INDEX = "quality_index"
Scale = Literal["target", "probability"]
_FILE_SUFFIXES = (".csv", ".tsv", ".parquet", ".json")


class ScorerError(QualitylabError):
    """A scorer that cannot be evaluated; the message names it and says why."""


@dataclass
class Scored:
    """One scorer's values, aligned with the evaluated rows.

    ``scale`` is ``"target"`` when the values are ratings on the target's scale (MAE and
    threshold accuracy are meaningful), ``"probability"`` for a classifier's probability
    of ``target >= threshold``, None otherwise. ``training`` is the table a predictor was
    trained on and its target, when known and disjoint from the evaluated rows.
    """

    name: str
    kind: str
    values: np.ndarray
    scale: Scale | None = None
    notes: list[str] = field(default_factory=list)
    training: tuple[pd.DataFrame, str, str] | None = None


@dataclass
class ScorerContext:
    """What resolving a scorer may need beyond the rows: the target and threshold, the
    manifest the rows came from (to extract a predictor's features), where to extract,
    and the extraction's progress callbacks."""

    target: str
    threshold: float | None = None
    manifest: Manifest | None = None
    features_dir: Path | None = None
    workers: int | None = None
    on_start: Callable[[int], None] | None = None
    on_result: Callable[[Any], None] | None = None


def resolve(spec: str, rows: pd.DataFrame, context: ScorerContext) -> Scored:
    """The values of the scorer ``spec`` for ``rows`` (which hold ``id``); ScorerError
    when it cannot be resolved."""
    if spec == QUALITY_INDEX:
        return index_scores(rows)
    path = Path(spec)
    if path.is_dir():
        return predictor_scores(path, rows, context)
    if path.is_file():
        return file_scores(path, rows, context.target)
    return column_scores(spec, rows)


def parse_column(spec: str) -> tuple[str, int]:
    """The column name of a column spec and its sign (+1 higher is better, -1 lower)."""
    sign = 1
    if spec.startswith("-"):
        spec, sign = spec[1:], -1
    for suffix, direction in ((":lower", -1), (":higher", 1)):
        if spec.endswith(suffix):
            spec, sign = spec[: -len(suffix)], sign * direction
    return spec, sign


def column_scores(spec: str, rows: pd.DataFrame) -> Scored:
    """A column of the rows as a scorer, turned round for ``-NAME`` / ``NAME:lower``."""
    name, sign = parse_column(spec)
    if name not in rows.columns:
        if "/" in name or Path(name).suffix.lower() in _FILE_SUFFIXES:
            raise ScorerError(f"scorer {spec!r}: no such file or directory")
        close = difflib.get_close_matches(name, [str(c) for c in rows.columns], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ScorerError(
            f"scorer {spec!r}: not quality_index, a model directory, a scores file or a "
            f"column of the evaluated rows{hint} (feature columns need --features)"
        )
    values = pd.to_numeric(rows[name], errors="coerce")
    if values.isna().all():
        raise ScorerError(f"scorer {spec!r}: column {name!r} holds no numbers")
    direction = "lower is better" if sign < 0 else "higher is better"
    return Scored(spec, "column", sign * values.to_numpy(float), notes=[direction])


def index_scores(rows: pd.DataFrame, config: QualityIndexConfig | None = None) -> Scored:
    """The Webench quality index of the rows' feature columns."""
    try:
        index = quality_index(rows, config or QualityIndexConfig())
    except ValueError as exc:
        raise ScorerError(f"scorer {QUALITY_INDEX!r}: {exc} (pass --features)") from None
    notes = [f"without {', '.join(index.missing_families)}"] if index.missing_families else []
    if index.degenerate:
        notes.append(DEGENERATE_NOTE)
    return Scored(QUALITY_INDEX, "quality_index", index.quality_index.to_numpy(float), notes=notes)


def file_scores(path: Path, rows: pd.DataFrame, target: str | None = None) -> Scored:
    """``predicted_score`` of a scores CSV (of a bundle's, ``predicted_<aspect>`` of the
    aspect named after ``target``), joined on ``id``; rows with an error get NaN."""
    try:
        table = pd.read_csv(path, dtype={"id": str})
    except (ValueError, OSError) as exc:
        raise ScorerError(f"scorer {path}: cannot be read as a CSV file ({exc})") from None
    column = "predicted_score"
    if column not in table.columns and target is not None:
        column = f"predicted_{aspect_name(target)}"
    missing = [c for c in ("id", column) if c not in table.columns]
    if missing:
        raise ScorerError(
            f"scorer {path}: needs the columns id and {column} (as `qualitylab score` "
            f"writes), lacks {', '.join(missing)}"
        )
    if "error" in table.columns:
        table = table[table["error"].isna()]
    by_id = dict(zip(table["id"], pd.to_numeric(table[column], errors="coerce")))
    values = rows["id"].map(by_id).to_numpy(float)
    if np.isnan(values).all():
        raise ScorerError(f"scorer {path}: none of its ids is among the evaluated rows")
    notes = (
        [f"{int(np.isnan(values).sum())} rows without a score"] if np.isnan(values).any() else []
    )
    return Scored(str(path), "scores", values, notes=notes)


def predictor_scores(model_dir: Path, rows: pd.DataFrame, context: ScorerContext) -> Scored:
    """A predictor's out-of-fold predictions for the rows it was trained on and its
    predictions for the others; of a bundle, the aspect trained on the evaluated target."""
    try:
        model_dir = aspect_dir(model_dir, context.target)
        predictor = load_predictor(model_dir)
    except PredictorError as exc:
        raise ScorerError(f"scorer {model_dir}: {exc}") from None
    info = predictor.info
    column = "probability" if info.task == "classification" else "predicted"
    oof = pd.read_csv(model_dir / OOF_FILE, dtype={"id": str})
    training = _training_table(predictor)
    seen = trained_on(rows, oof, training, info.target)
    values = np.full(len(rows), np.nan)
    by_id = dict(zip(oof["id"], oof[column]))
    values[seen] = rows["id"][seen].map(by_id).to_numpy(float)
    notes = []
    if seen.any():
        notes.append(
            f"out-of-fold predictions for the {int(seen.sum())} rows it was trained on "
            "(never in-sample fits)"
        )
    if not seen.all():
        unseen = ~seen
        values[unseen] = _predictions(predictor, rows[unseen], context)
        notes.append(f"predictions for {int(unseen.sum())} rows it was not trained on")
    scale = _scale(info, context)
    if info.target != context.target:
        notes.append(f"trained on {info.target!r}")
    usable = training is not None and not seen.any()
    return Scored(
        str(model_dir),
        "predictor",
        values,
        scale=scale,
        notes=notes,
        training=(training, info.target, str(info.features_source)) if usable else None,
    )


def trained_on(
    rows: pd.DataFrame, oof: pd.DataFrame, training: pd.DataFrame | None, target: str
) -> np.ndarray:
    """Which rows a predictor was trained on: their id is in its out-of-fold predictions,
    with the same value of its target when the rows hold it, and the same prompt when its
    training table is known (ids alone repeat across datasets, e.g. ``demo_000``)."""
    ids = rows["id"].astype(str)
    seen = ids.isin(set(oof["id"])).to_numpy()
    if target in rows.columns:
        trained_target = dict(zip(oof["id"], oof["target"]))
        mine = pd.to_numeric(rows[target], errors="coerce").to_numpy(float)
        theirs = ids.map(trained_target).to_numpy(float)
        seen = seen & (np.isclose(mine, theirs) | (np.isnan(mine) & np.isnan(theirs)))
    if training is not None and "prompt" in training.columns and "prompt" in rows.columns:
        prompts = dict(zip(training["id"].astype(str), training["prompt"]))
        seen = seen & (ids.map(prompts) == rows["prompt"]).to_numpy()
    return seen


def _training_table(predictor: Predictor) -> pd.DataFrame | None:
    source = predictor.info.features_source
    if not source:
        return None
    try:
        table, _ = read_feature_table(source)
    except FileNotFoundError:
        return None
    return table.astype({"id": str})


def _scale(info: PredictorInfo, context: ScorerContext) -> Scale | None:
    if info.task == "regression":
        return "target" if info.target == context.target else None
    same_cut = context.threshold is not None and info.threshold == context.threshold
    return "probability" if same_cut and info.target == context.target else None


def _predictions(predictor: Predictor, rows: pd.DataFrame, context: ScorerContext) -> np.ndarray:
    """The predictor's output for rows it was not trained on, from the rows' features or,
    when they lack them, from features extracted for them."""
    column = "probability" if predictor.info.task == "classification" else "predicted_score"
    missing = [c for c in predictor.columns if c not in rows.columns]
    if not missing:
        return predictor.predict(rows)[column].to_numpy(float)
    if context.manifest is None or context.features_dir is None:
        raise ScorerError(
            f"the evaluated rows lack {len(missing)} of the predictor's features (e.g. "
            f"{missing[0]}): pass a manifest to extract them, or --features"
        )
    from qualitylab.score import score_manifest

    manifest = context.manifest
    wanted = manifest.table["id"].astype(str).isin(set(rows["id"]))
    subset = replace(manifest, table=manifest.table[wanted].reset_index(drop=True))
    try:
        result = score_manifest(
            subset,
            predictor,
            context.features_dir,
            workers=context.workers,
            on_start=context.on_start,
            on_result=context.on_result,
        )
    except PredictorError as exc:
        raise ScorerError(str(exc)) from None
    scored = result.scores[result.scores["error"].isna()]
    return rows["id"].map(dict(zip(scored["id"], scored["predicted_score"]))).to_numpy(float)
