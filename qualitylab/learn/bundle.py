"""A bundle of aspect predictors: one predictor per rated aspect (visual quality, temporal
consistency, alignment...), trained on the same feature table with the same folds.

``MODEL_DIR/`` holds ``bundle.json`` (:class:`BundleInfo`: each aspect's name and target
column, and what ``overall`` is), ``metrics.json`` (each aspect's cross-validated
metrics) and one subdirectory per aspect, each a complete predictor directory
(:mod:`qualitylab.learn.predictor`) that loads and scores on its own. A single-target
predictor directory has no ``bundle.json`` and is unchanged; :func:`load_model` loads
either.

The optional ``overall`` aspect learns either another rated column (e.g. the overall
score) or, with ``overall="mean"``, the row-wise mean of the aspect columns (rows missing
an aspect have no mean and are left out of it). Aspects are named after their target
column; the overall one is named ``overall``. The folds are drawn once for all aspects:
stratified on the mean of the aspects' percentile ranks and grouped as configured, so
that every aspect's cross-validation holds out the same videos together.

Saving is atomic: the whole bundle is written into a temporary directory beside
``MODEL_DIR`` which then replaces it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from qualitylab import __version__
from qualitylab.atomic import swap_in_directory
from qualitylab.learn import cv
from qualitylab.learn.metrics import to_json_ready
from qualitylab.learn.predictor import (
    BUNDLE_FILE,
    METRICS_FILE,
    Predictor,
    PredictorError,
    load_predictor,
    save_predictor,
)
from qualitylab.learn.train import TrainConfig, TrainResult, train

BUNDLE_FORMAT = 1
OVERALL = "overall"
MEAN_OF_ASPECTS = "mean_of_aspects"


class BundleInfo(BaseModel):
    """``bundle.json``: the aspects (name → target column, in order), what ``overall``
    learns (a column, ``mean``, or nothing) and how the shared folds were drawn."""

    model_config = ConfigDict(extra="forbid")

    format_version: int
    qualitylab_version: str
    created: str
    aspects: dict[str, str]
    overall: str | None = None
    folds: str


@dataclass
class PredictorBundle:
    """A loaded bundle: one :class:`Predictor` per aspect, its ``bundle.json`` and its id
    (a hash of ``bundle.json`` and the aspects' ids)."""

    predictors: dict[str, Predictor]
    info: BundleInfo
    id: str = ""

    @classmethod
    def load(cls, model_dir: str | Path) -> PredictorBundle:
        """The bundle saved in ``model_dir`` (see :func:`load_bundle`)."""
        return load_bundle(model_dir)

    @property
    def aspects(self) -> list[str]:
        """The aspects' names, in order (``overall`` last when there is one)."""
        return list(self.predictors)

    @property
    def first(self) -> Predictor:
        """The first aspect's predictor: every aspect shares its features and extraction."""
        return next(iter(self.predictors.values()))

    @property
    def columns(self) -> list[str]:
        """Every feature any aspect reads, in the first aspect's order."""
        return list(dict.fromkeys(c for p in self.predictors.values() for c in p.columns))

    def score(self, table: pd.DataFrame) -> pd.DataFrame:
        """Per row and aspect the predicted score (the probability of class 1 for a
        classifier): one column per aspect, rows in ``table``'s order."""
        return pd.DataFrame(
            {aspect: p.score(table) for aspect, p in self.predictors.items()}, index=table.index
        )

    def uncertainty(self, table: pd.DataFrame) -> pd.DataFrame:
        """Per row and aspect the spread of the forest's trees (NaN for other learners)."""
        return pd.DataFrame(
            {aspect: p.uncertainty(table) for aspect, p in self.predictors.items()},
            index=table.index,
        )

    def out_of_distribution(self, table: pd.DataFrame) -> list[str]:
        """Per row, what lies outside the training ranges ("" when nothing does); the
        aspects share one training table, so the first aspect's ranges stand for all."""
        return self.first.out_of_distribution(table)


def aspect_name(target: str) -> str:
    """The name of the aspect learning ``target``: the column's name with every run of
    characters other than letters, digits, ``.``, ``-`` and ``_`` made one ``_``."""
    return re.sub(r"[^\w.-]+", "_", target.strip()).strip("_") or "aspect"


def shared_folds(table: pd.DataFrame, targets: list[str], config: TrainConfig) -> np.ndarray:
    """Per row of ``table`` the fold every aspect uses (-1 for rows rating no aspect):
    leave-one-group-out, or K folds stratified on the mean of the aspects' percentile
    ranks and grouped by ``config.group_by``."""
    values = table[targets].apply(pd.to_numeric, errors="coerce")
    rated = values.notna().any(axis=1).to_numpy()
    if config.group_by is not None and config.group_by not in table.columns:
        raise ValueError(f"--group-by column {config.group_by!r} is not in the feature table")
    groups = table[config.group_by].astype(str).to_numpy()[rated] if config.group_by else None
    if config.cv == "logo":
        if groups is None:
            raise ValueError("--cv logo needs --group-by")
        folds = cv.logo(groups)
    else:
        standing = values.rank(pct=True).mean(axis=1).to_numpy()[rated]
        folds = cv.kfold(
            cv.strata(standing, config.cv, "regression"), config.cv, config.seed, groups
        )
    fold_of = np.full(int(rated.sum()), -1)
    for number, (_, test_rows) in enumerate(folds):
        fold_of[test_rows] = number
    out = np.full(len(table), -1)
    out[rated] = fold_of
    return out


def train_bundle(
    table: pd.DataFrame,
    columns: list[str],
    config: TrainConfig,
    targets: list[str],
    overall: str | None = None,
) -> tuple[pd.DataFrame, dict[str, TrainResult], str]:
    """Train one predictor per target column of ``table`` (plus ``overall``: another
    column, or ``"mean"`` of the targets) on ``columns`` with ``config``'s settings and
    shared folds; returns the table (with the ``mean_of_aspects`` column when asked), the
    results by aspect name and a description of the folds.

    ValueError for fewer than two aspects, a missing or repeated target, a clash of aspect
    names, or what training raises.
    """
    targets = list(dict.fromkeys(targets))
    if len(targets) + (overall is not None) < 2:
        raise ValueError("a bundle needs at least two aspects (or one aspect and --overall)")
    missing = [t for t in targets if t not in table.columns]
    if overall not in (None, "mean") and overall not in table.columns:
        missing.append(overall)
    if missing:
        raise ValueError(
            f"target column(s) {', '.join(map(repr, missing))} not in the feature table"
        )
    learned = {aspect_name(t): t for t in targets}
    if len(learned) != len(targets):
        raise ValueError(f"the targets {targets} give clashing aspect names {list(learned)}")
    if overall is not None:
        if OVERALL in learned:
            raise ValueError(f"an aspect is already named {OVERALL!r}; drop --overall or rename it")
        if overall == "mean":
            if MEAN_OF_ASPECTS in table.columns:
                raise ValueError(f"the feature table already has a {MEAN_OF_ASPECTS!r} column")
            values = table[targets].apply(pd.to_numeric, errors="coerce")
            table = table.assign(**{MEAN_OF_ASPECTS: values.mean(axis=1, skipna=False)})
            learned[OVERALL] = MEAN_OF_ASPECTS
        else:
            learned[OVERALL] = overall
    fold_of = shared_folds(table, list(learned.values()), config)
    results = {}
    for aspect, target in learned.items():
        try:
            results[aspect] = train(
                table, columns, config.model_copy(update={"target": target}), fold_of=fold_of
            )
        except ValueError as exc:
            raise ValueError(f"aspect {aspect!r}: {exc}") from None
    grouped = f", grouped by {config.group_by}" if config.group_by else ""
    folds = (
        f"leave-one-{config.group_by}-out"
        if config.cv == "logo"
        else f"{config.cv} folds shared by every aspect, stratified on the mean of the "
        f"aspects' percentile ranks{grouped}"
    )
    return table, results, folds


def save_bundle(
    model_dir: str | Path,
    results: dict[str, TrainResult],
    table: pd.DataFrame,
    *,
    overall: str | None,
    folds: str,
    **artifact: Any,
) -> Path:
    """Write one predictor directory per aspect of ``results``, ``bundle.json`` and
    ``metrics.json`` into ``model_dir``, atomically replacing what was there;
    ``artifact`` are :func:`save_predictor`'s keyword arguments, the same for every aspect."""
    model_dir = Path(model_dir)
    info = BundleInfo(
        format_version=BUNDLE_FORMAT,
        qualitylab_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        aspects={aspect: result.config.target for aspect, result in results.items()},
        overall=overall,
        folds=folds,
    )
    metrics = {
        aspect: {
            "target": result.config.target,
            **result.metrics,
            "rows": result.rows,
            "evaluation": result.evaluation,
        }
        for aspect, result in results.items()
    }
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.save-", dir=model_dir.parent))
    try:
        for aspect, result in results.items():
            save_predictor(staging / aspect, result, table, **artifact)
        (staging / METRICS_FILE).write_text(
            json.dumps(to_json_ready(metrics), indent=2, allow_nan=False) + "\n"
        )
        (staging / BUNDLE_FILE).write_text(info.model_dump_json(indent=2) + "\n")
        swap_in_directory(staging, model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return model_dir


def load_bundle_info(model_dir: str | Path) -> BundleInfo:
    """The ``bundle.json`` of ``model_dir``; PredictorError when it is missing, invalid or
    of another format."""
    path = Path(model_dir) / BUNDLE_FILE
    if not path.is_file():
        raise PredictorError(f"{model_dir}: not a bundle of aspect predictors (no {BUNDLE_FILE})")
    try:
        info = BundleInfo.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise PredictorError(f"{path}: not a valid bundle description: {exc}") from None
    if info.format_version != BUNDLE_FORMAT:
        raise PredictorError(
            f"{path}: bundle format {info.format_version} written by qualitylab "
            f"{info.qualitylab_version}; this qualitylab ({__version__}) reads format "
            f"{BUNDLE_FORMAT}; train it again"
        )
    return info


def load_bundle(model_dir: str | Path) -> PredictorBundle:
    """Load a bundle directory; PredictorError when ``bundle.json`` is missing, invalid or
    of another format, or an aspect's predictor cannot be loaded."""
    model_dir = Path(model_dir)
    info = load_bundle_info(model_dir)
    path = model_dir / BUNDLE_FILE
    predictors = {aspect: load_predictor(model_dir / aspect) for aspect in info.aspects}
    digest = hashlib.sha256(path.read_bytes())
    for predictor in predictors.values():
        digest.update(predictor.id.encode())
    return PredictorBundle(predictors, info, digest.hexdigest()[:16])


def load_model(model_dir: str | Path) -> Predictor | PredictorBundle:
    """The predictor or the bundle of aspect predictors saved in ``model_dir``."""
    if (Path(model_dir) / BUNDLE_FILE).is_file():
        return load_bundle(model_dir)
    return load_predictor(model_dir)


def aspect_dir(model_dir: str | Path, target: str) -> Path:
    """``model_dir`` itself for a predictor; for a bundle, the directory of its aspect
    named ``target`` or trained on the column ``target`` (PredictorError listing the
    aspects when none is)."""
    model_dir = Path(model_dir)
    if not (model_dir / BUNDLE_FILE).is_file():
        return model_dir
    aspects = load_bundle_info(model_dir).aspects
    for aspect, column in aspects.items():
        if target in (aspect, column):
            return model_dir / aspect
    listed = ", ".join(f"{aspect} ({column})" for aspect, column in aspects.items())
    raise PredictorError(
        f"{model_dir}: a bundle without an aspect trained on {target!r}; its aspects: {listed}"
    )
