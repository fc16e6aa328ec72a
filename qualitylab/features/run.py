"""A feature-extraction run over a manifest, and the files it leaves in its directory.

``DIR/`` after ``qualitylab extract-features``:

- ``run.json``: the manifest, column mapping, targets, sampling, the feature protocol
  (``"protocol"``, see :mod:`qualitylab.features.protocols`) and every extractor's
  name, version, config and config hash of the latest run;
- ``index.parquet``: one row per manifest row (``id, video, prompt``, the targets) with
  the video's ``sha256`` (empty when the file could not be read) and its warnings;
- ``signals/``: the feature store (see :mod:`qualitylab.features.store`);
- ``failures.parquet``: ``id, video, sha256, extractor, error`` for every failure of the
  latest run (``extractor`` is ``video`` when the file itself could not be read);
- ``features.parquet``, ``features_nonagg.parquet``, ``features_combined.parquet``: the
  aggregated, non-aggregated and combined feature tables (see
  :mod:`qualitylab.features.tables`); a protocol without the non-aggregated set writes
  only ``features.parquet``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from qualitylab import __version__
from qualitylab.atomic import write_parquet, write_text
from qualitylab.data.manifest import Manifest
from qualitylab.data.video import Sampling
from qualitylab.features.extract import (
    ExtractorPlan,
    VideoResult,
    default_workers,
    plan_extractors,
    run_tasks,
    tasks_for,
)
from qualitylab.features.learned.runtime import MissingWeightsError, require_weights
from qualitylab.features.protocols import RUN_KEY, THESIS, Protocol
from qualitylab.features.store import FeatureStore

RUN_FILE = "run.json"
INDEX_FILE = "index.parquet"
FAILURES_FILE = "failures.parquet"


class RunError(Exception):
    """A run that cannot start: bad ids in the manifest, an unknown extractor, a bad setting,
    missing pretrained weights."""


@dataclass
class RunSummary:
    """The outcome of a run: every video's result, whether it was interrupted, the tables."""

    out_dir: Path
    results: list[VideoResult] = field(default_factory=list)
    interrupted: bool = False
    tables: dict[str, Path] = field(default_factory=dict)
    table_rows: int = 0
    seconds: float = 0.0

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
    protocol: Protocol = THESIS,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[VideoResult], None] | None = None,
) -> RunSummary:
    """Extract ``features`` for every row of ``manifest`` into ``out_dir`` and write the
    feature tables. Computes only what the store lacks; never stops for a bad video.

    ``protocol`` (recorded in run.json) decides the tables' aggregations and set types
    and gives its extractors' settings, which ``overrides`` refine; ``sampling`` must be
    its canonical one (see ``Protocol.sampling``).

    ``on_start(number of videos)`` and ``on_result(result)`` report progress. On
    KeyboardInterrupt the index, failures and run record of the finished videos are
    written and the summary says ``interrupted``; the next run resumes.
    """
    from qualitylab.features.tables import write_tables

    started = time.perf_counter()
    out_dir = Path(out_dir)
    _check_ids(manifest)
    try:
        protocol.check_sampling(sampling)
        plans = plan_extractors(features, sampling, protocol.settings(features, overrides))
        require_weights({plan.spec.name: plan.spec.weights for plan in plans})
    except (KeyError, ValueError, MissingWeightsError) as exc:
        raise RunError(str(exc)) from None
    store = FeatureStore(out_dir)
    store.remove_temporary_files()
    _write_run_record(out_dir, manifest, plans, sampling, protocol, finished=False)

    table = manifest.table
    tasks = tasks_for(list(zip(table["id"], table["video"], table["prompt"])))
    summary = RunSummary(out_dir)
    if on_start is not None:
        on_start(len(tasks))
    try:
        for result in run_tasks(
            tasks, plans, sampling, out_dir, workers or default_workers(len(tasks), plans)
        ):
            summary.results.append(result)
            if on_result is not None:
                on_result(result)
    except KeyboardInterrupt:
        summary.interrupted = True
    _write_index(out_dir, manifest, summary.results)
    _write_failures(out_dir, summary.results)
    if not summary.interrupted:
        _write_run_record(out_dir, manifest, plans, sampling, protocol, finished=True)
        summary.tables, summary.table_rows = write_tables(out_dir)
    summary.seconds = time.perf_counter() - started
    return summary


def read_run_record(out_dir: str | Path) -> dict[str, Any]:
    """The ``run.json`` of a features directory; FileNotFoundError names the directory."""
    path = Path(out_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{out_dir}: no {RUN_FILE}; is this an extract-features --out directory?"
        )
    return json.loads(path.read_text())


def read_index(out_dir: str | Path) -> pd.DataFrame:
    """The ``index.parquet`` of a features directory."""
    path = Path(out_dir) / INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir}: no {INDEX_FILE}; run extract-features first")
    return pd.read_parquet(path)


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
    *,
    finished: bool,
) -> None:
    record = {
        "qualitylab_version": __version__,
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
    table = manifest.table
    index = table[["id", "video", "prompt", *manifest.targets]].copy()
    for target in manifest.targets:
        index[target] = pd.to_numeric(index[target], errors="coerce")
    matched = [
        by_task.get((video, prompt)) for video, prompt in zip(table["video"], table["prompt"])
    ]
    index["sha256"] = [result.sha256 if result else None for result in matched]
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
