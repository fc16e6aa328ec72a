"""Checks a command makes on its inputs before it imports the heavy libraries, so that a
mistyped path, column or option is answered in a moment (measured in
``benchmarks/startup.py``)."""

from __future__ import annotations

import csv
import difflib
from pathlib import Path

from qualitylab.cli.common import fail
from qualitylab.features.layout import widest_table
from qualitylab.features.names import parse_column


def require_paths(paths: list[Path], what: str) -> None:
    """Exit with one message naming every path of ``paths`` that does not exist."""
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        fail(f"{what}: no such file or directory: {', '.join(missing)}")


def table_columns(path: Path) -> list[str]:
    """The column names of a feature table (``.parquet``/``.csv``) or of a run directory's
    widest table, read from its header alone."""
    table = widest_table(path) if path.is_dir() else path
    if not table.is_file():
        fail(f"{path}: no feature table here (is it an extract-features --out directory?)")
    if table.suffix.lower() == ".csv":
        with table.open(newline="", encoding="utf-8-sig") as file:
            return next(csv.reader(file), [])
    import pyarrow.parquet as pq

    return list(pq.read_schema(table).names)


def require_column(path: Path, column: str, option: str) -> None:
    """Exit naming the closest columns when the table at ``path`` lacks ``column``."""
    columns = table_columns(path)
    if column in columns:
        return
    close = difflib.get_close_matches(column, columns, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    described = [name for name in columns if parse_column(name) is None]
    fail(
        f"{option} {column!r} is not a column of {path}{hint} Its columns: "
        f"{', '.join(described) or 'none'} (and {len(columns) - len(described)} features)"
    )
