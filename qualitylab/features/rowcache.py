"""Feature rows cached per video, so that rebuilding tables reads only what is new.

A video's row of features is a function of its stored records and of the code that turns
signals into features, so it is computed once and kept in a Parquet dataset under the
store: ``tables/<cache key>/part-*.parquet``, one row per *row key* (the video's sha256,
the prompt when an extractor reads it, and the scene starts the manifest records, if any). The cache key covers everything else a row
depends on: each extractor's name, version and config hash, and a fingerprint of the
feature code given by the caller. A rebuild reads the cached rows it needs, computes only
the missing ones, and adds them as a new part; once there are many parts they are merged
into one. Parts are written atomically and readers tolerate a part that a merge removed,
so several runs may build tables from one store at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROW_KEY = "row_key"
_VALUES = "values"
_COLUMNS = "columns"
_PART_GLOB = "part-*.parquet"
_MERGE_AT = 32


def row_key(sha256: str, prompt: str, reads_prompt: bool, scene_starts: str = "") -> str:
    """The key of a video's row: its content hash, its prompt when that matters, and
    the scene starts its manifest records, when it does (they mask its pair signals)."""
    key = f"{sha256}\n{prompt}" if reads_prompt else sha256
    return f"{key}\nscenes:{scene_starts}" if scene_starts else key


def cache_key(extractors: Sequence[Mapping[str, Any]], fingerprint: str) -> str:
    """The cache key of tables over ``extractors`` (run-record entries) built by feature
    code with ``fingerprint``."""
    identity = [[e["name"], e["version"], e["config_hash"]] for e in extractors]
    text = json.dumps({"extractors": identity, "code": fingerprint}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RowCache:
    """The cached rows of one cache key under ``root`` (the store's ``tables`` directory).

    A part holds the row keys and each row's values as one fixed-size list, with the
    column names in the file's metadata: a table thousands of columns wide is read as two
    columns, which Parquet reads far faster.
    """

    def __init__(self, root: str | Path, key: str) -> None:
        self.directory = Path(root) / key

    def read(self, keys: Collection[str]) -> pd.DataFrame:
        """The cached rows among ``keys``, indexed by row key (each key once)."""
        wanted = pa.array(sorted(set(keys)), pa.string())
        for _attempt in range(3):
            try:
                frames = [_read_part(part, wanted) for part in self._parts()]
            except FileNotFoundError:  # a merge removed a part between listing and reading
                continue
            break
        else:
            raise RuntimeError(f"{self.directory}: parts keep changing while being read")
        frames = [frame for frame in frames if len(frame)]
        if not frames:
            return pd.DataFrame(index=pd.Index([], name=ROW_KEY))
        frame = pd.concat(frames) if len(frames) > 1 else frames[0]
        return frame[~frame.index.duplicated(keep="last")]

    def add(self, rows: pd.DataFrame) -> None:
        """Add ``rows`` (indexed by row key) as a new part; merge the parts when many."""
        if rows.empty:
            return
        self._write(rows)
        parts = self._parts()
        if len(parts) >= _MERGE_AT:
            self._merge(parts)

    def _parts(self) -> list[Path]:
        return sorted(self.directory.glob(_PART_GLOB))

    def _write(self, rows: pd.DataFrame) -> None:
        values = np.ascontiguousarray(rows.to_numpy(np.float64)).reshape(-1)
        table = pa.table(
            {
                ROW_KEY: pa.array(rows.index.astype(str), pa.string()),
                _VALUES: pa.FixedSizeListArray.from_arrays(pa.array(values), rows.shape[1]),
            }
        ).replace_schema_metadata({_COLUMNS: json.dumps(list(map(str, rows.columns)))})
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        temporary = self.directory / f".{name}.tmp-{os.getpid()}"
        try:
            pq.write_table(table, temporary)
            os.replace(temporary, self.directory / f"{name}.parquet")
        finally:
            temporary.unlink(missing_ok=True)

    def _merge(self, parts: Sequence[Path]) -> None:
        try:
            frames = [_read_part(part) for part in parts]
        except FileNotFoundError:  # another run is merging them
            return
        merged = pd.concat(frames)
        self._write(merged[~merged.index.duplicated(keep="last")])
        for part in parts:
            part.unlink(missing_ok=True)


def _read_part(path: Path, wanted: pa.Array | None = None) -> pd.DataFrame:
    """The rows of one part (only those whose key is in ``wanted``, when given)."""
    table = pq.read_table(path)
    columns = json.loads(table.schema.metadata[_COLUMNS.encode()])
    if wanted is not None:
        table = table.filter(pc.is_in(table[ROW_KEY], value_set=wanted))
    values = table[_VALUES].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return pd.DataFrame(
        values.reshape(len(table), len(columns)),
        columns=columns,
        index=pd.Index(table[ROW_KEY].to_pylist(), name=ROW_KEY),
    )
