"""Feature tables built from the store: one row per video, features by set type.

Each table has every column of the manifest (``id, video, prompt``, the targets as
numbers, and the rest as they were: generator, category, rater columns...), the facts
about each video file (``video_width, video_height, video_fps, video_seconds,
video_frames``), then the features named ``extractor.signal.aggregation`` (aggregated set, ``agg``),
``extractor.signal.f000`` … ``f099`` (non-aggregated set, ``nonagg``), or both
(``combined``). A video enters the tables only when every extractor of the run has a
stored record for it; the others are listed in ``failures.parquet``.

Each video's row is cached in the store (:mod:`qualitylab.features.rowcache`), so writing
the tables again, or for another run over the same videos, reads only the records of
videos whose rows are not cached yet.

A video with scenes (recorded in the manifest's ``scene_starts`` or detected by the
``scenes`` extractor, see :mod:`qualitylab.features.scenes`) has its pair signals' values
at pairs that straddle a cut left out of its row.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qualitylab.atomic import write_parquet
from qualitylab.features import aggregate, scenes
from qualitylab.features.aggregate import feature_columns, feature_table
from qualitylab.features.classical import scenes as scene_detection
from qualitylab.features.layout import TABLE_FILES, read_index, read_run_record, run_store
from qualitylab.features.names import parse_column, signal_name
from qualitylab.features.protocols import run_protocol
from qualitylab.features.rowcache import RowCache, cache_key, row_key
from qualitylab.features.scenes import (
    SCENE_STARTS_COLUMN,
    Scenes,
    drop_cut_pairs,
    format_scene_starts,
    pair_signals,
    parse_scene_starts,
    scene_slices,
    video_scenes,
)
from qualitylab.features.store import FeatureStore, SignalRecord, run_entry_key

# Cached rows are valid for this exact feature code only: the aggregations and the
# scene masking.
_FEATURE_CODE = hashlib.sha256(
    "".join(inspect.getsource(module) for module in (aggregate, scenes, scene_detection)).encode()
).hexdigest()[:16]


def load_signals(out_dir: str | Path) -> tuple[pd.DataFrame, list[dict[str, np.ndarray]]]:
    """The index rows whose videos have every extractor's record, and their signals
    keyed ``extractor.signal``, in the run's extractor and signal order."""
    out_dir = Path(out_dir)
    run = read_run_record(out_dir)
    index = read_index(out_dir)
    store = run_store(run, out_dir)
    keep: list[int] = []
    rows: list[dict[str, np.ndarray]] = []
    for position, (sha256, prompt) in enumerate(zip(index["sha256"], index["prompt"])):
        signals = _video_signals(store, run["extractors"], sha256, prompt)
        if signals is not None:
            keep.append(position)
            rows.append(signals)
    return index.iloc[keep].reset_index(drop=True), rows


def _run_and_index_rows(out_dir: str | Path, video_id: str) -> tuple[dict, pd.DataFrame]:
    """The run record and the index rows of ``video_id``; KeyError when there are none."""
    index = read_index(out_dir)
    matches = index[index["id"] == video_id]
    if matches.empty:
        raise KeyError(f"no video with id {video_id!r} in {out_dir}")
    return read_run_record(out_dir), matches


def video_signals(out_dir: str | Path, video_id: str) -> tuple[pd.Series, dict[str, np.ndarray]]:
    """One video's index row and every stored signal of the run's extractors for it;
    KeyError when the id is not in the index."""
    run, matches = _run_and_index_rows(out_dir, video_id)
    row = matches.iloc[0]
    signals = _video_signals(
        run_store(run, out_dir), run["extractors"], row["sha256"], row["prompt"], partial=True
    )
    return row, signals or {}


def video_scene_list(out_dir: str | Path, video_id: str) -> Scenes | None:
    """One video's scenes in a run (recorded or detected), None when it has neither;
    KeyError when the id is not in the index."""
    run, matches = _run_and_index_rows(out_dir, video_id)
    row = matches.iloc[0]
    records = _video_records(
        run_store(run, out_dir), run["extractors"], row["sha256"], row["prompt"], partial=True
    )
    return video_scenes(records or {}, recorded_starts(matches)[0])


def left_out_pairs(out_dir: str | Path, video_id: str) -> dict[str, np.ndarray]:
    """Per pair signal of a run, the positions its features leave out for one video (the
    pairs that straddle a cut); empty for a video with one scene."""
    scenes = video_scene_list(out_dir, video_id)
    if scenes is None or not len(scenes.cuts):
        return {}
    return {name: scenes.cuts - 1 for name in pair_signals(read_run_record(out_dir)["extractors"])}


def table_cache_key(run: Mapping[str, Any]) -> str:
    """The row-cache key of a run's tables (see :mod:`qualitylab.features.rowcache`): its
    extractors, the feature code and its protocol's aggregations."""
    aggregations = ",".join(run_protocol(run).aggregations)
    return cache_key(run["extractors"], f"{_FEATURE_CODE}:{aggregations}")


def load_features(out_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The index rows whose videos have every extractor's record, and their combined
    feature set (which holds every set type's columns), row for row; only rows missing
    from the store's row cache are computed from the records."""
    out_dir = Path(out_dir)
    run = read_run_record(out_dir)
    index = read_index(out_dir)
    store = run_store(run, out_dir)
    reads_prompt = any(entry["reads_prompt"] for entry in run["extractors"])
    recorded = recorded_starts(index)
    keys = [
        row_key(sha256, prompt, reads_prompt, format_scene_starts(starts) if starts else "")
        if isinstance(sha256, str) and sha256
        else None
        for sha256, prompt, starts in zip(index["sha256"], index["prompt"], recorded)
    ]
    cache = RowCache(store.tables_dir, table_cache_key(run))
    cached = cache.read([key for key in keys if key is not None])
    new_keys: list[str] = []
    new_rows: list[dict[str, np.ndarray]] = []
    pairs = pair_signals(run["extractors"])
    for key, sha256, prompt, starts in zip(keys, index["sha256"], index["prompt"], recorded):
        if key is None or key in cached.index or key in new_keys:
            continue
        records = _video_records(store, run["extractors"], sha256, prompt)
        if records is not None:
            signals = _signals(records)
            new_keys.append(key)
            new_rows.append(drop_cut_pairs(signals, pairs, video_scenes(records, starts)))
    aggregations = run_protocol(run).aggregations
    computed = (
        feature_table(new_rows, "combined", index=new_keys, aggregations=aggregations)
        if new_rows
        else None
    )
    if computed is not None:
        cache.add(computed)
        cached = pd.concat([cached, computed]) if len(cached) else computed
    keep = [position for position, key in enumerate(keys) if key in cached.index]
    features = cached.loc[[keys[position] for position in keep]]
    return index.iloc[keep].reset_index(drop=True), features.reset_index(drop=True)


def build_table(out_dir: str | Path, set_type: str = "agg") -> pd.DataFrame:
    """The feature table of ``set_type`` (agg, nonagg or combined) for a features directory,
    with the aggregations of the run's protocol."""
    index, features = load_features(out_dir)
    aggregations = run_protocol(read_run_record(out_dir)).aggregations
    return _table(index, features, set_type, aggregations)


def write_tables(out_dir: str | Path) -> tuple[dict[str, Path], int]:
    """Write the tables of the run's protocol into ``out_dir`` (all three, or only the
    aggregated one) and remove any other set type's table left by an earlier run;
    returns their paths and the row count."""
    out_dir = Path(out_dir)
    protocol = run_protocol(read_run_record(out_dir))
    index, features = load_features(out_dir)
    paths = {}
    for set_type, name in TABLE_FILES.items():
        path = out_dir / name
        if set_type not in protocol.set_types:
            path.unlink(missing_ok=True)
            continue
        write_parquet(_table(index, features, set_type, protocol.aggregations), path)
        paths[set_type] = path
    return paths, len(index)


def _table(
    index: pd.DataFrame, features: pd.DataFrame, set_type: str, aggregations: tuple[str, ...]
) -> pd.DataFrame:
    """The manifest's columns and facts beside the ``set_type`` columns of ``features``."""
    described = index.drop(columns=["sha256"])
    parsed = [parse_column(column) for column in features.columns]
    # Every signal has its first value in the combined set.
    prefixes = [name.signal_name for name in parsed if name is not None and name.position == 0]
    chosen = feature_columns(prefixes, set_type, aggregations=aggregations)
    return pd.concat([described, features[chosen]], axis=1)


def recorded_starts(index: pd.DataFrame) -> list[tuple[int, ...] | None]:
    """Per index row, the scene starts its manifest records (None without); ValueError
    names the row with an unreadable value."""
    if SCENE_STARTS_COLUMN not in index.columns:
        return [None] * len(index)
    starts = []
    for identifier, value in zip(index["id"], index[SCENE_STARTS_COLUMN]):
        try:
            starts.append(parse_scene_starts(value))
        except ValueError as exc:
            raise ValueError(f"video {identifier!r}: {exc}") from None
    return starts


def scene_features(
    out_dir: str | Path,
) -> tuple[list[tuple[str, Scenes]], pd.DataFrame]:
    """Every video of a run that has more than one scene, with its scenes, and one row
    of combined features per scene (computed from the scene's frames and pairs alone, in
    the same order), with the run's protocol aggregations."""
    out_dir = Path(out_dir)
    run = read_run_record(out_dir)
    index = read_index(out_dir)
    store = run_store(run, out_dir)
    pairs = pair_signals(run["extractors"])
    videos: list[tuple[str, Scenes]] = []
    rows: list[dict[str, np.ndarray]] = []
    for identifier, sha256, prompt, starts in zip(
        index["id"], index["sha256"], index["prompt"], recorded_starts(index)
    ):
        records = _video_records(store, run["extractors"], sha256, prompt)
        found = video_scenes(records, starts) if records is not None else None
        if found is None or len(found.starts) < 2:
            continue
        videos.append((identifier, found))
        rows += scene_slices(_signals(records), pairs, found)
    aggregations = run_protocol(run).aggregations
    table = feature_table(rows, "combined", aggregations=aggregations) if rows else pd.DataFrame()
    return videos, table


def _video_records(
    store: FeatureStore,
    extractors: list[dict],
    sha256: str | None,
    prompt: str,
    partial: bool = False,
) -> dict[str, SignalRecord] | None:
    """The video's records keyed by extractor name; None when a record is missing, unless
    ``partial``, which returns the records there are."""
    if not isinstance(sha256, str) or not sha256:  # unreadable video: no hash (NaN in pandas)
        return None
    records: dict[str, SignalRecord] = {}
    for entry in extractors:
        key = run_entry_key(entry, sha256, prompt)
        if not store.has(key):
            if partial:
                continue
            return None
        records[entry["name"]] = store.get(key)
    return records


def _signals(records: Mapping[str, SignalRecord]) -> dict[str, np.ndarray]:
    """The records' signals keyed ``extractor.signal``."""
    return {
        signal_name(extractor, name): values
        for extractor, record in records.items()
        for name, values in record.signals.items()
    }


def _video_signals(
    store: FeatureStore,
    extractors: list[dict],
    sha256: str | None,
    prompt: str,
    partial: bool = False,
) -> dict[str, np.ndarray] | None:
    """The video's signals keyed ``extractor.signal``; None when a record is missing,
    unless ``partial``, which returns the records there are."""
    records = _video_records(store, extractors, sha256, prompt, partial)
    return None if records is None else _signals(records)
