"""The predictor artifact: a fitted model saved with skops plus its description.

``MODEL_DIR/`` holds ``model.skops`` (the imputer + Random Forest pipeline, saved with
skops, never pickle), ``predictor.json`` (the feature schema in order, target, task,
threshold, parameters, CV results, dataset hash, extractor versions, package versions,
seed), ``metrics.json`` (the CV metrics alone) and ``oof.csv`` (out-of-fold predictions).
``predictor.json`` also records the extractors and frame sampling of the features it
was trained on and where they were read from (``features_source``).
Loading checks the format version, and predicting checks that every feature of the
schema is offered; the columns are then taken in the schema's order.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio

from qualitylab import __version__
from qualitylab.errors import QualitylabError
from qualitylab.learn.metrics import to_json_ready
from qualitylab.learn.train import TrainResult

FORMAT_VERSION = 1
MODEL_FILE = "model.skops"
INFO_FILE = "predictor.json"
METRICS_FILE = "metrics.json"
OOF_FILE = "oof.csv"
_PACKAGES = ("scikit-learn", "numpy", "optuna", "skops", "pandas")
# Types a predictor file may contain beyond skops' defaults (all from scikit-learn/numpy).
_TRUSTED_PREFIXES = ("sklearn.", "numpy.")


class PredictorError(QualitylabError):
    """A model directory that cannot be used: missing, from another version, or a
    feature table that does not match its schema."""


@dataclass
class Predictor:
    """A loaded predictor: the fitted pipeline and its ``predictor.json``."""

    model: Any
    info: dict[str, Any]

    @property
    def columns(self) -> list[str]:
        """The feature schema: the columns the model reads, in order."""
        return list(self.info["features"])

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

    def predict(self, table: pd.DataFrame) -> pd.DataFrame:
        """``predicted_score`` per row (and ``probability`` for classification), with the
        table's ``id``, ``video`` and ``prompt`` columns when present."""
        self.check_schema(table)
        X = table[self.columns].to_numpy(np.float64)
        out = table[[c for c in ("id", "video", "prompt") if c in table.columns]].copy()
        out["predicted_score"] = self.model.predict(X)
        if self.info["task"] == "classification":
            classes = list(self.model.classes_)
            out["probability"] = self.model.predict_proba(X)[:, classes.index(1)]
        return out


def save_predictor(
    model_dir: str | Path,
    result: TrainResult,
    table: pd.DataFrame,
    *,
    space: str,
    extractors: list[dict[str, Any]] | None = None,
    sampling: dict[str, Any] | None = None,
    source: str | Path | None = None,
) -> Path:
    """Write the artifact of a trained ``result`` (which must hold a final model).

    ``extractors`` and ``sampling`` are those of the extraction that made ``table`` (its
    run record), so that new videos are scored with the same features; ``source`` is
    where the table was read from, for explanations and reports.
    """
    if result.model is None:
        raise ValueError("the result holds no final model (trained with fit_final=False)")
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    sio.dump(result.model, model_dir / MODEL_FILE)
    info = {
        "format_version": FORMAT_VERSION,
        "qualitylab_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": result.config.target,
        "task": result.config.task,
        "threshold": result.config.threshold if result.config.task == "classification" else None,
        "space": space,
        "features": result.columns,
        "dropped_features": result.dropped,
        "params": result.params,
        "config": result.config.model_dump(),
        "seed": result.config.seed,
        "rows": result.rows,
        "rows_without_target": result.rows_without_target,
        "dataset_sha256": dataset_hash(table, [*result.columns, result.config.target]),
        "extractors": extractors or [],
        "sampling": sampling,
        "features_source": str(Path(source).resolve()) if source is not None else None,
        "packages": {"python": platform.python_version(), "qualitylab": __version__}
        | {name: version(name) for name in _PACKAGES},
        "cv": result.metrics,
    }
    _write_json(model_dir / INFO_FILE, info)
    _write_json(model_dir / METRICS_FILE, result.metrics)
    result.oof.to_csv(model_dir / OOF_FILE, index=False)
    return model_dir


def load_predictor(model_dir: str | Path) -> Predictor:
    """Load a model directory; PredictorError when it is missing, incomplete or of another
    format version, or holds types other than scikit-learn's and numpy's."""
    model_dir = Path(model_dir)
    info_path, model_path = model_dir / INFO_FILE, model_dir / MODEL_FILE
    if not info_path.is_file() or not model_path.is_file():
        raise PredictorError(
            f"{model_dir}: not a model directory (needs {INFO_FILE} and {MODEL_FILE})"
        )
    info = json.loads(info_path.read_text())
    if info.get("format_version") != FORMAT_VERSION:
        raise PredictorError(
            f"{model_dir}: predictor format {info.get('format_version')!r} written by qualitylab "
            f"{info.get('qualitylab_version')}, this qualitylab ({__version__}) reads format "
            f"{FORMAT_VERSION}; train it again"
        )
    untrusted = sio.get_untrusted_types(file=model_path)
    foreign = [name for name in untrusted if not name.startswith(_TRUSTED_PREFIXES)]
    if foreign:
        raise PredictorError(f"{model_path}: refuses to load unexpected types {foreign}")
    return Predictor(sio.load(model_path, trusted=untrusted), info)


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
