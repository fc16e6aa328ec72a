"""Fetching missing weights into the Hugging Face or torch hub cache: the only place
qualitylab downloads anything."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from qualitylab.weights.artifacts import HubUnreachableError, WeightsError
from qualitylab.weights.availability import availability
from qualitylab.weights.catalogue import PretrainedModel


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
