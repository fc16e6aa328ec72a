"""The feature store: raw signals on disk, one Parquet file per video × extractor.

One store serves every run (default ``$QUALITYLAB_HOME/store``, see
:func:`qualitylab.config.store_dir`): a video's signals are computed once, whichever run
asks first, and a run's own directory holds only its index and tables. Besides the
signals, the store keeps what was learned about each video file once (its size, frame
rate, length and any sign of damage) under ``videos/<sha[:2]>/<sha256>.json``.

A record is keyed by ``(video sha256, extractor name, extractor version, config hash)``
(the config hash covers the frame sampling too) and lives at
``signals/<extractor>/<version>-<config hash>/<sha[:2]>/<sha256>.parquet``. Records are
written to a temporary file and renamed into place, so a record is either complete or
absent: an interrupted run leaves only complete records (and stray temporary files, which
the next run removes) and resumes where it stopped. A changed extractor version or config
writes beside the old records and never touches them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

_SIGNAL_PREFIX = "signal."
_TEMP_MARK = ".tmp-"


@dataclass(frozen=True)
class StoreKey:
    """What identifies a record: the video's content and the exact extractor settings."""

    sha256: str
    extractor: str
    version: str
    config_hash: str


def record_key(
    sha256: str, extractor: str, version: str, config_hash: str, prompt: str | None = None
) -> StoreKey:
    """The key of a record; for extractors that read the prompt, pass it: it is folded
    into the config hash, since their signals depend on it."""
    if prompt is not None:
        config_hash = hashlib.sha256(f"{config_hash}\n{prompt}".encode()).hexdigest()[:16]
    return StoreKey(sha256, extractor, version, config_hash)


@dataclass
class SignalRecord:
    """The raw output of one extractor on one video, with the frames it was computed on."""

    signals: dict[str, np.ndarray]
    frame_indices: np.ndarray
    timestamps: np.ndarray
    config: Mapping[str, Any] = field(default_factory=dict)
    sampling: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreGroup:
    """The records of one extractor version and config: how many videos they cover."""

    extractor: str
    version: str
    config_hash: str
    videos: int


class FeatureStore:
    """Signals on disk under ``root/signals``, read and written by :class:`StoreKey`;
    facts about each video file under ``root/videos``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.signals_dir = self.root / "signals"
        self.videos_dir = self.root / "videos"

    def video_facts(self, sha256: str) -> dict[str, Any] | None:
        """What was stored about the video file with ``sha256``; None when nothing was."""
        path = self._facts_path(sha256)
        return json.loads(path.read_text()) if path.is_file() else None

    def put_video_facts(self, sha256: str, facts: Mapping[str, Any]) -> None:
        """Store facts about a video file (JSON-ready values), atomically."""
        path = self._facts_path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}{_TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            temporary.write_text(json.dumps(dict(facts), sort_keys=True))
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def _facts_path(self, sha256: str) -> Path:
        return self.videos_dir / sha256[:2] / f"{sha256}.json"

    def path(self, key: StoreKey) -> Path:
        """Where the record of ``key`` lives (whether or not it exists)."""
        return (
            self.signals_dir
            / key.extractor
            / f"{key.version}-{key.config_hash}"
            / key.sha256[:2]
            / f"{key.sha256}.parquet"
        )

    def has(self, key: StoreKey) -> bool:
        """True when the record of ``key`` is stored."""
        return self.path(key).is_file()

    def put(self, key: StoreKey, record: SignalRecord) -> None:
        """Store ``record`` under ``key``, atomically (temporary file, then rename)."""
        columns: dict[str, pa.Array] = {
            "sha256": pa.array([key.sha256]),
            "extractor": pa.array([key.extractor]),
            "version": pa.array([key.version]),
            "config_hash": pa.array([key.config_hash]),
            "config": pa.array([json.dumps(dict(record.config), sort_keys=True)]),
            "sampling": pa.array([json.dumps(dict(record.sampling), sort_keys=True)]),
            "frame_indices": pa.array([np.asarray(record.frame_indices, np.int64)]),
            "timestamps": pa.array([np.asarray(record.timestamps, np.float64)]),
        }
        for name, values in record.signals.items():
            columns[_SIGNAL_PREFIX + name] = pa.array([np.asarray(values, np.float32)])
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}{_TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            pq.write_table(pa.table(columns), temporary)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def get(self, key: StoreKey) -> SignalRecord:
        """The record stored under ``key``; FileNotFoundError when there is none."""
        row = pq.read_table(self.path(key)).to_pylist()[0]
        signals = {
            name.removeprefix(_SIGNAL_PREFIX): np.asarray(values, np.float32)
            for name, values in row.items()
            if name.startswith(_SIGNAL_PREFIX)
        }
        return SignalRecord(
            signals=signals,
            frame_indices=np.asarray(row["frame_indices"], np.int64),
            timestamps=np.asarray(row["timestamps"], np.float64),
            config=json.loads(row["config"]),
            sampling=json.loads(row["sampling"]),
        )

    def groups(self) -> list[StoreGroup]:
        """Every extractor version and config in the store, with its number of videos."""
        counts: Counter[tuple[str, str, str]] = Counter()
        for path in self._record_paths():
            version, _, config_hash = path.parent.parent.name.rpartition("-")
            counts[(path.parent.parent.parent.name, version, config_hash)] += 1
        return [StoreGroup(*key, videos=n) for key, n in sorted(counts.items())]

    def remove_temporary_files(self) -> int:
        """Delete what interrupted writes left behind; returns how many files went.

        Several runs may write into one store at once, so a temporary file is removed only
        when the process that wrote it is gone or it is older than a day.
        """
        removed = 0
        for directory in (self.signals_dir, self.videos_dir):
            if not directory.is_dir():
                continue
            for path in directory.rglob(f"*{_TEMP_MARK}*"):
                if _abandoned(path):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def _record_paths(self) -> Iterator[Path]:
        if self.signals_dir.is_dir():
            yield from self.signals_dir.glob("*/*/*/*.parquet")


_STALE_SECONDS = 24 * 3600


def _abandoned(temporary: Path) -> bool:
    """True when the writer of a temporary file (its pid is in the name) has stopped, or
    the file is older than a day (a writer on another machine sharing the store)."""
    pid_text = temporary.name.rpartition(_TEMP_MARK)[2].partition("-")[0]
    try:
        age = time.time() - temporary.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > _STALE_SECONDS:
        return True
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False
