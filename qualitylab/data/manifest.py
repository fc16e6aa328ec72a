"""Load and validate datasets of rated videos: CSV, JSONL, Parquet or Hugging Face datasets.

A manifest becomes a table with the columns ``id``, ``video`` (an absolute path),
``prompt``, the target columns, and every other column of the source, untouched.
Loading fails only when the source itself cannot be read or lacks a mapped column;
problems of single rows (missing files, duplicate ids, empty prompts, bad targets) are
collected by ``validate_manifest`` with their row numbers. Row numbers count data rows
from 1, in the order of the source (the header of a CSV file is not a row).
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from qualitylab.data.video import SUPPORTED_EXTENSIONS, VideoDecodeError, probe
from qualitylab.errors import QualitylabError

TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ManifestError(QualitylabError):
    """A dataset that cannot be loaded at all; the message names the source and the cause."""


@dataclass(frozen=True)
class ColumnMapping:
    """Which source columns hold the video path, the prompt, the id and the targets.

    ``id=None`` uses a column named ``id`` when there is one and otherwise derives the id
    from the video path relative to the manifest. ``targets=None`` takes every numeric
    column other than the id as a target; explicit targets must exist and are checked.
    ``renames`` (source name, new name) renames source columns before anything else, e.g.
    a rating set's aspect columns to qualitylab's aspect names (see
    :mod:`qualitylab.data.layouts`).
    """

    video: str = "video"
    prompt: str = "prompt"
    id: str | None = None
    targets: tuple[str, ...] | None = None
    renames: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Problem:
    """One problem of a dataset: the data row it is in (1-based; None for the whole set)."""

    row: int | None
    message: str
    severity: Literal["error", "warning"] = "error"
    id: str | None = None

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else ""
        if self.id:
            where += f" (id {self.id!r})"
        return (
            f"{self.severity}: {where}: {self.message}"
            if where
            else f"{self.severity}: {self.message}"
        )


@dataclass
class Manifest:
    """A loaded dataset: the normalised table plus where it came from."""

    table: pd.DataFrame
    source: str
    format: str
    root: Path
    mapping: ColumnMapping
    targets: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.table)


@dataclass(frozen=True)
class TargetSummary:
    """Count, min, mean and max of one target over the rows where it is numeric."""

    name: str
    count: int
    minimum: float
    mean: float
    maximum: float


@dataclass
class ValidationReport:
    """The outcome of validating a manifest: a summary and every problem found."""

    manifest: Manifest
    problems: list[Problem] = field(default_factory=list)
    containers: Counter[str] = field(default_factory=Counter)
    missing_files: int = 0
    targets: list[TargetSummary] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """The problems that make the dataset unusable as it is."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The problems worth knowing about that do not stop anything."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there are no errors."""
        return not self.errors


def load_manifest(
    source: str | Path,
    mapping: ColumnMapping = ColumnMapping(),
    *,
    split: str | None = None,
) -> Manifest:
    """Read a dataset from a table file, a saved Hugging Face dataset dir, or a hub id."""
    raw, fmt, root = _read_source(str(source), split)
    return _normalise(raw, str(source), fmt, root, mapping)


def validate_manifest(
    manifest: Manifest,
    *,
    probe_videos: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ValidationReport:
    """Check every row: files present and readable (and decodable when ``probe_videos``),
    ids unique, prompts non-empty, targets numeric and present.

    ``progress(done, total)`` is called after each row's video is checked.
    """
    report = ValidationReport(manifest)
    table = manifest.table
    for position, (identifier, video, prompt) in enumerate(
        zip(table["id"], table["video"], table["prompt"]), start=1
    ):
        _check_video(video, position, identifier, report, probe_videos)
        if not prompt:
            report.problems.append(Problem(position, "empty prompt", id=identifier))
        if progress is not None:
            progress(position, len(table))
    _check_duplicates(table, report)
    requested = manifest.mapping.targets is not None
    for target in manifest.targets:
        _check_target(table, target, report, requested)
    report.problems.sort(key=lambda p: (p.row is not None, p.row or 0))
    return report


def _read_source(source: str, split: str | None) -> tuple[pd.DataFrame, str, Path]:
    path = Path(source).expanduser()
    if path.is_dir():
        return _read_saved_dataset(path, split), "huggingface (local)", path.resolve()
    if path.exists():
        return _read_table(path), TABLE_FORMATS.get(path.suffix.lower(), "?"), path.resolve().parent
    if _HUB_ID.match(source) and not path.suffix:
        return _read_hub_dataset(source, split), "huggingface (hub)", Path.cwd()
    raise ManifestError(f"{source}: no such file or directory")


def _read_table(path: Path) -> pd.DataFrame:
    fmt = TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(TABLE_FORMATS))
        raise ManifestError(
            f"{path}: unknown manifest format {path.suffix!r} (known: {known}, "
            "or a directory saved with datasets' save_to_disk)"
        )
    try:
        if fmt in ("csv", "tsv"):
            return pd.read_csv(
                path,
                sep="," if fmt == "csv" else "\t",
                dtype=str,
                keep_default_na=False,
                encoding="utf-8-sig",  # files saved by spreadsheet programs start with a BOM
            )
        if fmt in ("json", "jsonl"):
            return pd.read_json(path, lines=fmt == "jsonl", orient="records", dtype=False)
        return pd.read_parquet(path)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ManifestError(f"{path}: cannot read as {fmt}: {exc}") from exc


def _read_saved_dataset(path: Path, split: str | None) -> pd.DataFrame:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        if any(p.suffix.lower() in SUPPORTED_EXTENSIONS for p in path.rglob("*")):
            raise ManifestError(
                f"{path}: a folder of videos, not a manifest; write a CSV with the columns "
                "video,prompt (video paths relative to the CSV, plus any rating columns) "
                "and pass the CSV"
            ) from exc
        raise ManifestError(
            f"{path}: not a dataset saved with datasets' save_to_disk ({exc})"
        ) from exc
    return _dataset_to_frame(_pick_split(loaded, split, str(path)))


def _read_hub_dataset(repo_id: str, split: str | None) -> pd.DataFrame:
    import datasets

    try:
        loaded = datasets.load_dataset(repo_id, split=split)
    except Exception as exc:  # datasets raises many unrelated types for "unreachable"
        raise ManifestError(
            f"{repo_id}: cannot load this Hugging Face dataset from the hub ({exc}). If the "
            "hub is unreachable, load it on a connected machine, save it with "
            "`dataset.save_to_disk(DIR)`, copy DIR here and pass DIR instead."
        ) from exc
    return _dataset_to_frame(_pick_split(loaded, split, repo_id))


def _pick_split(loaded, split: str | None, source: str):
    import datasets

    if not isinstance(loaded, datasets.DatasetDict):
        return loaded
    splits = list(loaded)
    if split is None and len(splits) == 1:
        split = splits[0]
    if split not in loaded:
        raise ManifestError(
            f"{source}: choose a split with --split (available: {', '.join(splits)})"
        )
    return loaded[split]


def _dataset_to_frame(dataset) -> pd.DataFrame:
    import datasets

    for name, feature in dataset.features.items():
        if type(feature).__name__ == "Video":
            dataset = dataset.cast_column(name, datasets.Video(decode=False))
    frame = dataset.to_pandas()
    for name in frame.columns:
        if frame[name].map(lambda v: isinstance(v, dict) and "path" in v).all():
            frame[name] = frame[name].map(lambda v: v["path"])
    return frame


def _normalise(
    raw: pd.DataFrame, source: str, fmt: str, root: Path, mapping: ColumnMapping
) -> Manifest:
    raw = _renamed(raw, source, mapping.renames)
    required = [mapping.video, mapping.prompt, *(mapping.targets or ())]
    if mapping.id is not None:
        required.append(mapping.id)
    absent = [name for name in required if name not in raw.columns]
    if absent:
        raise ManifestError(
            f"{source}: missing column(s) {', '.join(map(repr, absent))}; the columns are "
            f"{', '.join(map(repr, map(str, raw.columns)))} (map them with --video-col, "
            "--prompt-col, --id-col, --target)"
        )
    table = raw.copy()
    table.columns = [str(c) for c in table.columns]
    videos = table[mapping.video].map(_as_text)
    id_column = mapping.id or ("id" if "id" in table.columns else None)
    ids = (
        table[id_column].map(_as_text)
        if id_column is not None
        else videos.map(lambda v: _derived_id(v, root))
    )
    normal = pd.DataFrame(
        {
            "id": ids,
            "video": videos.map(lambda v: _resolve(v, root)),
            "prompt": table[mapping.prompt].map(_as_text),
        }
    )
    rest = [c for c in table.columns if c not in {mapping.video, mapping.prompt, id_column}]
    rest = [c for c in rest if c not in normal.columns]
    table = pd.concat([normal, table[rest].reset_index(drop=True)], axis=1)
    targets = mapping.targets if mapping.targets is not None else _numeric_columns(table)
    return Manifest(table, source, fmt, root, mapping, tuple(targets))


def _renamed(raw: pd.DataFrame, source: str, renames: tuple[tuple[str, str], ...]):
    """``raw`` with its columns renamed; ManifestError naming every column it lacks or
    whose new name it already has."""
    absent = [old for old, _ in renames if old not in raw.columns]
    if absent:
        raise ManifestError(
            f"{source}: the layout's column(s) {', '.join(map(repr, absent))} are missing; "
            f"the columns are {', '.join(map(repr, map(str, raw.columns)))}"
        )
    clashing = [new for old, new in renames if new in raw.columns and new != old]
    if clashing:
        raise ManifestError(
            f"{source}: already has column(s) {', '.join(map(repr, clashing))}, which the "
            "layout would rename another column to"
        )
    return raw.rename(columns=dict(renames))


def _as_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _resolve(video: str, root: Path) -> str:
    if not video or "://" in video:
        return video
    path = Path(video).expanduser()
    return str(path if path.is_absolute() else (root / path))


def _derived_id(video: str, root: Path) -> str:
    path = Path(video)
    if path.is_absolute():
        try:
            path = path.relative_to(root)
        except ValueError:
            pass
    return path.with_suffix("").as_posix()


def _numeric_columns(table: pd.DataFrame) -> list[str]:
    names = []
    for name in table.columns:
        if name in ("id", "video", "prompt"):
            continue
        column = table[name]
        present = column[column.map(_as_text) != ""]
        if len(present) and pd.to_numeric(present, errors="coerce").notna().all():
            names.append(name)
    return names


def _check_video(
    video: str, row: int, identifier: str, report: ValidationReport, probe_videos: bool
) -> None:
    def problem(message: str, severity: Literal["error", "warning"] = "error") -> None:
        report.problems.append(Problem(row, message, severity, identifier))

    if not video:
        return problem("empty video path")
    if "://" in video:
        return problem(f"remote video URLs are not supported: {video}")
    path = Path(video)
    suffix = path.suffix.lower()
    report.containers[suffix or "(none)"] += 1
    if not path.exists():
        report.missing_files += 1
        return problem(f"video file not found: {path}")
    if not path.is_file():
        return problem(f"video path is not a file: {path}")
    if not os.access(path, os.R_OK):
        return problem(f"video file is not readable: {path}")
    if suffix not in SUPPORTED_EXTENSIONS:
        problem(f"unexpected video extension {suffix!r}: {path}", "warning")
    if probe_videos:
        try:
            for warning in probe(path).warnings:
                problem(warning, "warning")
        except VideoDecodeError as exc:
            problem(str(exc))


def _check_duplicates(table: pd.DataFrame, report: ValidationReport) -> None:
    first_row: dict[str, int] = {}
    for position, identifier in enumerate(table["id"], start=1):
        if not identifier:
            report.problems.append(Problem(position, "empty id"))
        elif identifier in first_row:
            report.problems.append(
                Problem(
                    position, f"duplicate id (first at row {first_row[identifier]})", id=identifier
                )
            )
        else:
            first_row[identifier] = position


def target_problems(manifest: Manifest) -> list[Problem]:
    """Every row whose target is missing or not a finite number, one problem per target."""
    found: list[Problem] = []
    for target in manifest.targets:
        found += _target_problems(manifest.table, target)
    return found


def _target_problems(table: pd.DataFrame, target: str) -> list[Problem]:
    values = pd.to_numeric(table[target], errors="coerce")
    found = []
    for position, (identifier, raw, number) in enumerate(
        zip(table["id"], table[target], values), start=1
    ):
        text = _as_text(raw)
        if not text:
            found.append(Problem(position, f"target {target!r} is missing", id=identifier))
        elif pd.isna(number) or not math.isfinite(number):
            found.append(
                Problem(position, f"target {target!r} is not a number: {text!r}", id=identifier)
            )
    return found


def _check_target(
    table: pd.DataFrame, target: str, report: ValidationReport, requested: bool
) -> None:
    """Every bad value of a requested target is an error of its row. A target found by
    itself (a numeric column, e.g. one of several aspect ratings that only some rows
    carry) gets one warning saying how many rows lack it: those rows are left out of
    training on it, and nothing else depends on it."""
    problems = _target_problems(table, target)
    if requested:
        report.problems += problems
    elif problems:
        rows = ", ".join(str(problem.row) for problem in problems[:10])
        more = f" and {len(problems) - 10} more" if len(problems) > 10 else ""
        report.problems.append(
            Problem(
                None,
                f"column {target!r} (taken as a target) is empty in {len(problems)} of "
                f"{len(table)} rows (rows {rows}{more}); training on it uses the other rows",
                "warning",
            )
        )
    values = pd.to_numeric(table[target], errors="coerce")
    numbers = values[values.map(lambda v: pd.notna(v) and math.isfinite(v))]
    if len(numbers):
        report.targets.append(
            TargetSummary(
                target,
                len(numbers),
                float(numbers.min()),
                float(numbers.mean()),
                float(numbers.max()),
            )
        )
