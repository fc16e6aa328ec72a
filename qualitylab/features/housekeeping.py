"""What a feature store holds, and removing what no run needs any more.

A record is *needed* when a live run references it: a run directory registered in the
store (``runs/``, written by every extraction) that still exists, still uses this store,
and whose index lists the video, for one of its extractors. A run whose directory is gone
protects nothing. Records written recently are kept whatever the runs say, since a run in
progress has not written its index yet.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qualitylab.features.layout import INDEX_FILE, read_run_record
from qualitylab.features.store import FeatureStore, StoreKey, run_entry_key
from qualitylab.features.tables import table_cache_key

# Records younger than this are never collected: a run in progress may need them.
DEFAULT_MIN_AGE_S = 3600.0


@dataclass(frozen=True)
class GroupStats:
    """The records of one extractor version and config: how many, and their bytes."""

    extractor: str
    version: str
    config_hash: str
    records: int
    bytes: int


@dataclass
class StoreStats:
    """What a store holds: records by group, videos known, bytes, and the runs it has seen."""

    root: Path
    groups: list[GroupStats] = field(default_factory=list)
    videos: int = 0
    bytes: int = 0
    row_cache_bytes: int = 0
    live_runs: list[Path] = field(default_factory=list)
    gone_runs: list[Path] = field(default_factory=list)


@dataclass
class Garbage:
    """What no live run needs: record files, video facts and row caches, with their bytes."""

    records: list[Path] = field(default_factory=list)
    facts: list[Path] = field(default_factory=list)
    row_caches: list[Path] = field(default_factory=list)
    gone_runs: list[Path] = field(default_factory=list)
    kept_young: int = 0
    bytes: int = 0
    deleted: bool = False


def store_stats(root: str | Path) -> StoreStats:
    """Count what the store at ``root`` holds."""
    store = FeatureStore(root)
    stats = StoreStats(Path(root))
    sizes: dict[tuple[str, str, str], list[int]] = {}
    for path in store.record_paths():
        version, _, config_hash = path.parent.parent.name.rpartition("-")
        group = sizes.setdefault((path.parent.parent.parent.name, version, config_hash), [0, 0])
        group[0] += 1
        group[1] += path.stat().st_size
    stats.groups = [GroupStats(*key, *values) for key, values in sorted(sizes.items())]
    stats.videos = sum(1 for _ in _facts_files(store))
    stats.row_cache_bytes = _tree_bytes(store.tables_dir)
    stats.bytes = _tree_bytes(store.root)
    for run_dir in store.runs():
        (stats.live_runs if _uses_store(run_dir, store) else stats.gone_runs).append(run_dir)
    return stats


def collect_garbage(
    root: str | Path, delete: bool = False, min_age_s: float = DEFAULT_MIN_AGE_S
) -> Garbage:
    """Find (and with ``delete``, remove) what no live run of the store at ``root`` needs:
    records, facts of videos no live run lists, row caches of tables no live run builds,
    and the registrations of runs whose directory is gone. Records modified less than
    ``min_age_s`` seconds ago are kept."""
    store = FeatureStore(root)
    garbage = Garbage()
    needed: set[Path] = set()
    videos: set[str] = set()
    caches: set[str] = set()
    for run_dir in store.runs():
        if not _uses_store(run_dir, store):
            garbage.gone_runs.append(run_dir)
            continue
        run = read_run_record(run_dir)
        caches.add(table_cache_key(run))
        for key in _run_keys(run_dir, run):
            needed.add(store.path(key))
            videos.add(key.sha256)
    now = time.time()
    for path in store.record_paths():
        if path in needed:
            continue
        if now - path.stat().st_mtime < min_age_s:
            garbage.kept_young += 1
            continue
        garbage.records.append(path)
    garbage.facts = [path for path in _facts_files(store) if path.stem not in videos]
    tables = store.tables_dir
    if tables.is_dir():
        garbage.row_caches = sorted(p for p in tables.iterdir() if p.name not in caches)
    garbage.bytes = sum(p.stat().st_size for p in garbage.records + garbage.facts) + sum(
        _tree_bytes(p) for p in garbage.row_caches
    )
    if delete:
        for path in garbage.records + garbage.facts:
            path.unlink(missing_ok=True)
        for directory in garbage.row_caches:
            shutil.rmtree(directory, ignore_errors=True)
        for run_dir in garbage.gone_runs:
            store.forget_run(run_dir)
        garbage.deleted = True
    return garbage


def _run_keys(run_dir: Path, run: dict) -> list[StoreKey]:
    """The store keys a run's index references (none before its index is written)."""
    if not (run_dir / INDEX_FILE).is_file():
        return []
    index = pd.read_parquet(run_dir / INDEX_FILE, columns=["sha256", "prompt"])
    return [
        run_entry_key(entry, sha256, prompt)
        for sha256, prompt in zip(index["sha256"], index["prompt"])
        if isinstance(sha256, str) and sha256
        for entry in run["extractors"]
    ]


def _uses_store(run_dir: Path, store: FeatureStore) -> bool:
    """True when ``run_dir`` still holds a run whose signals are in ``store``."""
    try:
        run = read_run_record(run_dir)
    except (FileNotFoundError, ValueError):
        return False
    used = run.get("store")
    return bool(used) and Path(used).resolve() == store.root.resolve()


def _facts_files(store: FeatureStore) -> Iterator[Path]:
    if store.videos_dir.is_dir():
        yield from store.videos_dir.glob("*/*.json")


def _tree_bytes(directory: Path) -> int:
    if not directory.is_dir():
        return 0
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
