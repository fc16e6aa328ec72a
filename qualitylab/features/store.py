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

Several runs may write into one store at once (two extractions over overlapping
manifests, on one machine or several sharing a file system). A writer takes the record's
*claim* before computing it: an OS file lock on ``<sha256>.claim`` beside the record,
which the kernel releases when the writer ends or dies, so no claim outlives a crashed
writer. A run that finds a record claimed computes its other work first, then waits for
the claim and takes the record the other run wrote (or computes it, when that run failed).

Every run directory that used the store is listed under ``runs/`` (see
:meth:`FeatureStore.register_run`), so that ``qualitylab store gc`` knows which records
are still needed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
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
_CLAIM_SUFFIX = ".claim"


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


def run_entry_key(entry: Mapping[str, Any], sha256: str, prompt: str) -> StoreKey:
    """The key of a video's record for one extractor entry of a run record (``run.json``:
    name, version, config hash and whether it reads the prompt)."""
    return record_key(
        sha256,
        entry["name"],
        entry["version"],
        entry["config_hash"],
        prompt if entry["reads_prompt"] else None,
    )


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
        self.tables_dir = self.root / "tables"
        self.runs_dir = self.root / "runs"

    def register_run(self, run_dir: str | Path) -> None:
        """Record that the run directory ``run_dir`` uses this store."""
        run_dir = Path(run_dir).expanduser().resolve()
        _write_atomically(self._run_file(run_dir), json.dumps({"run_dir": str(run_dir)}))

    def forget_run(self, run_dir: str | Path) -> None:
        """Remove the registration of ``run_dir`` (its records are no longer protected)."""
        self._run_file(Path(run_dir).expanduser().resolve()).unlink(missing_ok=True)

    def _run_file(self, run_dir: Path) -> Path:
        return self.runs_dir / f"{hashlib.sha256(str(run_dir).encode()).hexdigest()[:16]}.json"

    def runs(self) -> list[Path]:
        """Every run directory registered in this store (whether or not it still exists)."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(
            Path(json.loads(path.read_text())["run_dir"]) for path in self.runs_dir.glob("*.json")
        )

    def claim(self, key: StoreKey, wait: bool = False) -> Claim | None:
        """Take the claim on computing the record of ``key``; None when another writer holds
        it (with ``wait``, block until it is released instead)."""
        path = self.path(key).with_suffix(_CLAIM_SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(descriptor)
                return None
            # The holder before us may have removed the file after we opened it: the lock
            # we hold is then on a file no one else will see, so take the claim again.
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(descriptor).st_ino:
                os.ftruncate(descriptor, 0)
                os.write(descriptor, f"{socket.gethostname()} {os.getpid()}\n".encode())
                return Claim(path, descriptor)
            os.close(descriptor)

    def video_facts(self, sha256: str) -> dict[str, Any] | None:
        """What was stored about the video file with ``sha256``; None when nothing was."""
        path = self._facts_path(sha256)
        return json.loads(path.read_text()) if path.is_file() else None

    def put_video_facts(self, sha256: str, facts: Mapping[str, Any]) -> None:
        """Store facts about a video file (JSON-ready values), atomically."""
        _write_atomically(self._facts_path(sha256), json.dumps(dict(facts), sort_keys=True))

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
        for path in self.record_paths():
            version, _, config_hash = path.parent.parent.name.rpartition("-")
            counts[(path.parent.parent.parent.name, version, config_hash)] += 1
        return [StoreGroup(*key, videos=n) for key, n in sorted(counts.items())]

    def remove_temporary_files(self) -> int:
        """Delete what interrupted writes left behind; returns how many files went.

        Several runs may write into one store at once, so a temporary file is removed only
        when the process that wrote it is gone or it is older than a day.
        """
        removed = 0
        for directory in (self.signals_dir, self.videos_dir, self.runs_dir):
            if not directory.is_dir():
                continue
            for path in directory.rglob(f"*{_TEMP_MARK}*"):
                if _abandoned(path):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def record_paths(self) -> Iterator[Path]:
        """The files of every record in the store."""
        if self.signals_dir.is_dir():
            yield from self.signals_dir.glob("*/*/*/*.parquet")


class Claim:
    """A held claim on computing one record; :meth:`release` ends it."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor: int | None = descriptor

    def release(self) -> None:
        """Remove the claim file and drop the lock (idempotent)."""
        if self._descriptor is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._descriptor)
        self._descriptor = None


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}{_TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


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
