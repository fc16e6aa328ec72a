"""The predictor artifact: a fitted model saved with skops plus its typed description.

``MODEL_DIR/`` holds ``model.skops`` (the fitted scikit-learn pipeline of the learner,
saved with skops, never pickle), ``predictor.json`` (:class:`PredictorInfo`: the feature
schema in order, target, task, threshold, learner, tuning, parameters, CV results and the
evaluation beyond them, training ranges for out-of-distribution checks, dataset hash,
extractors and frame sampling of the features, package versions, seed),
``metrics.json`` (the CV metrics, plus ``rows``, ``groups`` and ``evaluation``) and
``oof.csv`` (out-of-fold predictions with their fold and group).

The predictor owns what depends on its learner: the feature matrix in schema order, the
positive class, the uncertainty (the standard deviation of a forest's trees' predictions;
NaN for the other learners, which have no ensemble of equals to disagree) and SHAP
(TreeExplainer for rf and hgb, LinearExplainer for ridge, pairwise and vote; see
:mod:`qualitylab.learn.explain`).

Saving is atomic: the files are written into a temporary directory beside ``MODEL_DIR``
which then replaces it, so a failed save leaves the old artifact whole. Loading checks the
format version (format 1, written before learners other than rf existed, is read as an rf
predictor tuned by the thesis protocol), and predicting checks that every feature of the
schema is offered; the columns are then taken in the schema's order.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from qualitylab import __version__
from qualitylab.atomic import swap_in_directory
from qualitylab.errors import QualitylabError
from qualitylab.learn.learners import TREE_LEARNERS, LearnerName, positive_probability
from qualitylab.learn.metrics import to_json_ready
from qualitylab.learn.ood import TrainingRanges, flags, training_ranges
from qualitylab.learn.train import Task, TrainConfig, TrainResult

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
MODEL_FILE = "model.skops"
INFO_FILE = "predictor.json"
METRICS_FILE = "metrics.json"
OOF_FILE = "oof.csv"
BUNDLE_FILE = "bundle.json"  # marks a bundle of per-aspect predictors (learn/bundle.py)
_PACKAGES = ("scikit-learn", "numpy", "optuna", "skops", "pandas")
# Types a predictor file may contain beyond skops' defaults: scikit-learn's and numpy's,
# and qualitylab's own estimators by exact name.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.")
_TRUSTED_TYPES = (
    "qualitylab.learn.pairwise.PairwiseRanker",
    "qualitylab.learn.unitweight.UnitWeightedRanker",
)
_FORMAT_1_TUNING = "thesis: Optuna on one 80/20 hold-out of all rows (format 1 predictor)"


class PredictorError(QualitylabError):
    """A model directory that cannot be used: missing, from another version, or a
    feature table that does not match its schema."""


class PredictorInfo(BaseModel):
    """``predictor.json``: what a predictor is, how it was trained and evaluated."""

    model_config = ConfigDict(extra="forbid")

    format_version: int
    qualitylab_version: str
    created: str
    target: str
    task: Task
    threshold: float | None
    learner: LearnerName = "rf"
    tuning: str = _FORMAT_1_TUNING
    space: str
    features: list[str]
    dropped_features: list[str] = []
    params: dict[str, Any]
    fold_params: list[dict[str, Any]] = []
    config: TrainConfig
    seed: int
    rows: int
    rows_without_target: int
    dataset_sha256: str
    extractors: list[dict[str, Any]] = []
    sampling: dict[str, Any] | None = None
    protocol: dict[str, Any] | None = None
    features_source: str | None = None
    datasets: list[dict[str, Any]] = []
    target_normalisation: str | None = None
    packages: dict[str, str]
    cv: dict[str, dict[str, Any]]
    evaluation: dict[str, Any] = {}
    training_ranges: TrainingRanges = TrainingRanges()

    @model_validator(mode="before")
    @classmethod
    def _format_1(cls, data: Any) -> Any:
        """Format 1 files predate learners and tuning modes: an rf tuned the thesis way."""
        if isinstance(data, dict) and data.get("format_version") == 1:
            config = {"tuning": "thesis", **data.get("config", {})}
            data = {**data, "config": config}
        return data

    def to_json(self) -> str:
        """The JSON text of ``predictor.json`` (NaN written as null)."""
        payload = to_json_ready(self.model_dump(mode="json"))
        return json.dumps(payload, indent=2, allow_nan=False) + "\n"


@dataclass
class Predictor:
    """A loaded predictor: the fitted pipeline, its ``predictor.json`` and its id (the
    first 16 hex digits of the SHA-256 of its two files)."""

    model: Any
    info: PredictorInfo
    id: str = ""

    @classmethod
    def load(cls, model_dir: str | Path) -> Predictor:
        """The predictor saved in ``model_dir`` (see :func:`load_predictor`)."""
        return load_predictor(model_dir)

    @property
    def columns(self) -> list[str]:
        """The feature schema: the columns the model reads, in order."""
        return list(self.info.features)

    def check_schema(self, table: pd.DataFrame) -> None:
        """Raise PredictorError naming the missing features when ``table`` lacks any."""
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            raise PredictorError(
                f"the features offered do not match the predictor's schema: {len(missing)} of "
                f"its {len(self.columns)} features are missing ({shown}); extract them with "
                "the same extractors and settings as the training table"
            )

    def matrix(self, table: pd.DataFrame) -> np.ndarray:
        """The schema's columns of ``table`` as a float matrix (non-numbers as NaN)."""
        self.check_schema(table)
        return table[self.columns].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)

    def transformed(self, table: pd.DataFrame) -> np.ndarray:
        """The matrix as the final estimator sees it (imputed, rank-normalised...)."""
        return self.model[:-1].transform(self.matrix(table))

    @property
    def estimator(self) -> Any:
        """The pipeline's final estimator (forest, boosting, linear model or ranker)."""
        return self.model[-1]

    def positive_column(self) -> int:
        """The column of class 1 in the classifier's probabilities."""
        return list(self.estimator.classes_).index(1)

    def score(self, table: pd.DataFrame) -> np.ndarray:
        """Per row the predicted score, or the probability of class 1 for a classifier."""
        X = self.matrix(table)
        if self.info.task == "classification":
            return positive_probability(self.model, X)
        return self.model.predict(X)

    def predict(self, table: pd.DataFrame) -> pd.DataFrame:
        """``predicted_score`` per row (and ``probability`` for classification), with the
        table's ``id``, ``video`` and ``prompt`` columns when present."""
        X = self.matrix(table)
        out = table[[c for c in ("id", "video", "prompt") if c in table.columns]].copy()
        out["predicted_score"] = self.model.predict(X)
        if self.info.task == "classification":
            out["probability"] = positive_probability(self.model, X)
        return out

    def uncertainty(self, table: pd.DataFrame) -> np.ndarray:
        """Per row, the standard deviation across a forest's trees of their prediction (or
        their probability of class 1); NaN for the other learners."""
        if self.info.learner != "rf":
            return np.full(len(table), np.nan)
        X, forest = self.transformed(table), self.estimator
        if self.info.task == "classification":
            positive = self.positive_column()
            per_tree = np.stack([tree.predict_proba(X)[:, positive] for tree in forest.estimators_])
        else:
            per_tree = np.stack([tree.predict(X) for tree in forest.estimators_])
        return per_tree.std(axis=0)

    def shap_values(self, table: pd.DataFrame) -> tuple[np.ndarray, float, str]:
        """SHAP values of every row (rows × schema), the base value and what they add up
        to: TreeExplainer for forests and boosting, LinearExplainer for linear learners
        (against the training median, where every rank-normalised feature is 0)."""
        import shap

        X = self.transformed(table)
        estimator, classification = self.estimator, self.info.task == "classification"
        if self.info.learner in TREE_LEARNERS:
            explainer = shap.TreeExplainer(estimator)
            values = np.asarray(explainer.shap_values(X, check_additivity=False))
            base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
        else:
            coef = np.atleast_2d(estimator.coef_)[0]
            intercept = float(np.atleast_1d(estimator.intercept_)[0])
            # one background row at the training median: rank-normalised features are 0 there
            explainer = shap.LinearExplainer((coef, intercept), np.zeros((1, len(coef))))
            values = np.asarray(explainer.shap_values(X))
            base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
        if values.ndim == 3:  # one slice per class
            return (
                values[..., self.positive_column()],
                float(base[self.positive_column()]),
                "probability of class 1",
            )
        if classification:
            return values, float(base[-1]), "log-odds of class 1"
        return values, float(base[0]), f"predicted {self.info.target}"

    def out_of_distribution(self, table: pd.DataFrame) -> list[str]:
        """Per row, what lies outside the training ranges ("" when nothing does)."""
        return flags(table, self.info.training_ranges)


def save_predictor(
    model_dir: str | Path,
    result: TrainResult,
    table: pd.DataFrame,
    *,
    space: str,
    extractors: list[dict[str, Any]] | None = None,
    sampling: dict[str, Any] | None = None,
    protocol: dict[str, Any] | None = None,
    source: str | Path | None = None,
    datasets: list[dict[str, Any]] | None = None,
    target_normalisation: str | None = None,
) -> Path:
    """Write the artifact of a trained ``result`` (which must hold a final model),
    atomically replacing any artifact already in ``model_dir``.

    ``extractors``, ``sampling`` and ``protocol`` are those of the extraction that made
    ``table`` (its run record), so that new videos are scored with the same features; ``source`` is
    where the table was read from, for explanations and reports. ``datasets`` and
    ``target_normalisation`` describe a table stacked from several rated sets.
    """
    if result.model is None:
        raise ValueError("the result holds no final model (trained with fit_final=False)")
    model_dir = Path(model_dir)
    config = result.config
    info = PredictorInfo(
        format_version=FORMAT_VERSION,
        qualitylab_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        target=config.target,
        task=config.task,
        threshold=config.threshold if config.task == "classification" else None,
        learner=config.learner,
        tuning=result.tuning,
        space=space,
        features=result.columns,
        dropped_features=result.dropped,
        params=result.params,
        fold_params=result.fold_params,
        config=config,
        seed=config.seed,
        rows=result.rows,
        rows_without_target=result.rows_without_target,
        dataset_sha256=dataset_hash(table, [*result.columns, config.target]),
        extractors=extractors or [],
        sampling=sampling,
        protocol=protocol,
        features_source=str(Path(source).resolve()) if source is not None else None,
        datasets=datasets or [],
        target_normalisation=target_normalisation,
        packages={"python": platform.python_version(), "qualitylab": __version__}
        | {name: version(name) for name in _PACKAGES},
        cv=to_json_ready(result.metrics),
        evaluation=to_json_ready(result.evaluation),
        training_ranges=training_ranges(table, result.columns),
    )
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.save-", dir=model_dir.parent))
    try:
        sio.dump(result.model, staging / MODEL_FILE)
        (staging / INFO_FILE).write_text(info.to_json())
        metrics = {
            **result.metrics,
            "rows": result.rows,
            "groups": result.evaluation.get("groups"),
            "evaluation": result.evaluation,
        }
        _write_json(staging / METRICS_FILE, metrics)
        result.oof.to_csv(staging / OOF_FILE, index=False)
        swap_in_directory(staging, model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return model_dir


def read_info(model_dir: str | Path) -> PredictorInfo:
    """The ``predictor.json`` of a model directory; PredictorError when it is missing, of
    an unreadable format version, or not a valid description."""
    model_dir = Path(model_dir)
    info_path, model_path = model_dir / INFO_FILE, model_dir / MODEL_FILE
    if (model_dir / BUNDLE_FILE).is_file():
        aspects = json.loads((model_dir / BUNDLE_FILE).read_text()).get("aspects", {})
        raise PredictorError(
            f"{model_dir}: a bundle of one predictor per aspect ({', '.join(aspects)}), not "
            "one predictor; load it with qualitylab.load_model or PredictorBundle.load, or "
            f"load one aspect's directory ({model_dir / next(iter(aspects), 'ASPECT')})"
        )
    if not info_path.is_file() or not model_path.is_file():
        raise PredictorError(
            f"{model_dir}: not a model directory (needs {INFO_FILE} and {MODEL_FILE})"
        )
    raw = json.loads(info_path.read_text())
    if raw.get("format_version") not in READABLE_FORMATS:
        raise PredictorError(
            f"{model_dir}: predictor format {raw.get('format_version')!r} written by qualitylab "
            f"{raw.get('qualitylab_version')}, this qualitylab ({__version__}) reads formats "
            f"{list(READABLE_FORMATS)}; train it again"
        )
    try:
        return PredictorInfo.model_validate(raw)
    except ValidationError as exc:
        raise PredictorError(f"{info_path}: not a valid predictor description: {exc}") from None


def load_predictor(model_dir: str | Path) -> Predictor:
    """Load a model directory; PredictorError when it is missing, incomplete or of another
    format version, or holds types other than scikit-learn's, numpy's and qualitylab's
    own estimators."""
    model_dir = Path(model_dir)
    info = read_info(model_dir)
    model_path = model_dir / MODEL_FILE
    untrusted = sio.get_untrusted_types(file=model_path)
    foreign = [
        name
        for name in untrusted
        if not name.startswith(_TRUSTED_PREFIXES) and name not in _TRUSTED_TYPES
    ]
    if foreign:
        raise PredictorError(f"{model_path}: refuses to load unexpected types {foreign}")
    return Predictor(sio.load(model_path, trusted=untrusted), info, artifact_id(model_dir))


def artifact_id(model_dir: str | Path) -> str:
    """The id of a saved predictor: a hash of its model file and ``predictor.json``, as
    the scores it makes record in their ``predictor_id`` column."""
    model_dir = Path(model_dir)
    digest = hashlib.sha256((model_dir / MODEL_FILE).read_bytes())
    digest.update((model_dir / INFO_FILE).read_bytes())
    return digest.hexdigest()[:16]


def dataset_hash(table: pd.DataFrame, columns: list[str]) -> str:
    """SHA-256 of the values of ``columns`` (in order) and the row ids of ``table``."""
    digest = hashlib.sha256()
    digest.update(json.dumps(columns).encode())
    if "id" in table.columns:
        digest.update("\n".join(map(str, table["id"])).encode())
    values = table[columns].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(to_json_ready(payload), indent=2, allow_nan=False) + "\n")
