"""Finding what the service shows: predictors, scored runs and benchmark histories.

- A **predictor** is a model directory given with ``--model`` or found under a root (a
  directory holding ``predictor.json``). Its id is its directory name, made unique with a
  short hash of its path when two share a name.
- A **run** is a scores CSV (``id, prompt, predicted_score`` among its columns): one a job
  wrote (``DATA/jobs/<id>/scores.csv``) or one found under a root. Its predictor is the
  job's, else the ``predictor_id`` column's, else a ``model/`` directory beside the CSV
  (the layout of ``qualitylab demo``). Its per-frame signals are in the job's feature
  store, or in ``<csv stem>_features/`` beside the CSV (the layout of ``qualitylab score``).
  A run's id is a short hash of the CSV's path, so it stays the same across restarts.
- A run is a **benchmark run** when its videos come from a ``qualitylab benchmark``
  directory (``run.json`` with a ``benchmark`` record, next to ``videos/``): the history
  groups them by prompt set and predictor, in the order the runs were made.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qualitylab.serve.jobs import FEATURES_DIR, JOB_FILE, JOBS_DIR, SCORES_FILE
from qualitylab.serve.library import artifact_id, is_predictor_dir

SCORE_HEADER = {"id", "prompt", "predicted_score"}
# Discovery walks at most this many entries per root, so a huge root cannot stall a page.
MAX_ENTRIES = 20000
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", "signals"}
HISTORY_METRICS = ("predicted_score", "quality_index", "uncertainty")


def short_hash(path: Path) -> str:
    """A stable 10-character id of a path."""
    return hashlib.sha1(str(path).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class PredictorRef:
    """A predictor the service knows: its id, directory and ``predictor.json``."""

    id: str
    path: Path
    info: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """What the predictor list shows."""
        cv = self.info.get("cv") or {}
        return {
            "id": self.id,
            "path": str(self.path),
            "target": self.info.get("target"),
            "task": self.info.get("task"),
            "space": self.info.get("space"),
            "features": len(self.info.get("features") or []),
            "rows": self.info.get("rows"),
            "created": self.info.get("created"),
            "spearman_oof": (cv.get("spearman") or {}).get("oof"),
        }


@dataclass(frozen=True)
class RunRef:
    """A scored run: its scores CSV and what is known about how it was made."""

    id: str
    scores: Path
    label: str
    predictor: str | None
    features_dir: Path | None
    created: str
    rows: int
    job: str | None = None
    benchmark: dict[str, Any] | None = field(default=None)

    def summary(self) -> dict[str, Any]:
        """What the run list shows."""
        return {
            "id": self.id,
            "label": self.label,
            "scores": str(self.scores),
            "predictor": self.predictor,
            "rows": self.rows,
            "created": self.created,
            "job": self.job,
            "benchmark": self.benchmark,
            "has_signals": self.features_dir is not None,
        }


def find_predictors(models: list[Path], roots: list[Path]) -> dict[str, PredictorRef]:
    """The predictors given with ``--model`` (which must be model directories) and those
    found under the roots, by id."""
    found: list[Path] = []
    for model in models:
        if not is_predictor_dir(Path(model)):
            raise ValueError(f"--model {model}: not a model directory (no predictor.json)")
        found.append(Path(model).resolve())
    for root in roots:
        for path in _walk(root):
            if path.name == "predictor.json" and path.parent.resolve() not in found:
                found.append(path.parent.resolve())
    names = [path.name for path in found]
    predictors: dict[str, PredictorRef] = {}
    for path, name in zip(found, names):
        pid = name if names.count(name) == 1 else f"{name}-{short_hash(path)[:6]}"
        try:
            info = json.loads((path / "predictor.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        predictors[pid] = PredictorRef(pid, path, info)
    return predictors


def find_runs(
    roots: list[Path], data_dir: Path, predictors: dict[str, PredictorRef]
) -> dict[str, RunRef]:
    """Every scored run the jobs wrote or the roots hold, newest first, by id."""
    known = {ref.path: ref.id for ref in predictors.values()}
    # A scores file names its predictor by artifact id; the service by directory name.
    known.update({artifact_id(ref.path): ref.id for ref in predictors.values()})
    runs: list[RunRef] = []
    seen: set[Path] = set()
    for job_file in sorted((data_dir / JOBS_DIR).glob(f"*/{JOB_FILE}")):
        scores = job_file.parent / SCORES_FILE
        if scores.is_file():
            seen.add(scores.resolve())
            job = json.loads(job_file.read_text(encoding="utf-8"))
            run = _run(scores, job_file.parent / FEATURES_DIR, job, known)
            if run is not None:
                runs.append(run)
    for root in roots:
        for path in _walk(root):
            if path.suffix.lower() == ".csv" and path.resolve() not in seen:
                seen.add(path.resolve())
                features = path.with_name(path.stem + "_features")
                run = _run(path, features if features.is_dir() else None, None, known)
                if run is not None:
                    runs.append(run)
    runs.sort(key=lambda run: run.created, reverse=True)
    return {run.id: run for run in runs}


def _walk(root: Path) -> list[Path]:
    """Files under ``root`` (following no symlinked directory), at most MAX_ENTRIES."""
    files: list[Path] = []
    visited = 0
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        visited += len(dirs) + len(names)
        files += [Path(current) / name for name in sorted(names)]
        if visited > MAX_ENTRIES:
            break
    return files


def _run(
    scores: Path,
    features_dir: Path | None,
    job: dict[str, Any] | None,
    known_predictors: dict[Path | str, str],
) -> RunRef | None:
    """The run of a scores CSV, or None when the CSV is not a scores file."""
    try:
        with scores.open(encoding="utf-8") as file:
            header = set(file.readline().strip().split(","))
            rows = sum(1 for _ in file)
    except (OSError, UnicodeDecodeError):
        return None
    if not SCORE_HEADER <= header:
        return None
    table = pd.read_csv(scores, usecols=lambda c: c in {"video", "predictor_id"}, nrows=1)
    predictor = None
    if job is not None:
        predictor = job.get("model")
    elif "predictor_id" in table.columns and table["predictor_id"].notna().any():
        artifact = str(table["predictor_id"].iloc[0])
        predictor = known_predictors.get(artifact, artifact)
    elif (scores.parent / "model").resolve() in known_predictors:
        predictor = known_predictors[(scores.parent / "model").resolve()]
    first_video = str(table["video"].iloc[0]) if "video" in table and len(table) else None
    benchmark = _benchmark(scores, first_video, job)
    label = (job or {}).get("label") or (benchmark or {}).get("label") or _default_label(scores)
    stamp = datetime.fromtimestamp(scores.stat().st_mtime, UTC).isoformat(timespec="seconds")
    return RunRef(
        id=short_hash(scores.resolve()),
        scores=scores.resolve(),
        label=str(label),
        predictor=predictor,
        features_dir=features_dir.resolve() if features_dir and features_dir.is_dir() else None,
        created=stamp,
        rows=rows,
        job=(job or {}).get("id"),
        benchmark=benchmark,
    )


def _default_label(scores: Path) -> str:
    return f"{scores.parent.name}/{scores.name}"


def _benchmark(scores: Path, first_video: str | None, job: dict[str, Any] | None) -> dict | None:
    """The benchmark record of the run's videos (label and prompt set), if any."""
    candidates = []
    if job is not None:
        source = Path(job["input"])
        candidates.append(source if source.is_dir() else source.parent)
    if first_video:
        video = Path(first_video)
        video = video if video.is_absolute() else scores.parent / video
        candidates += [video.parent, video.parent.parent]
    for directory in candidates:
        try:
            record = json.loads((directory / "run.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(record, dict) and isinstance(record.get("benchmark"), dict):
            bench = record["benchmark"]
            prompt_set = bench.get("prompt_set") or {}
            return {
                "label": str(bench.get("label", directory.name)),
                "prompt_set": str(prompt_set.get("name", "benchmark")),
                "version": str(prompt_set.get("version", "?")),
            }
    return None


def read_scores(run: RunRef) -> pd.DataFrame:
    """The scores of a run, ranked, with the video paths made absolute."""
    table = pd.read_csv(run.scores)
    if "video" in table.columns:
        table["video"] = [
            str(v) if Path(str(v)).is_absolute() else str((run.scores.parent / str(v)).resolve())
            for v in table["video"]
        ]
    return table


def history(runs: dict[str, RunRef], n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Per benchmark prompt set and predictor, the runs in the order they were made, each
    with the mean of every history metric and a percentile bootstrap interval of it
    (videos resampled with replacement)."""
    groups: dict[tuple[str, str, str], list[RunRef]] = {}
    for run in runs.values():
        if run.benchmark is not None:
            key = (run.benchmark["prompt_set"], run.benchmark["version"], run.predictor or "?")
            groups.setdefault(key, []).append(run)
    out = []
    for (prompt_set, version, predictor), members in sorted(groups.items()):
        members.sort(key=lambda run: run.created)
        points = []
        for run in members:
            table = read_scores(run)
            point: dict[str, Any] = {
                "run": run.id,
                "label": run.benchmark["label"],
                "created": run.created,
                "videos": len(table),
            }
            for metric in HISTORY_METRICS:
                if metric in table.columns:
                    values = pd.to_numeric(table[metric], errors="coerce").dropna().to_numpy()
                    point[metric] = _mean_interval(values, n_boot, seed)
            points.append(point)
        out.append(
            {"prompt_set": prompt_set, "version": version, "predictor": predictor, "runs": points}
        )
    return out


def _mean_interval(values: np.ndarray, n_boot: int, seed: int) -> dict[str, float | None]:
    """The mean and its 95% percentile bootstrap interval (None without two values)."""
    if values.size == 0:
        return {"mean": None, "low": None, "high": None}
    mean = float(values.mean())
    if values.size < 2:
        return {"mean": mean, "low": None, "high": None}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, values.size, size=(n_boot, values.size))
    means = values[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": mean, "low": float(low), "high": float(high)}
