"""Copying weights fetched elsewhere into a model's local directory, atomically."""

from __future__ import annotations

import shutil
import tempfile
from fnmatch import fnmatch
from pathlib import Path

from qualitylab.atomic import swap_in_directory
from qualitylab.weights.artifacts import HubRepo, WeightsError
from qualitylab.weights.availability import files_under, lacking
from qualitylab.weights.catalogue import PretrainedModel
from qualitylab.weights.verify import file_problem, hash_prefixes


def _files_to_copy(model: PretrainedModel, source: Path) -> list[str]:
    """The files of ``source`` an import copies: for each needed file the first of its
    alternative names found (not the others), and whatever matches a download pattern."""
    chosen: set[str] = set()
    passed_over: set[str] = set()
    for names in model.local_files():
        first = next(name for name in names if (source / name).is_file())
        chosen.add(first)
        passed_over.update(set(names) - {first})
    patterns = [
        pattern
        for artifact in model.artifacts
        if isinstance(artifact, HubRepo)
        for pattern in artifact.include or ("*",)
    ]
    relative = (path.relative_to(source).as_posix() for path in files_under(source))
    return [
        name
        for name in relative
        if name in chosen
        or (name not in passed_over and any(fnmatch(name, pattern) for pattern in patterns))
    ]


def import_weights(model: PretrainedModel, source: Path, replace: bool = False) -> Path:
    """Copy the files ``model`` reads from ``source`` (a directory obtained elsewhere,
    e.g. a Hugging Face snapshot directory) into its local directory, atomically: into a
    temporary directory beside it, then renamed. WeightsError, before anything is written,
    when ``source`` lacks a needed file or holds a damaged one, or when a local copy exists
    and ``replace`` is not set."""
    if not source.is_dir():
        raise WeightsError(f"{source} is not a directory")
    lacks = lacking(model, source)
    if lacks:
        raise WeightsError(f"{source} does not hold {model.key}: it lacks {', '.join(lacks)}")
    files = _files_to_copy(model, source)
    prefixes = hash_prefixes(model)
    problems = [
        f"{name}: {problem}"
        for name in files
        if (problem := file_problem(source / name, prefixes.get(Path(name).name, "")))
    ]
    if problems:
        raise WeightsError(f"{source} holds damaged files: " + "; ".join(problems))
    target = model.local_dir()
    if target.is_dir() and any(target.iterdir()) and not replace:
        raise WeightsError(
            f"{target} already holds a copy of {model.key}", "Pass --replace to replace it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model.key}.import-", dir=target.parent))
    try:
        for name in files:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, staging / name)
        swap_in_directory(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
