"""The regression benchmark: a fixed, versioned set of story prompts generated with
recorded settings, so that two model versions can be scored by the same predictor and
compared.

The prompt set (``prompts/benchmark_prompts.json``) is a JSON object with ``name``,
``version`` and ``prompts``, each prompt with a unique ``id``, a ``category`` (motion,
characters, scenes, styles) and the ``prompt``, optionally a ``duration`` in seconds. A
released version is never edited; changed prompts make a new version.

``run_benchmark(label, root, settings)`` generates every prompt into ``root/label/`` (the
run directory layout of :mod:`qualitylab.generate.generation_run`, one ``manifest.csv`` for all),
recording the prompt set's file, version and SHA-256 in ``run.json``. It resumes: prompts
whose video and record are complete are skipped, a failing prompt is recorded and the run
goes on. A directory made from another prompt set version, or other settings, is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qualitylab.generate.backend import Backend
from qualitylab.generate.generation_run import (
    RUN_FILE,
    GenerationSummary,
    ProgressCallback,
    generate_run,
)
from qualitylab.generate.models import GenerationError
from qualitylab.generate.prompts import VideoRequest, requests_from_entries
from qualitylab.generate.settings import GenerateSettings

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def default_prompts_file() -> Path:
    """The benchmark prompt set shipped in the repository (``prompts/benchmark_prompts.json``)."""
    return Path(__file__).resolve().parents[2] / "prompts" / "benchmark_prompts.json"


@dataclass(frozen=True)
class PromptSet:
    """A versioned benchmark prompt set: its file, name, version, the SHA-256 of the file
    and the videos it asks for."""

    file: Path
    name: str
    version: str
    sha256: str
    requests: tuple[VideoRequest, ...]

    def describe(self) -> dict[str, Any]:
        """The prompt set's identity for ``run.json``."""
        categories: dict[str, int] = {}
        for request in self.requests:
            category = str(request.extra.get("category"))
            categories[category] = categories.get(category, 0) + 1
        return {
            "file": str(self.file),
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "prompts": len(self.requests),
            "categories": categories,
        }


def load_prompt_set(path: str | Path | None = None) -> PromptSet:
    """The benchmark prompt set in ``path`` (default: the shipped one); ValueError naming
    the file and the entry when it is malformed."""
    path = Path(path) if path is not None else default_prompts_file()
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"benchmark prompts file {path}: cannot read it: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), list):
        raise ValueError(f"benchmark prompts file {path}: expected an object with a 'prompts' list")
    version = data.get("version")
    if not isinstance(version, str | int) or not str(version).strip():
        raise ValueError(f"benchmark prompts file {path}: needs a 'version' field")
    for number, entry in enumerate(data["prompts"], start=1):
        where = f"benchmark prompts file {path}, entry {number}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object with id, category and prompt")
        for key in ("id", "category"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ValueError(f"{where}: '{key}' must be a non-empty string")
    requests = requests_from_entries(data["prompts"], f"{path}")
    return PromptSet(
        path,
        str(data.get("name", path.stem)),
        str(version),
        hashlib.sha256(raw).hexdigest(),
        tuple(requests),
    )


def run_benchmark(
    label: str,
    root: str | Path,
    settings: GenerateSettings,
    *,
    prompts_file: str | Path | None = None,
    only: list[str] | None = None,
    backend: Backend | None = None,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
) -> GenerationSummary:
    """Generate the benchmark prompt set (all of it, or the ids in ``only``) into
    ``root/label`` with ``settings``, resuming what an earlier run of the same settings
    finished. GenerationError for a bad label, unknown ids, or a directory made from
    another prompt set version."""
    if not _LABEL.match(label):
        raise GenerationError(
            f"benchmark version label {label!r} must be letters, digits, '.', '_' or '-' "
            "(it names the directory)"
        )
    try:
        prompt_set = load_prompt_set(prompts_file)
    except ValueError as exc:
        raise GenerationError(str(exc)) from None
    requests = list(prompt_set.requests)
    if only:
        known = {request.id for request in requests}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise GenerationError(
                f"no prompt with id {', '.join(unknown)} in {prompt_set.file} "
                f"(version {prompt_set.version})"
            )
        requests = [request for request in requests if request.id in set(only)]
    out_dir = Path(root) / label
    if not overwrite:
        _check_same_prompt_set(out_dir, prompt_set)
    info = {"benchmark": {"label": label, "prompt_set": prompt_set.describe()}}
    return generate_run(
        requests,
        out_dir,
        settings,
        backend=backend,
        progress=progress,
        overwrite=overwrite,
        info=info,
    )


def _check_same_prompt_set(out_dir: Path, prompt_set: PromptSet) -> None:
    try:
        previous = json.loads((out_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    recorded = previous.get("benchmark", {}).get("prompt_set", {})
    if recorded and recorded.get("version") != prompt_set.version:
        raise GenerationError(
            f"{out_dir} holds a benchmark of prompt set version {recorded.get('version')}, "
            f"not {prompt_set.version}; choose another version label, or pass --overwrite"
        )
