"""Checking weights files on disk: present, non-empty, and matching a known hash."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from qualitylab.weights.artifacts import TorchHubCheckpoint
from qualitylab.weights.availability import availability, found_files
from qualitylab.weights.catalogue import PretrainedModel

_SHA256_NAME = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1_NAME = re.compile(r"[0-9a-f]{40}")


def _digest(path: Path, algorithm: str, header: bytes = b"") -> str:
    digest = hashlib.new(algorithm, header)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_problem(path: Path, hash_prefix: str = "") -> str | None:
    """What is wrong with one weights file, or None: missing, empty, or content that does
    not match a known hash. Hashes are known for files in the Hugging Face cache (a blob is
    named by its SHA-256, or by its git object id for small files) and from ``hash_prefix``
    (the leading SHA-256 digits a torch hub file name carries)."""
    if not path.exists():
        return "missing (a broken link)" if path.is_symlink() else "missing"
    stored = path.resolve()
    if path.is_symlink() and stored.parent.name == "blobs":
        if _SHA256_NAME.fullmatch(stored.name):
            if _digest(stored, "sha256") != stored.name:
                return f"content does not match its SHA-256 {stored.name[:12]}… (damaged)"
            return None
        if _GIT_SHA1_NAME.fullmatch(stored.name):
            header = f"blob {stored.stat().st_size}\0".encode()
            if _digest(stored, "sha1", header) != stored.name:
                return f"content does not match its git object id {stored.name[:12]}… (damaged)"
            return None
    if stored.stat().st_size == 0:
        return "empty"
    if hash_prefix:
        actual = _digest(stored, "sha256")
        if not actual.startswith(hash_prefix):
            return (
                f"SHA-256 starts {actual[: len(hash_prefix)]}, not {hash_prefix} as its name says"
            )
    return None


def hash_prefixes(model: PretrainedModel) -> dict[str, str]:
    return {
        artifact.filename: artifact.hash_prefix
        for artifact in model.artifacts
        if isinstance(artifact, TorchHubCheckpoint)
    }


@dataclass(frozen=True)
class Verification:
    """The outcome of checking one model's files: whether it is present, how many files
    were checked, and every problem found (the model is fine when there is none)."""

    model: PretrainedModel
    present: bool
    files: int
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def verify(model: PretrainedModel) -> Verification:
    """Check every file of ``model`` where it was found: present, non-empty, and matching
    its hash where one is known; a partial local copy is a problem too."""
    found = availability(model)
    problems = [f"the local copy {model.local_dir()} lacks {name}" for name in found.local_lacks]
    if not found.present:
        return Verification(model, False, 0, tuple(problems))
    files = found_files(found)
    prefixes = hash_prefixes(model)
    for path in files:
        problem = file_problem(path, prefixes.get(path.name, ""))
        if problem:
            problems.append(f"{path}: {problem}")
    return Verification(model, True, len(files), tuple(problems))
