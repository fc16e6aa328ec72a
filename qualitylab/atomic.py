"""Writes that leave either the old file or the complete new one, never half of it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines untranslated) through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="")
    os.replace(temporary, path)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to Parquet (without its index) through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, path)


def swap_in_directory(staging: Path, target: Path) -> None:
    """Rename the complete directory ``staging`` to ``target``, removing what ``target``
    held before; ``target`` is at every moment either the old or the new directory, or
    (between two renames) briefly absent, never a mix of both."""
    if not target.is_dir():
        staging.rename(target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    target.rename(old / target.name)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
