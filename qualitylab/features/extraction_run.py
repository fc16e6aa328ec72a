"""A feature-extraction run over a manifest: what it computes and the files it writes
(their layout and readers are in :mod:`qualitylab.features.layout`; the feature protocol
it follows is recorded in ``run.json`` under ``"protocol"``, see
:mod:`qualitylab.features.protocols`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from qualitylab import __version__
from qualitylab.atomic import write_parquet, write_text
from qualitylab.config import store_dir
from qualitylab.data.manifest import Manifest, target_problems
from qualitylab.data.video import Sampling
from qualitylab.errors import QualitylabError
from qualitylab.features.extract import (
    FACT_COLUMNS,
    ExtractorPlan,
    VideoResult,
    default_workers,
    plan_extractors,
    run_tasks,
    tasks_for,
)
from qualitylab.features.layout import (
    FAILURES_FILE,
    INDEX_FILE,
    RUN_FILE,
    read_run_record,
)
from qualitylab.features.learned.runtime import MissingWeightsError, require_weights
from qualitylab.features.protocols import RUN_KEY, THESIS, Protocol
from qualitylab.features.store import FeatureStore
from qualitylab.features.tables import recorded_starts, write_tables


class RunError(QualitylabError):
    """A run that cannot start: bad ids in the manifest, an unknown extractor, a bad setting,
    missing pretrained weights, or a directory that holds another run's tables."""


Purpose = Literal["features", "score"]
Engine = Literal["local", "ray"]


@dataclass
class ExtractionSummary:
    """The outcome of a run: every video's result, whether it was interrupted, the tables."""

    out_dir: Path
    results: list[VideoResult] = field(default_factory=list)
    interrupted: bool = False
    tables: dict[str, Path] = field(default_factory=dict)
    table_rows: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[VideoResult]:
        """The videos with at least one failure."""
        return [result for result in self.results if result.failures]

    @property
    def computed(self) -> int:
        """How many videos had at least one extractor computed (not taken from the store)."""
        return sum(bool(result.computed) for result in self.results)

    @property
    def reused(self) -> int:
        """How many videos were served entirely from the store."""
        return sum(not result.computed and not result.failures for result in self.results)

    @property
    def frames(self) -> int:
        """Frames decoded in this run."""
        return sum(result.frames for result in self.results)


def extract_features(
    manifest: Manifest,
    features: Sequence[str],
    out_dir: str | Path,
    *,
    sampling: Sampling = Sampling(),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    workers: int | None = None,
    store: str | Path | None = None,
    purpose: Purpose = "features",
    protocol: Protocol = THESIS,
    engine: Engine = "local",
    address: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[VideoResult], None] | None = None,
) -> ExtractionSummary:
    """Extract ``features`` for every row of ``manifest`` and write its index and feature
    tables into ``out_dir``. Signals go to the feature ``store`` (default: the one shared
    by every run, :func:`qualitylab.config.store_dir`); only what it lacks is computed.
    Never stops for a bad video.

    ``out_dir`` belongs to one manifest and one purpose (``features`` for
    extract-features, ``score`` for scoring): a directory holding another manifest's or
    another purpose's run is refused (RunError), so that no run overwrites tables that
    another one wrote and that a predictor may have been trained on.

    ``protocol`` (recorded in run.json) decides the tables' aggregations and set types
    and gives its extractors' settings, which ``overrides`` refine; ``sampling`` must be
    its canonical one (see ``Protocol.sampling``).

    ``engine`` ``local`` runs the videos in ``workers`` processes of this machine; ``ray``
    runs them on the Ray cluster at ``address`` (or a local Ray without one), see
    :mod:`qualitylab.features.engines.ray`.

    ``on_start(number of videos)`` and ``on_result(result)`` report progress. On
    KeyboardInterrupt the index, failures and run record of the finished videos are
    written and the summary says ``interrupted``; the next run resumes.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _check_ids(manifest)
    _check_scene_starts(manifest)
    _check_owner(out_dir, manifest, purpose)
    if engine not in ("local", "ray"):
        raise RunError(f"unknown engine {engine!r}; expected local or ray")
    if address is not None and engine != "ray":
        raise RunError("an address is for the ray engine (--engine ray)")
    try:
        protocol.check_sampling(sampling)
        plans = plan_extractors(features, sampling, protocol.settings(features, overrides))
        require_weights({plan.spec.name: plan.spec.weights for plan in plans})
    except (KeyError, ValueError, MissingWeightsError) as exc:
        raise RunError(str(exc)) from None
    store_root = Path(store).expanduser().resolve() if store is not None else store_dir()
    FeatureStore(store_root).remove_temporary_files()
    FeatureStore(store_root).register_run(out_dir)
    record = partial(
        _write_run_record, out_dir, manifest, plans, sampling, protocol, store_root, purpose
    )
    record(finished=False)

    table = manifest.table
    tasks = tasks_for(list(zip(table["id"], table["video"], table["prompt"])))
    summary = ExtractionSummary(out_dir)
    if on_start is not None:
        on_start(len(tasks))
    try:
        if engine == "ray":
            from qualitylab.features.engines.ray import run_tasks_ray

            results = run_tasks_ray(tasks, plans, sampling, store_root, address)
        else:
            workers = workers or default_workers(len(tasks), plans)
            results = run_tasks(tasks, plans, sampling, store_root, workers)
        for result in results:
            summary.results.append(result)
            if on_result is not None:
                on_result(result)
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.problems = [
        f"row {problem.row} (id {problem.id!r}): {problem.message}; empty in the tables"
        for problem in target_problems(manifest)
    ]
    _write_index(out_dir, manifest, summary.results)
    _write_failures(out_dir, summary.results)
    if not summary.interrupted:
        record(finished=True)
        summary.tables, summary.table_rows = write_tables(out_dir)
    summary.seconds = time.perf_counter() - started
    return summary


def _check_owner(out_dir: Path, manifest: Manifest, purpose: Purpose) -> None:
    """RunError when ``out_dir`` holds the run of another manifest or purpose."""
    if not (out_dir / RUN_FILE).is_file():
        return
    run = read_run_record(out_dir)
    previous_purpose = run.get("purpose", "features")
    previous_manifest = run.get("manifest")
    if previous_purpose == purpose and previous_manifest == _absolute_if_path(manifest.source):
        return
    made_by = "qualitylab score" if previous_purpose == "score" else "qualitylab extract-features"
    raise RunError(
        f"{out_dir} holds the tables that {made_by} wrote for {previous_manifest}; they are "
        "left as they are (a predictor may have been trained on them). Write this run to "
        "another directory."
    )


def _check_scene_starts(manifest: Manifest) -> None:
    try:
        recorded_starts(manifest.table)
    except ValueError as exc:
        raise RunError(f"{manifest.source}: {exc}") from None


def _check_ids(manifest: Manifest) -> None:
    ids = manifest.table["id"]
    empty = [str(row) for row, value in enumerate(ids, start=1) if not value]
    duplicated = sorted(set(ids[ids.duplicated() & (ids != "")]))
    problems = []
    if empty:
        problems.append(f"empty id in row(s) {', '.join(empty)}")
    if duplicated:
        problems.append(f"duplicate id(s) {', '.join(map(repr, duplicated))}")
    if problems:
        raise RunError(
            f"{manifest.source}: {'; '.join(problems)}. Every row needs a unique id "
            "(see `qualitylab datasets validate`)."
        )


def _write_run_record(
    out_dir: Path,
    manifest: Manifest,
    plans: Sequence[ExtractorPlan],
    sampling: Sampling,
    protocol: Protocol,
    store_root: Path,
    purpose: Purpose,
    *,
    finished: bool,
) -> None:
    record = {
        "qualitylab_version": __version__,
        "purpose": purpose,
        "store": str(store_root),
        "manifest": _absolute_if_path(manifest.source),
        "mapping": {
            "video": manifest.mapping.video,
            "prompt": manifest.mapping.prompt,
            "id": manifest.mapping.id,
        },
        "targets": list(manifest.targets),
        "sampling": sampling.to_dict(),
        RUN_KEY: protocol.record(),
        "extractors": [plan.describe() for plan in plans],
        "finished": finished,
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / RUN_FILE, json.dumps(record, indent=2) + "\n")


def _absolute_if_path(source: str) -> str:
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source


def _write_index(out_dir: Path, manifest: Manifest, results: Sequence[VideoResult]) -> None:
    by_task = {(r.task.path, r.task.prompt): r for r in results}
    index = manifest.table.copy()
    for target in manifest.targets:
        index[target] = pd.to_numeric(index[target], errors="coerce")
    matched = [
        by_task.get((video, prompt)) for video, prompt in zip(index["video"], index["prompt"])
    ]
    index["sha256"] = [result.sha256 if result else None for result in matched]
    for column in FACT_COLUMNS:
        index[column] = [
            result.facts.get(column) if result and result.facts else None for result in matched
        ]
    index["warnings"] = ["; ".join(result.warnings) if result else "" for result in matched]
    write_parquet(index, out_dir / INDEX_FILE)


def _write_failures(out_dir: Path, results: Sequence[VideoResult]) -> None:
    rows = [
        {
            "id": result.task.id,
            "video": result.task.path,
            "sha256": result.sha256,
            "extractor": extractor,
            "error": error,
        }
        for result in results
        for extractor, error in result.failures.items()
    ]
    columns = ["id", "video", "sha256", "extractor", "error"]
    write_parquet(pd.DataFrame(rows, columns=columns), out_dir / FAILURES_FILE)
