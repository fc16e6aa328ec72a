"""Feature rows cached per video, so that rebuilding tables reads only what is new.

A video's row of features is a function of its stored records and of the code that turns
signals into features, so it is computed once and kept in a Parquet dataset under the
store: ``tables/<cache key>/part-*.parquet``, one row per *row key* (the video's sha256,
and the prompt when an extractor reads it). The cache key covers everything else a row
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
import uuid
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROW_KEY = "row_key"
_PART_GLOB = "part-*.parquet"
_MERGE_AT = 32


def row_key(sha256: str, prompt: str, reads_prompt: bool) -> str:
    """The key of a video's row: its content hash, and its prompt when that matters."""
    return f"{sha256}\n{prompt}" if reads_prompt else sha256


def cache_key(extractors: Sequence[Mapping[str, Any]], fingerprint: str) -> str:
    """The cache key of tables over ``extractors`` (run-record entries) built by feature
    code with ``fingerprint``."""
    identity = [[e["name"], e["version"], e["config_hash"]] for e in extractors]
    text = json.dumps({"extractors": identity, "code": fingerprint}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RowCache:
    """The cached rows of one cache key under ``root`` (the store's ``tables`` directory)."""

    def __init__(self, root: str | Path, key: str) -> None:
        self.directory = Path(root) / key

    def read(self, keys: Collection[str]) -> pd.DataFrame:
        """The cached rows among ``keys``, indexed by row key (each key once)."""
        wanted = pa.array(sorted(set(keys)), pa.string())
        for _attempt in range(3):
            parts = sorted(self.directory.glob(_PART_GLOB))
            try:
                tables = [pq.read_table(part) for part in parts]
            except FileNotFoundError:  # a merge removed a part between listing and reading
                continue
            break
        else:
            raise RuntimeError(f"{self.directory}: parts keep changing while being read")
        if not tables:
            return pd.DataFrame(index=pd.Index([], name=ROW_KEY))
        table = pa.concat_tables(tables, promote_options="default")
        table = table.filter(pc.is_in(table[ROW_KEY], value_set=wanted))
        frame = table.to_pandas().drop_duplicates(ROW_KEY, keep="last")
        return frame.set_index(ROW_KEY)

    def add(self, rows: pd.DataFrame) -> None:
        """Add ``rows`` (indexed by row key) as a new part; merge the parts when many."""
        if rows.empty:
            return
        self._write(rows.rename_axis(ROW_KEY).reset_index())
        parts = sorted(self.directory.glob(_PART_GLOB))
        if len(parts) >= _MERGE_AT:
            self._merge(parts)

    def _write(self, frame: pd.DataFrame) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"part-{pd.Timestamp.now('UTC').strftime('%Y%m%d%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
        temporary = self.directory / f".{name}.tmp-{os.getpid()}"
        try:
            frame.to_parquet(temporary, index=False)
            os.replace(temporary, self.directory / f"{name}.parquet")
        finally:
            temporary.unlink(missing_ok=True)

    def _merge(self, parts: Sequence[Path]) -> None:
        try:
            tables = [pq.read_table(part) for part in parts]
        except FileNotFoundError:  # another run is merging them
            return
        merged = pa.concat_tables(tables, promote_options="default").to_pandas()
        self._write(merged.drop_duplicates(ROW_KEY, keep="last"))
        for part in parts:
            part.unlink(missing_ok=True)
