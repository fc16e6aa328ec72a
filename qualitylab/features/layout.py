"""The files of a run directory and how they are read back.

``DIR/`` of an extract-features or score run:

- ``run.json``: the manifest, its purpose (``features`` or ``score``), the feature store
  it used, column mapping, targets, sampling and every extractor's name, version, config
  and config hash of the latest run;
- ``index.parquet``: one row per manifest row (every column of the manifest, the targets
  as numbers) with the video's ``sha256`` (empty when the file could not be read), the
  facts about the file (``video_width``, ``video_height``, ``video_fps``,
  ``video_seconds``, ``video_frames``) and its warnings (e.g. a file that is cut short);
- ``failures.parquet``: ``id, video, sha256, extractor, error`` for every failure of the
  latest run (``extractor`` is ``video`` when the file itself could not be read);
- ``features.parquet``, ``features_nonagg.parquet``, ``features_combined.parquet``: the
  aggregated, non-aggregated and combined feature tables (see
  :mod:`qualitylab.features.tables`); a protocol without the non-aggregated set writes
  only ``features.parquet``.

The signals themselves live in the feature store (:mod:`qualitylab.features.store`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qualitylab.features.store import FeatureStore

if TYPE_CHECKING:  # pandas loads when a table is read: path checks stay quick
    import pandas as pd

RUN_FILE = "run.json"
INDEX_FILE = "index.parquet"
FAILURES_FILE = "failures.parquet"
TABLE_FILES = {
    "agg": "features.parquet",
    "nonagg": "features_nonagg.parquet",
    "combined": "features_combined.parquet",
}


def read_run_record(out_dir: str | Path) -> dict[str, Any]:
    """The ``run.json`` of a run directory; FileNotFoundError names the directory."""
    path = Path(out_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{out_dir}: no {RUN_FILE}; is this an extract-features --out directory?"
        )
    return json.loads(path.read_text())


def read_index(out_dir: str | Path) -> pd.DataFrame:
    """The ``index.parquet`` of a run directory."""
    import pandas as pd

    path = Path(out_dir) / INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir}: no {INDEX_FILE}; run extract-features first")
    return pd.read_parquet(path)


def run_store(run: Mapping[str, Any], out_dir: str | Path) -> FeatureStore:
    """The feature store a run wrote its signals to (runs made before the store was
    shared kept them in their own directory)."""
    return FeatureStore(run.get("store") or out_dir)


def read_feature_table(path: str | Path) -> tuple[pd.DataFrame, list[dict]]:
    """A feature table from a ``.parquet``/``.csv`` file or a run directory (its widest
    table, which holds every set type built), with the extractors of the run that made it
    when its ``run.json`` is there (else an empty list)."""
    path = Path(path)
    if path.is_dir():
        path = widest_table(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such feature table")
    import pandas as pd

    table = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    run = feature_run(path)
    return table, run["extractors"] if run else []


def widest_table(out_dir: str | Path) -> Path:
    """The table of a run directory that holds every feature of its run: the combined
    table when the run's protocol builds it, else the aggregated one."""
    combined = Path(out_dir) / TABLE_FILES["combined"]
    return combined if combined.is_file() else Path(out_dir) / TABLE_FILES["agg"]


def feature_run(path: str | Path) -> dict | None:
    """The run record of the run directory that ``path`` is (or holds the table
    ``path``), or None when there is none (e.g. a table copied elsewhere)."""
    path = Path(path)
    try:
        return read_run_record(path if path.is_dir() else path.parent)
    except FileNotFoundError:
        return None
