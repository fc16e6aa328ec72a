"""Where a model's files come from: a Hugging Face Hub file or repository pinned to a
commit, or a torch hub checkpoint; how each is found in its cache and fetched into it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from qualitylab.errors import QualitylabError

HUGGING_FACE_CACHE = "Hugging Face cache"
TORCH_HUB_CACHE = "torch hub cache"


class WeightsError(QualitylabError):
    """A weights operation could not be done; the message says why, ``hint`` what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class HubUnreachableError(WeightsError):
    """The server an artifact comes from cannot be reached from this machine."""

    def __init__(self, message: str, hint: str, host: str) -> None:
        super().__init__(message, hint)
        self.host = host


def _hub_cached_path(repo_id: str, filename: str, revision: str | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, revision=revision)
    return Path(found) if isinstance(found, str) else None


def _revision_option(revision: str | None) -> str:
    return f" --revision {revision}" if revision else ""


def _hub_host() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


@dataclass(frozen=True)
class HubFile:
    """A single file of a Hugging Face Hub repository, at commit ``revision``."""

    repo_id: str
    filename: str
    revision: str | None = None

    cache_name = HUGGING_FACE_CACHE

    @property
    def host(self) -> str:
        """The server the file is fetched from."""
        return _hub_host()

    def local_files(self) -> tuple[tuple[str, ...], ...]:
        """The files a local copy needs for this artifact (each: alternative names)."""
        return ((self.filename,),)

    def cached_path(self) -> Path | None:
        """The file's path in the Hugging Face cache, or None when it is not cached."""
        return _hub_cached_path(self.repo_id, self.filename, self.revision)

    def fetch_command(self) -> str:
        """The shell command that puts the file into the Hugging Face cache."""
        return f"hf download {self.repo_id} {self.filename}{_revision_option(self.revision)}"

    def fetch(self) -> None:
        """Download the file into the Hugging Face cache."""
        from huggingface_hub import hf_hub_download

        _from_hub(
            f"{self.repo_id}/{self.filename}",
            self.repo_id,
            self.revision,
            lambda: hf_hub_download(self.repo_id, self.filename, revision=self.revision),
        )


@dataclass(frozen=True)
class HubRepo:
    """A Hugging Face Hub repository (a model or pipeline directory) at commit ``revision``,
    known by ``marker``, the weights file it holds there.

    ``requires`` lists the other files every copy needs (a model's ``config.json``).
    ``alternatives`` are other names a local copy may hold the weights under instead of the
    marker (``from_pretrained`` reads ``model.safetensors`` and ``pytorch_model.bin`` alike).
    ``include`` limits the download to the files a loader reads (repositories often hold
    the same weights in several formats); empty means the whole repository.
    """

    repo_id: str
    marker: str
    include: tuple[str, ...] = ()
    revision: str | None = None
    requires: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()

    cache_name = HUGGING_FACE_CACHE

    @property
    def host(self) -> str:
        """The server the repository is fetched from."""
        return _hub_host()

    def local_files(self) -> tuple[tuple[str, ...], ...]:
        """The files a local copy needs for this artifact (each: alternative names)."""
        return ((self.marker, *self.alternatives), *((name,) for name in self.requires))

    def cached_path(self) -> Path | None:
        """The marker file's path in the Hugging Face cache, or None when the marker or a
        required file is not cached."""
        marker = _hub_cached_path(self.repo_id, self.marker, self.revision)
        if marker is None or any(
            _hub_cached_path(self.repo_id, name, self.revision) is None for name in self.requires
        ):
            return None
        return marker

    def snapshot_dir(self, marker_path: Path) -> Path:
        """The repository's directory, given where its marker file lies."""
        return marker_path.parents[len(Path(self.marker).parts) - 1]

    def fetch_command(self) -> str:
        """The shell command that puts the repository into the Hugging Face cache."""
        include = "".join(f" --include '{pattern}'" for pattern in self.include)
        return f"hf download {self.repo_id}{include}{_revision_option(self.revision)}"

    def fetch(self) -> None:
        """Download the repository's included files into the Hugging Face cache."""
        from huggingface_hub import snapshot_download

        _from_hub(
            self.repo_id,
            self.repo_id,
            self.revision,
            lambda: snapshot_download(
                self.repo_id, revision=self.revision, allow_patterns=list(self.include) or None
            ),
        )


@dataclass(frozen=True)
class TorchHubCheckpoint:
    """A checkpoint torchvision loads from its download URL into the torch hub cache.

    Its file name carries the first hex digits of its SHA-256 (``-7be5be79.pth``), which
    torch hub checks on download and :func:`verify` checks on disk.
    """

    url: str

    cache_name = TORCH_HUB_CACHE

    @property
    def filename(self) -> str:
        """The checkpoint's file name, as torch hub stores it."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def hash_prefix(self) -> str:
        """The leading hex digits of the file's SHA-256 named in its file name."""
        import torch.hub

        found = torch.hub.HASH_REGEX.search(self.filename)
        return found.group(1) if found else ""

    @property
    def host(self) -> str:
        """The server the checkpoint is fetched from."""
        return urlparse(self.url).netloc or self.url

    def local_files(self) -> tuple[tuple[str, ...], ...]:
        """The files a local copy needs for this artifact (each: alternative names)."""
        return ((self.filename,),)

    def _cache_file(self) -> Path:
        import torch.hub

        return Path(torch.hub.get_dir()) / "checkpoints" / self.filename

    def cached_path(self) -> Path | None:
        """The checkpoint's path in the torch hub cache, or None when it is not there."""
        path = self._cache_file()
        return path if path.is_file() else None

    def fetch_command(self) -> str:
        """The shell command that puts the checkpoint into the torch hub cache."""
        return f"python -c \"import torch.hub; torch.hub.load_state_dict_from_url('{self.url}')\""

    def fetch(self) -> None:
        """Download the checkpoint into the torch hub cache, checking its hash prefix."""
        import urllib.error

        import torch.hub

        target = self._cache_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(self.url, str(target), hash_prefix=self.hash_prefix)
        except urllib.error.HTTPError as exc:
            raise WeightsError(f"{self.url}: the server answered HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise HubUnreachableError(
                f"cannot reach {self.host} ({exc.reason})",
                "Download the .pth file from its URL on a machine with internet access and copy "
                "it here with `qualitylab weights import KEY DIR` (DIR: a directory holding it), "
                f"or put it into {target.parent}.",
                self.host,
            ) from None
        except RuntimeError as exc:  # torch hub's hash check
            raise WeightsError(f"{self.url}: the download is corrupt: {exc}") from None


Artifact = HubFile | HubRepo | TorchHubCheckpoint


def _from_hub(
    what: str, repo_id: str, revision: str | None, download: Callable[[], object]
) -> None:
    """Run a huggingface_hub download of ``what``, turning its errors into WeightsError."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    at = f" at revision {revision}" if revision else ""
    try:
        download()
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "no network connection"
        raise HubUnreachableError(
            f"cannot reach the Hugging Face Hub at {constants.ENDPOINT} ({why})",
            "Run `qualitylab weights download KEY` on a machine with internet access and copy "
            "the files here with `qualitylab weights import KEY DIR` (DIR: the directory "
            "`qualitylab weights list` shows there), or set HF_ENDPOINT to a reachable mirror "
            "of the Hub.",
            constants.ENDPOINT,
        ) from None
    except GatedRepoError:
        raise WeightsError(
            f"{repo_id} is gated",
            f"Accept its licence at https://huggingface.co/{repo_id}, then log in with "
            "`hf auth login` and download again.",
        ) from None
    except RepositoryNotFoundError:
        raise WeightsError(
            f"repository {repo_id} not found (or private)", "Log in with `hf auth login`."
        ) from None
    except RevisionNotFoundError:
        raise WeightsError(f"{repo_id} has no revision {revision}") from None
    except RemoteEntryNotFoundError:
        raise WeightsError(f"{what} does not exist{at}") from None
    except HfHubHTTPError as exc:
        raise WeightsError(f"{what}{at}: the hub answered: {exc}") from None
    except OSError as exc:
        raise WeightsError(f"{what}{at}: {exc}") from None
