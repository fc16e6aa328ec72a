"""Training on several rated sets at once (``qualitylab train TABLE_A TABLE_B ...``).

Sets differ in rating scale (1-5, 1-10, 0-100) and rater pool, so a rating is only
comparable with ratings of the same set. Each set's target is therefore normalised within
the set before the tables are stacked:

- ``rank`` (default): the rating's mid-rank within its set divided by the set's row count,
  ``(rank - 0.5) / n`` in (0, 1) (ties share their average rank): a video's standing
  among the set's videos, whatever the scale.
- ``zscore``: ``(rating - mean) / std`` within the set (population std; a constant set
  gets 0).

The stacked table has a ``dataset`` column (each set's name: its file or directory name,
made unique) usable as a CV group (``--cv logo --group-by dataset``). Only the feature
columns every set has are kept; the sets must come from the same extractors and settings,
checked when their run records are there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd

from qualitylab.learn.spaces import feature_columns

Normalisation = Literal["rank", "zscore"]
DATASET_COLUMN = "dataset"


def normalise(values: pd.Series, method: Normalisation) -> pd.Series:
    """``values`` normalised within themselves by ``method`` (NaN stays NaN)."""
    numeric = pd.to_numeric(values, errors="coerce")
    if method == "rank":
        return (numeric.rank(method="average") - 0.5) / numeric.notna().sum()
    if method == "zscore":
        spread = numeric.std(ddof=0)
        centred = numeric - numeric.mean()
        return centred / spread if spread > 0 else centred * 0.0
    raise ValueError(f"unknown normalisation {method!r}; expected rank or zscore")


def combine(
    sets: list[tuple[str, pd.DataFrame, list[dict[str, Any]]]],
    target: str,
    method: Normalisation = "rank",
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str]]:
    """Stack named feature tables (name, table, extractors) with ``target`` normalised per
    set; returns the table, one record per set (name, rows, the target's range) and notes.

    ValueError when a set lacks the target or the ``dataset`` column would clash, when the
    sets share no feature column, or when their extractor settings differ.
    """
    names = _unique([name for name, _, _ in sets])
    notes: list[str] = []
    recorded = [(name, extractors) for name, (_, _, extractors) in zip(names, sets) if extractors]
    if len({repr(extractors) for _, extractors in recorded}) > 1:
        raise ValueError(
            "the feature tables come from different extractors or settings ("
            + ", ".join(name for name, _ in recorded)
            + "); extract every set with the same ones"
        )
    shared = None
    for name, (_, table, _) in zip(names, sets):
        if target not in table:
            raise ValueError(f"{name}: no target column {target!r}")
        if DATASET_COLUMN in table:
            raise ValueError(f"{name}: already has a {DATASET_COLUMN!r} column")
        columns = feature_columns(table.columns)
        shared = columns if shared is None else [c for c in shared if c in set(columns)]
    if not shared:
        raise ValueError("the feature tables share no feature column")
    parts, records = [], []
    for name, (_, table, _) in zip(names, sets):
        dropped = len(feature_columns(table.columns)) - len(shared)
        if dropped:
            notes.append(f"{name}: {dropped} feature columns not in every set left out")
        rated = pd.to_numeric(table[target], errors="coerce")
        descriptive = [c for c in table.columns if c not in set(feature_columns(table.columns))]
        part = table[descriptive + shared].copy()
        part[target] = normalise(rated, method)
        part.insert(0, DATASET_COLUMN, name)
        if "id" in part:
            part["id"] = name + "/" + part["id"].astype(str)
        parts.append(part)
        records.append(
            {
                "name": name,
                "rows": len(table),
                "rated": int(rated.notna().sum()),
                "target_min": float(rated.min()),
                "target_max": float(rated.max()),
            }
        )
    combined = pd.concat(parts, ignore_index=True)
    return combined, records, notes


def _unique(names: list[str]) -> list[str]:
    """``names`` with repeats numbered (``a``, ``a_2``...)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def dataset_name(path: Any) -> str:
    """A set's name from its path: the directory's name, or the file's parent directory
    name for a table file such as ``features.parquet`` inside a run directory."""
    path = Path(path)
    if path.is_dir():
        return path.name
    return path.parent.name if path.stem.startswith("features") else path.stem
