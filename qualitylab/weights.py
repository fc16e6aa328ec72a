"""The catalogue of pretrained weights qualitylab knows, where each is found locally, and the
operations behind ``qualitylab weights``: download, import and verify.

A model is *present* when every artifact it needs is on disk: a complete local copy under
``weights_dir()/<key>`` (made by ``qualitylab weights import`` or by hand), the Hugging Face
cache, or the torch hub checkpoint directory. A local copy is complete when it holds every
file the model needs, non-empty; a partial one is reported with what it lacks and does not
count. Hub files are pinned to a commit (``revision``), so the cache is read, and downloads
fetch, exactly that commit. Nothing downloads except :func:`download`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import urlparse

from qualitylab.atomic import swap_in_directory
from qualitylab.config import weights_dir

HUGGING_FACE_CACHE = "Hugging Face cache"
TORCH_HUB_CACHE = "torch hub cache"
_SHA256_NAME = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1_NAME = re.compile(r"[0-9a-f]{40}")


class WeightsError(Exception):
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


# What a transformers model directory needs: configs, tokenizer files and the weights.
_TRANSFORMERS_FILES = ("*.json", "*.txt", "*.model", "*.safetensors")


def _transformers_repo(repo_id: str, revision: str, *extra: str) -> HubRepo:
    return HubRepo(
        repo_id,
        "model.safetensors",
        (*_TRANSFORMERS_FILES, *extra),
        revision,
        requires=("config.json",),
        alternatives=("pytorch_model.bin",),
    )


def _diffusers_fp16_pipeline(repo_id: str, revision: str) -> HubRepo:
    return HubRepo(
        repo_id,
        "unet/diffusion_pytorch_model.fp16.safetensors",
        ("*.json", "*.fp16.safetensors"),
        revision,
        requires=("model_index.json",),
    )


@dataclass(frozen=True)
class PretrainedModel:
    """A pretrained model qualitylab can use: its key, what it is for and what it needs."""

    key: str
    description: str
    artifacts: tuple[Artifact, ...]
    note: str = ""

    def local_dir(self) -> Path:
        """The directory a local copy of this model's weights lives in."""
        return weights_dir() / self.key

    def local_files(self) -> tuple[tuple[str, ...], ...]:
        """The files a local copy needs, each as its alternative names."""
        return tuple(group for artifact in self.artifacts for group in artifact.local_files())

    def unpinned_repos(self) -> tuple[str, ...]:
        """The hub repositories this model reads at their moving main branch."""
        repos = (
            artifact.repo_id
            for artifact in self.artifacts
            if isinstance(artifact, HubFile | HubRepo) and artifact.revision is None
        )
        return tuple(dict.fromkeys(repos))


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


CATALOGUE: tuple[PretrainedModel, ...] = (
    PretrainedModel(
        "clip_b32",
        "CLIP ViT-B/32 text-frame similarity",
        # The repository's main branch holds its weights as pytorch_model.bin only.
        (
            HubRepo(
                "openai/clip-vit-base-patch32",
                "pytorch_model.bin",
                ("*.json", "*.txt", "pytorch_model.bin"),
                "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268",
                requires=("config.json",),
                alternatives=("model.safetensors",),
            ),
        ),
    ),
    PretrainedModel(
        "clip_l14",
        "CLIP ViT-L/14 text-frame similarity",
        (
            _transformers_repo(
                "openai/clip-vit-large-patch14", "32bd64288804d66eefd0ccbe215aa642df71cc41"
            ),
        ),
    ),
    PretrainedModel(
        "siglip_so400m",
        "SigLIP so400m-patch14-384 text-frame similarity",
        (
            _transformers_repo(
                "google/siglip-so400m-patch14-384", "9fdffc58afc957d1a03a25b10dba0329ab15c2a3"
            ),
        ),
    ),
    PretrainedModel(
        "siglip_l16",
        "SigLIP large-patch16-384 text-frame similarity",
        (
            _transformers_repo(
                "google/siglip-large-patch16-384", "ce005573a40965dfd21fd937fbdeeebf2439fc35"
            ),
        ),
    ),
    PretrainedModel(
        "jina_clip_v2",
        "Jina-CLIP v2 text-frame similarity",
        (
            _transformers_repo(
                "jinaai/jina-clip-v2", "344d954da76eb8ad47a7aaff42d012e30c15b8fe", "*.py"
            ),
        ),
        note="loads with trust_remote_code: its modeling code comes from the hub repository "
        "jinaai/jina-clip-implementation (and needs einops), so its first load must reach "
        "the hub or find that code in the Hugging Face cache",
    ),
    PretrainedModel(
        "hps_v2",
        "HPS v2 (open_clip ViT-H/14) text-frame preference",
        (
            HubFile(
                "xswu/HPSv2", "HPS_v2_compressed.pt", "697403c78157020a1ae59d23f111aa58ced35b0a"
            ),
        ),
        note="the checkpoint holds the whole ViT-H/14 model",
    ),
    PretrainedModel(
        "imagereward",
        "ImageReward v1.0 reward of (prompt, frame)",
        (
            HubFile(
                "THUDM/ImageReward", "ImageReward.pt", "5736be03b2652728fb87788c9797b0570450ab72"
            ),
            HubFile(
                "THUDM/ImageReward", "med_config.json", "5736be03b2652728fb87788c9797b0570450ab72"
            ),
            HubFile(
                "google-bert/bert-base-uncased",
                "vocab.txt",
                "86b5e0934494bd15c9632b12f734a8a67f723594",
            ),
            HubFile(
                "google-bert/bert-base-uncased",
                "tokenizer_config.json",
                "86b5e0934494bd15c9632b12f734a8a67f723594",
            ),
        ),
    ),
    PretrainedModel(
        "lpips_alex",
        "LPIPS (AlexNet) distance of neighbouring frames",
        (TorchHubCheckpoint("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),),
        note="the LPIPS linear layers ship inside the lpips package",
    ),
    PretrainedModel(
        "raft_large",
        "RAFT large optical flow of neighbouring frames",
        (
            TorchHubCheckpoint(
                "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth"
            ),
        ),
    ),
    PretrainedModel(
        "svd_xt",
        "Stable Video Diffusion img2vid-xt (generation)",
        (
            _diffusers_fp16_pipeline(
                "stabilityai/stable-video-diffusion-img2vid-xt",
                "9e43909513c6714f1bc78bcb44d96e733cd242aa",
            ),
        ),
        note="accept the model's licence on the hub and run `hf auth login` first",
    ),
    PretrainedModel(
        "svd_xt_1_1",
        "Stable Video Diffusion img2vid-xt-1-1 (generation)",
        (
            _diffusers_fp16_pipeline(
                "stabilityai/stable-video-diffusion-img2vid-xt-1-1",
                "043843887ccd51926e3efed36270444a838e7861",
            ),
        ),
        note="gated: accept the model's licence on the hub and run `hf auth login` first",
    ),
    PretrainedModel(
        "sdxl_base",
        "Stable Diffusion XL base 1.0 text-to-image keyframes (generation)",
        # The fp16 variant of every component, and the tokenizers' vocab.json/merges.txt.
        (
            HubRepo(
                "stabilityai/stable-diffusion-xl-base-1.0",
                "unet/diffusion_pytorch_model.fp16.safetensors",
                ("*.json", "*.txt", "*.fp16.safetensors"),
                "462165984030d82259a11f4367a4eed129e94a7b",
                requires=("model_index.json",),
            ),
        ),
    ),
)


def find_model(key: str) -> PretrainedModel:
    """The catalogue entry named ``key``; a KeyError lists the known keys."""
    for model in CATALOGUE:
        if model.key == key:
            return model
    known = ", ".join(model.key for model in CATALOGUE)
    raise KeyError(f"unknown pretrained model {key!r}; known models: {known}")


def report() -> list[Availability]:
    """Where the weights of every model of the catalogue are, or what they lack."""
    return [availability(model) for model in CATALOGUE]


def availability(model: PretrainedModel) -> Availability:
    """Where ``model``'s weights are found on disk, and which of its artifacts are missing."""
    local = model.local_dir()
    lacks = _lacking(model, local) if local.is_dir() else ()
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


def _lacking(model: PretrainedModel, directory: Path) -> tuple[str, ...]:
    """The needed files ``directory`` lacks or holds empty, as 'a or b' for alternatives."""
    lacks = []
    for names in model.local_files():
        paths = [directory / name for name in names]
        if not any(path.is_file() and path.stat().st_size > 0 for path in paths):
            empty = " (empty)" if any(path.is_file() for path in paths) else ""
            lacks.append(" or ".join(names) + empty)
    return tuple(lacks)


def _files_under(directory: Path) -> list[Path]:
    """The files below ``directory`` (broken links included), hidden entries left out."""
    return sorted(
        path
        for path in directory.rglob("*")
        if (path.is_file() or path.is_symlink())
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )


def _found_files(found: Availability) -> list[Path]:
    """Every file of a present model as a loader reads it: the local copy's files, the
    snapshot of each hub repository, and each single file."""
    if found.local:
        return _files_under(found.model.local_dir())
    files: list[Path] = []
    for artifact, location in zip(found.model.artifacts, found.locations):
        if isinstance(artifact, HubRepo):
            files.extend(_files_under(artifact.snapshot_dir(location)))
        else:
            files.append(location)
    return files


def disk_size(found: Availability) -> int:
    """The bytes a present model's files take on disk (each stored file counted once)."""
    stored = {path.resolve() for path in _found_files(found) if path.exists()}
    return sum(path.stat().st_size for path in stored)


def _digest(path: Path, algorithm: str, header: bytes = b"") -> str:
    digest = hashlib.new(algorithm, header)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_problem(path: Path, hash_prefix: str = "") -> str | None:
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


def _hash_prefixes(model: PretrainedModel) -> dict[str, str]:
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
    files = _found_files(found)
    prefixes = _hash_prefixes(model)
    for path in files:
        problem = _file_problem(path, prefixes.get(path.name, ""))
        if problem:
            problems.append(f"{path}: {problem}")
    return Verification(model, True, len(files), tuple(problems))


@dataclass(frozen=True)
class DownloadResult:
    """What :func:`download` did for one model: ``status`` is present (nothing to do),
    downloaded, failed or skipped (its server was found unreachable before); ``message``
    says where the weights are or why they are not, ``hint`` what to do."""

    model: PretrainedModel
    status: str
    message: str
    hint: str = ""


def download(models: Iterable[PretrainedModel]) -> Iterator[DownloadResult]:
    """Fetch each model's missing artifacts into the Hugging Face or torch hub cache at
    their pinned revisions, yielding one result per model as it finishes. Once a server
    proves unreachable, the models that need it are skipped."""
    unreachable: dict[str, HubUnreachableError] = {}
    for model in models:
        found = availability(model)
        if found.present:
            yield DownloadResult(model, "present", f"already in the {found.where}")
            continue
        blocked = [unreachable[a.host] for a in found.missing if a.host in unreachable]
        if blocked:
            yield DownloadResult(model, "skipped", str(blocked[0]), blocked[0].hint)
            continue
        try:
            for artifact in found.missing:
                artifact.fetch()
        except WeightsError as exc:
            if isinstance(exc, HubUnreachableError):
                unreachable[exc.host] = exc
            yield DownloadResult(model, "failed", str(exc), exc.hint)
            continue
        found = availability(model)
        if found.present:
            where = ", ".join(map(str, found.directories()))
            yield DownloadResult(model, "downloaded", f"into the {found.where}: {where}")
        else:
            still = ", ".join(artifact.fetch_command() for artifact in found.missing)
            yield DownloadResult(model, "failed", f"downloaded, but still missing: {still}")


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
    relative = (path.relative_to(source).as_posix() for path in _files_under(source))
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
    lacks = _lacking(model, source)
    if lacks:
        raise WeightsError(f"{source} does not hold {model.key}: it lacks {', '.join(lacks)}")
    files = _files_to_copy(model, source)
    prefixes = _hash_prefixes(model)
    problems = [
        f"{name}: {problem}"
        for name in files
        if (problem := _file_problem(source / name, prefixes.get(Path(name).name, "")))
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
