"""Whether a model's weights are on disk and where: a complete local copy under
``weights_dir()/<key>``, the Hugging Face cache, or the torch hub cache. A local copy is
complete when it holds every file the model needs, non-empty; a partial one is reported
with what it lacks and does not count."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import qualitylab.weights.catalogue
from qualitylab.weights.artifacts import Artifact, HubRepo
from qualitylab.weights.catalogue import PretrainedModel


@dataclass(frozen=True)
class Availability:
    """Whether a model's weights are on disk, where, and what fetches the missing ones.

    ``local_lacks`` names the files a partial local copy lacks (empty when there is no
    local copy or it is complete).
    """

    model: PretrainedModel
    locations: tuple[Path, ...]
    missing: tuple[Artifact, ...]
    local_lacks: tuple[str, ...] = ()

    @property
    def present(self) -> bool:
        """True when nothing the model needs is missing."""
        return not self.missing

    @property
    def local(self) -> bool:
        """True when the weights are read from the model's complete local copy."""
        return self.locations == (self.model.local_dir(),)

    @property
    def where(self) -> str:
        """Which kind of place the weights were found in: local copy or cache(s)."""
        if self.local:
            return "local copy"
        return " + ".join(dict.fromkeys(artifact.cache_name for artifact in self.model.artifacts))

    def directories(self) -> tuple[Path, ...]:
        """The directories holding the model's files where they were found."""
        if self.local:
            return self.locations
        dirs = (
            artifact.snapshot_dir(location) if isinstance(artifact, HubRepo) else location.parent
            for artifact, location in zip(self.model.artifacts, self.locations)
        )
        return tuple(dict.fromkeys(dirs))

    @property
    def download_command(self) -> str:
        """The qualitylab command that fetches the model."""
        return f"qualitylab weights download {self.model.key}"

    def fetch_commands(self) -> list[str]:
        """The commands that fetch what is missing, one per artifact."""
        return list(dict.fromkeys(artifact.fetch_command() for artifact in self.missing))


def report() -> list[Availability]:
    """Where the weights of every model of the catalogue are, or what they lack."""
    return [availability(model) for model in qualitylab.weights.catalogue.CATALOGUE]


def availability(model: PretrainedModel) -> Availability:
    """Where ``model``'s weights are found on disk, and which of its artifacts are missing."""
    local = model.local_dir()
    lacks = lacking(model, local) if local.is_dir() else ()
    if local.is_dir() and not lacks:
        return Availability(model, (local,), ())
    locations: list[Path] = []
    missing: list[Artifact] = []
    for artifact in model.artifacts:
        path = artifact.cached_path()
        if path is None:
            missing.append(artifact)
        else:
            locations.append(path)
    return Availability(model, tuple(locations), tuple(missing), lacks)


def lacking(model: PretrainedModel, directory: Path) -> tuple[str, ...]:
    """The needed files ``directory`` lacks or holds empty, as 'a or b' for alternatives."""
    lacks = []
    for names in model.local_files():
        paths = [directory / name for name in names]
        if not any(path.is_file() and path.stat().st_size > 0 for path in paths):
            empty = " (empty)" if any(path.is_file() for path in paths) else ""
            lacks.append(" or ".join(names) + empty)
    return tuple(lacks)


def files_under(directory: Path) -> list[Path]:
    """The files below ``directory`` (broken links included), hidden entries left out."""
    return sorted(
        path
        for path in directory.rglob("*")
        if (path.is_file() or path.is_symlink())
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )


def found_files(found: Availability) -> list[Path]:
    """Every file of a present model as a loader reads it: the local copy's files, the
    snapshot of each hub repository, and each single file."""
    if found.local:
        return files_under(found.model.local_dir())
    files: list[Path] = []
    for artifact, location in zip(found.model.artifacts, found.locations):
        if isinstance(artifact, HubRepo):
            files.extend(files_under(artifact.snapshot_dir(location)))
        else:
            files.append(location)
    return files


def disk_size(found: Availability) -> int:
    """The bytes a present model's files take on disk (each stored file counted once)."""
    stored = {path.resolve() for path in found_files(found) if path.exists()}
    return sum(path.stat().st_size for path in stored)
