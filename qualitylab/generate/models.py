"""Where a generation model's files are: a catalogue key, a Hugging Face repository id
(optionally ``REPO@REVISION``) or a local pipeline directory becomes a directory on disk
that ``from_pretrained`` reads. Nothing is downloaded: missing weights are an error that
says what is missing and how to fetch it.

- A directory path is used as it is (it must hold a diffusers ``model_index.json``).
- A catalogue key (``svd_xt``, ``svd_xt_1_1``, ``sdxl_base``, see ``qualitylab weights
  list``), or the repository id of a catalogue entry, reads the local copy under
  ``$QUALITYLAB_HOME/weights/<key>/`` (``qualitylab weights import``) or the Hugging Face
  cache at the pinned revision.
- Any other repository id reads the Hugging Face cache (its ``main`` branch, or the
  revision after ``@``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qualitylab.errors import QualitylabError
from qualitylab.features.learned.runtime import model_directory
from qualitylab.weights import CATALOGUE, HubRepo, availability, find_model

_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_LARGE_WEIGHTS = 500 * 2**20  # bytes; above this a model is taken to be full-size


class GenerationError(QualitylabError):
    """A generation run cannot start or go on; the message says why and what to do."""


class MissingModelError(GenerationError):
    """A model's weights are not on this machine."""


@dataclass(frozen=True)
class ResolvedModel:
    """A generation model found on disk: what was asked for (``spec``), how it was found,
    its catalogue key, repository and revision when known, the directory, and a
    fingerprint of its files (configs' content, weights' names and sizes)."""

    spec: str
    source: str
    directory: Path
    key: str | None = None
    repo_id: str | None = None
    revision: str | None = None
    fingerprint: str = ""
    weights_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The model's description as JSON-ready data, for ``run.json``."""
        data = asdict(self)
        data["directory"] = str(self.directory)
        return data

    def has_fp16_files(self) -> bool:
        """True when the directory holds fp16 variant weights (``*.fp16.safetensors``)."""
        return any(self.directory.glob("*/*.fp16.safetensors"))

    @property
    def full_size(self) -> bool:
        """True when the weights are large enough to be a real model, not a test model."""
        return self.weights_bytes > _LARGE_WEIGHTS


def resolve_models(*wanted: tuple[str, str]) -> list[ResolvedModel]:
    """Each ``(spec, role)`` resolved as :func:`resolve_model` does; when any is missing,
    one MissingModelError names every missing model with what fetches it."""
    found: list[ResolvedModel] = []
    missing: list[str] = []
    for spec, role in wanted:
        try:
            found.append(resolve_model(spec, role))
        except MissingModelError as exc:
            missing.append(str(exc))
    if missing:
        raise MissingModelError("\n".join(missing))
    return found


def resolve_model(spec: str, role: str) -> ResolvedModel:
    """The on-disk directory of the ``role`` model (keyframe or clip) named by ``spec``;
    MissingModelError saying how to fetch it when it is not on this machine."""
    path = Path(spec).expanduser()
    if path.is_dir():
        _require_pipeline(path, spec, role)
        return _described(ResolvedModel(spec, "local directory", path.resolve()))
    repo_id, _, revision = spec.partition("@")
    key = _catalogue_key(repo_id) if not revision else None
    if key is not None:
        return _from_catalogue(spec, key, role)
    if _REPO_ID.match(repo_id):
        return _from_hub_cache(spec, repo_id, revision or None, role)
    raise MissingModelError(
        f"{role} model {spec!r} is neither a directory nor a known model; give a pipeline "
        "directory, a Hugging Face repository id, or one of: "
        + ", ".join(model.key for model in CATALOGUE if _is_pipeline(model.key))
    )


def _catalogue_key(name: str) -> str | None:
    for model in CATALOGUE:
        if model.key == name and _is_pipeline(model.key):
            return model.key
        for artifact in model.artifacts:
            if isinstance(artifact, HubRepo) and artifact.repo_id == name:
                return model.key
    return None


def _is_pipeline(key: str) -> bool:
    return any(
        isinstance(artifact, HubRepo) and "model_index.json" in artifact.requires
        for artifact in find_model(key).artifacts
    )


def _from_catalogue(spec: str, key: str, role: str) -> ResolvedModel:
    model = find_model(key)
    found = availability(model)
    if not found.present:
        lacks = (
            f" (the local copy {model.local_dir()} lacks {', '.join(found.local_lacks)})"
            if found.local_lacks
            else ""
        )
        note = f" Note: {model.note}." if model.note else ""
        raise MissingModelError(
            f"the {role} model {key!r} ({model.description}) is not on this machine{lacks}. "
            f"Fetch it with `{found.download_command}` (or: {'; '.join(found.fetch_commands())}),"
            f" or copy a downloaded copy here with `qualitylab weights import {key} DIR`."
            f"{note} Nothing is downloaded during a run."
        )
    repo = next(a for a in model.artifacts if isinstance(a, HubRepo))
    directory = model_directory(key)
    source = "local copy" if found.local else "Hugging Face cache"
    return _described(ResolvedModel(spec, source, directory, key, repo.repo_id, repo.revision))


def _from_hub_cache(spec: str, repo_id: str, revision: str | None, role: str) -> ResolvedModel:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        directory = Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        at = f" --revision {revision}" if revision else ""
        raise MissingModelError(
            f"the {role} model {spec!r} is not a directory and not in the Hugging Face cache. "
            f"Fetch it with `hf download {repo_id}{at}` (only the files the pipeline reads: "
            "add --include '*.json' --include '*.txt' --include '*.fp16.safetensors' for "
            "fp16 weights), or pass the path of a local pipeline directory. Nothing is "
            "downloaded during a run."
        ) from None
    _require_pipeline(directory, spec, role)
    return _described(ResolvedModel(spec, "Hugging Face cache", directory, None, repo_id, revision))


def _require_pipeline(directory: Path, spec: str, role: str) -> None:
    if not (directory / "model_index.json").is_file():
        raise MissingModelError(
            f"the {role} model {spec!r} ({directory}) is not a diffusers pipeline directory: "
            "it has no model_index.json"
        )


def _described(model: ResolvedModel) -> ResolvedModel:
    """``model`` with the fingerprint and the weights' size of its directory."""
    digest = hashlib.sha256()
    weights = 0
    for path in sorted(model.directory.rglob("*")):
        if not path.is_file() or any(p.startswith(".") for p in path.parts[-3:]):
            continue
        name = path.relative_to(model.directory).as_posix()
        if path.suffix in (".json", ".txt"):
            digest.update(f"{name}\0".encode() + path.read_bytes())
        else:
            size = path.stat().st_size
            weights += size
            digest.update(f"{name}\0{size}\0".encode())
    return ResolvedModel(
        **{**asdict(model), "fingerprint": digest.hexdigest()[:16], "weights_bytes": weights}
    )


def pipeline_class(directory: Path) -> str:
    """The pipeline class named in a directory's ``model_index.json``."""
    try:
        return str(json.loads((directory / "model_index.json").read_text())["_class_name"])
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise GenerationError(f"{directory}/model_index.json is unreadable: {exc}") from None
