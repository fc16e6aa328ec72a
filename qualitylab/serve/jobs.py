"""Jobs: kept in SQLite, run in worker processes, followed by polling.

A job is a row of ``jobs.sqlite`` in the service's data directory: its kind (``score``,
``extract``), its parameters (paths already checked against the roots), its status
(``queued`` → ``running`` → ``done`` / ``failed`` / ``cancelled``; ``interrupted`` when
the service stopped under it), its stage, videos done/total and its result. The worker
processes write their progress into the same database, so the API answers from it
without waiting for them.

Each job writes into ``DATA/jobs/<id>/``: ``job.json`` (what was asked), the feature
store it extracts into (``features/``) and, for scoring, ``scores.csv``. A job that was
running or interrupted when the service stopped is queued again when it starts; the
store keeps the videos it finished, so they are not computed again.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qualitylab.atomic import write_text

JobKind = Literal["score", "extract", "evaluate"]
FINAL = ("done", "failed", "cancelled")
JOBS_DIR = "jobs"
JOB_FILE = "job.json"
SCORES_FILE = "scores.csv"
FEATURES_DIR = "features"
EVALUATION_DIR = "evaluation"
# Values of the ``cancel`` column: why a running job should stop at its next video.
_BY_USER, _BY_SHUTDOWN = 1, 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    computed INTEGER NOT NULL DEFAULT 0,
    params TEXT NOT NULL,
    result TEXT,
    error TEXT,
    cancel INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    progress_started REAL,
    progress_base INTEGER NOT NULL DEFAULT 0,
    finished REAL
)
"""


class JobParams(BaseModel):
    """What a job works on, with every path already resolved inside the roots."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str
    prompts: str | None = None
    model: str | None = None
    model_dir: str | None = None
    extractors: list[str] | None = None
    label: str | None = None
    target: str | None = None
    group_by: str | None = None
    pair_by: str | None = "prompt"
    raters: list[str] | None = None


@dataclass(frozen=True)
class Job:
    """One row of the job table, with its ETA worked out."""

    id: str
    kind: str
    status: str
    stage: str
    done: int
    total: int | None
    computed: int
    eta_seconds: float | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created: float
    started: float | None
    finished: float | None

    def to_json(self) -> dict[str, Any]:
        """The job as the API returns it: every field, in order, with times in ISO 8601."""
        times = {name: _iso(getattr(self, name)) for name in ("created", "started", "finished")}
        return asdict(self) | times


def _iso(stamp: float | None) -> str | None:
    return None if stamp is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


class JobStore:
    """The job table in ``DATA/jobs.sqlite``; safe to open from several processes."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "jobs.sqlite"
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    def job_dir(self, job_id: str) -> Path:
        """Where the job writes its files."""
        return self.data_dir / JOBS_DIR / job_id

    def create(self, kind: str, params: JobParams) -> Job:
        """A new queued job; its ``job.json`` records what was asked."""
        job_id = uuid.uuid4().hex[:12]
        now = time.time()
        payload = params.model_dump(mode="json")
        job_dir = self.job_dir(job_id)
        job_dir.mkdir(parents=True)
        write_text(
            job_dir / JOB_FILE,
            json.dumps({"id": job_id, "kind": kind, "created": _iso(now), **payload}, indent=2),
        )
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, kind, status, stage, params, created) "
                "VALUES (?, ?, 'queued', 'queued', ?, ?)",
                (job_id, kind, json.dumps(payload), now),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        """The job with ``job_id``; KeyError when there is none."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return _job(row)

    def list(self, limit: int = 100) -> list[Job]:
        """The latest jobs, newest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_job(row) for row in rows]

    def queued(self) -> list[str]:
        """The ids of the queued jobs, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE status = 'queued' ORDER BY created"
            ).fetchall()
        return [row["id"] for row in rows]

    def requeue_unfinished(self) -> list[str]:
        """Queue again the jobs that were running or interrupted when the service
        stopped; returns their ids."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE status IN ('running', 'interrupted')"
            ).fetchall()
            db.execute(
                "UPDATE jobs SET status = 'queued', stage = 'queued (resumed after a restart)', "
                "cancel = 0, error = NULL WHERE status IN ('running', 'interrupted')"
            )
        return [row["id"] for row in rows]

    def claim(self, job_id: str) -> bool:
        """Mark a queued job as running; False when it is no longer queued."""
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE jobs SET status = 'running', stage = 'starting', started = ?, "
                "done = 0, computed = 0, total = NULL WHERE id = ? AND status = 'queued'",
                (time.time(), job_id),
            )
        return cursor.rowcount == 1

    def set_stage(self, job_id: str, stage: str, total: int | None = None) -> None:
        """Record the stage a running job reached (and how many videos it has)."""
        with self._connect() as db:
            if total is None:
                db.execute("UPDATE jobs SET stage = ? WHERE id = ?", (stage, job_id))
            else:
                db.execute(
                    "UPDATE jobs SET stage = ?, total = ?, done = 0, progress_started = ?, "
                    "progress_base = 0 WHERE id = ?",
                    (stage, total, time.time(), job_id),
                )

    def advance(self, job_id: str, computed: bool) -> int:
        """Count one more finished video; returns the job's cancel request (0: none)."""
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET done = done + 1, computed = computed + ?, "
                "progress_base = CASE WHEN ? THEN progress_base ELSE progress_base + 1 END "
                "WHERE id = ?",
                (int(computed), int(computed), job_id),
            )
            row = db.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return int(row["cancel"])

    def finish(
        self,
        job_id: str,
        status: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record how a job ended."""
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET status = ?, stage = ?, result = ?, error = ?, finished = ? "
                "WHERE id = ?",
                (
                    status,
                    status,
                    json.dumps(result) if result is not None else None,
                    error,
                    time.time(),
                    job_id,
                ),
            )

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or ask a running one to stop at its next video;
        KeyError for an unknown job, ValueError for one that has already ended."""
        job = self.get(job_id)
        if job.status in FINAL:
            raise ValueError(f"job {job_id} has already ended ({job.status})")
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET status = 'cancelled', stage = 'cancelled', finished = ? "
                "WHERE id = ? AND status IN ('queued', 'interrupted')",
                (time.time(), job_id),
            )
            db.execute(
                "UPDATE jobs SET cancel = ?, stage = 'cancelling' "
                "WHERE id = ? AND status = 'running'",
                (_BY_USER, job_id),
            )
        return self.get(job_id)

    def stop_running(self) -> None:
        """Ask every running job to stop at its next video because the service stops."""
        with self._connect() as db:
            db.execute("UPDATE jobs SET cancel = ? WHERE status = 'running'", (_BY_SHUTDOWN,))

    def cancel_reason(self, job_id: str) -> int:
        """0 when the job may go on, else why it should stop."""
        with self._connect() as db:
            row = db.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return int(row["cancel"]) if row else _BY_USER


def _job(row: sqlite3.Row) -> Job:
    """A Job from its row; the ETA assumes the videos still to compute take as long as
    those computed so far in this attempt (videos reused from the store take no time)."""
    eta = None
    total, done = row["total"], row["done"]
    if row["status"] == "running" and total and row["progress_started"]:
        computed_here = done - row["progress_base"]
        if computed_here > 0:
            per_video = (time.time() - row["progress_started"]) / computed_here
            eta = round(per_video * (total - done), 1)
    return Job(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        stage=row["stage"],
        done=done,
        total=total,
        computed=row["computed"],
        params=json.loads(row["params"]),
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        eta_seconds=eta,
    )


def execute_job(data_dir: str, job_id: str) -> None:
    """Run one queued job to its end, in a worker process, recording progress and the
    outcome in the job table. A job that is no longer queued (cancelled) is left alone."""
    from qualitylab.serve import library

    store = JobStore(Path(data_dir))
    if not store.claim(job_id):
        return
    job = store.get(job_id)
    params = JobParams.model_validate(job.params)
    job_dir = store.job_dir(job_id)

    counts = {"total": 0, "done": 0}
    after = {"score": "scoring", "evaluate": "evaluating"}.get(job.kind, "writing the tables")

    def on_start(total: int) -> None:
        counts.update(total=total, done=0)
        store.set_stage(job_id, "extracting features", total)

    def on_video(computed: bool) -> None:
        if store.advance(job_id, computed):
            raise KeyboardInterrupt
        counts["done"] += 1
        if counts["done"] == counts["total"]:
            store.set_stage(job_id, after)

    progress = library.Progress(on_start, on_video)
    try:
        store.set_stage(job_id, "reading the input")
        if job.kind == "score":
            result = library.score_run(
                params.input,
                params.prompts,
                params.model_dir or "",
                job_dir / FEATURES_DIR,
                job_dir / SCORES_FILE,
                progress,
            )
        elif job.kind == "extract":
            result = library.extract_run(
                params.input, params.prompts, params.extractors, job_dir / FEATURES_DIR, progress
            )
        else:
            result = library.evaluate_run(
                params.input,
                params.model_dir or "",
                params,
                job_dir / EVALUATION_DIR,
                progress,
            )
    except KeyboardInterrupt:
        reason = store.cancel_reason(job_id)
        status = "interrupted" if reason == _BY_SHUTDOWN else "cancelled"
        store.finish(job_id, status, error=f"{status}; the finished videos stay in the store")
        return
    except (*library.INPUT_ERRORS, ValueError, OSError, KeyError) as exc:
        store.finish(job_id, "failed", error=str(exc))
        return
    except Exception as exc:  # noqa: BLE001  (any failure ends the job, never the worker)
        store.finish(job_id, "failed", error=f"{type(exc).__name__}: {exc}")
        return
    result["computed"] = store.get(job_id).computed
    store.finish(job_id, "done", result=result)


def _warm_up() -> None:
    """Import the library in a worker before the first job needs it."""
    from qualitylab.serve import library  # noqa: F401


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the service, which stops them through the job table."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class JobRunner:
    """Sends queued jobs to a pool of ``workers`` spawned processes."""

    def __init__(self, store: JobStore, workers: int = 1) -> None:
        self.store = store
        self.workers = workers
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_ignore_interrupts,
        )

    def start(self) -> None:
        """Start the workers, queue again what a stopped service left unfinished, then
        submit every queued job."""
        for _ in range(self.workers):
            self._executor.submit(_warm_up)
        self.store.requeue_unfinished()
        for job_id in self.store.queued():
            self.submit(job_id)

    def submit(self, job_id: str) -> None:
        """Run the queued job ``job_id`` when a worker is free."""
        with self._lock:
            future = self._executor.submit(execute_job, str(self.store.data_dir), job_id)
        future.add_done_callback(lambda done: self._ended(job_id, done))

    def _ended(self, job_id: str, future: Future) -> None:
        """A worker that died takes its job down with it; the pool is replaced."""
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            return
        job = self.store.get(job_id)
        if job.status not in FINAL:
            self.store.finish(job_id, "failed", error=f"the worker process died: {error!r}")
        if isinstance(error, BrokenProcessPool):
            with self._lock:
                self._executor = self._new_executor()

    def stop(self, timeout: float = 20.0) -> None:
        """Ask running jobs to stop at their next video (they become ``interrupted`` and
        resume at the next start) and wait up to ``timeout`` seconds for the workers."""
        self.store.stop_running()
        with self._lock:
            executor = self._executor
        stopper = threading.Thread(
            target=executor.shutdown, kwargs={"wait": True, "cancel_futures": True}
        )
        stopper.start()
        stopper.join(timeout)
        if stopper.is_alive():
            for process in multiprocessing.active_children():
                process.terminate()


class JobRequest(BaseModel):
    """A request for a job on videos already under one of the service's roots."""

    model_config = ConfigDict(extra="forbid")

    kind: JobKind = "score"
    input: str = Field(description="A manifest or a folder of videos, under a root.")
    prompts: str | None = Field(None, description="Prompts file for a folder, under a root.")
    model: str | None = Field(None, description="Predictor id (see GET /api/predictors).")
    extractors: list[str] | None = Field(
        None, description="Extractors of an extract job (default: ssim, flow, technical)."
    )
    label: str | None = Field(None, description="A name for the run, e.g. the model version.")
    target: str | None = Field(
        None, description="Evaluate job: the manifest's rating column to evaluate against."
    )
    group_by: str | None = Field(
        None, description="Evaluate job: correlation within each group, e.g. model."
    )
    pair_by: str | None = Field(
        "prompt", description="Evaluate job: pairwise accuracy within this column's groups."
    )
    raters: list[str] | None = Field(
        None, description="Evaluate job: per-rater columns, for the human ceiling."
    )
