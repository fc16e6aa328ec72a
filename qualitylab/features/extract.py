"""The extraction engine: decode each video once, feed every extractor, store the signals.

A run over a manifest hashes each video, skips the extractors whose records are already
stored for that content and settings, decodes the video once for the others and streams
its frames to them in chunks, so a long video is never held in memory whole. A video
that cannot be read, or an extractor that fails on it, is recorded as a failure and the
run goes on. Work is spread over worker processes; each loads its extractors once.
"""

from __future__ import annotations

import os
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from qualitylab.data.video import (
    Sampling,
    VideoDecodeError,
    VideoInfo,
    iter_frames,
    probe,
    sha256_file,
)
from qualitylab.features.base import Chunk, Extractor, ExtractorConfig, ExtractorSpec, config_hash
from qualitylab.features.names import signal_name
from qualitylab.features.registry import extractor_class, get_spec, resolve_config
from qualitylab.features.store import FeatureStore, SignalRecord, StoreKey, record_key
from qualitylab.workers import retain_freed_memory, worker_pool

# A chunk holds about this many bytes of decoded frames (at least one frame, at most 32).
_CHUNK_BYTES = 64 * 2**20
_MAX_CHUNK_FRAMES = 32
VIDEO_STAGE = "video"


@dataclass(frozen=True)
class ExtractorPlan:
    """An extractor to run: its registry entry, its validated config and their hash."""

    spec: ExtractorSpec
    config: ExtractorConfig
    config_hash: str

    @property
    def reads_prompt(self) -> bool:
        """True when the signals depend on the prompt as well as the frames."""
        return self.spec.kind == "prompt_frame"

    def key(self, sha256: str, prompt: str) -> StoreKey:
        """The store key of this extractor's record for the video with ``sha256``."""
        return record_key(
            sha256,
            self.spec.name,
            self.spec.version,
            self.config_hash,
            prompt if self.reads_prompt else None,
        )

    def describe(self) -> dict[str, Any]:
        """Name, version, config and hash, for run records."""
        return {
            "name": self.spec.name,
            "version": self.spec.version,
            "config": self.config.model_dump(mode="json"),
            "config_hash": self.config_hash,
            "reads_prompt": self.reads_prompt,
        }


def plan_extractors(
    names: Sequence[str],
    sampling: Sampling,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[ExtractorPlan]:
    """Resolve extractor names and per-extractor setting overrides into plans.

    Automatic settings (device, precision) are resolved for this machine. Raises
    UnknownExtractorError for an unknown name and ValueError for a bad setting, a device
    that is not available, or an override naming an extractor that is not requested.
    """
    overrides = dict(overrides or {})
    stray = sorted(set(overrides) - set(names))
    if stray:
        raise ValueError(
            f"settings given for extractors that are not requested: {', '.join(stray)}"
        )
    plans = []
    for name in dict.fromkeys(names):
        spec = get_spec(name)
        config = resolve_config(spec, overrides.get(name)).resolved()
        plans.append(ExtractorPlan(spec, config, config_hash(config, sampling.to_dict())))
    return plans


@dataclass(frozen=True)
class VideoTask:
    """One video to process: its manifest id, path and prompt."""

    id: str
    path: str
    prompt: str


@dataclass
class VideoResult:
    """What happened to one video: stored and reused extractors, failures, frames, time."""

    task: VideoTask
    sha256: str | None = None
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)


def video_facts(info: VideoInfo) -> dict[str, Any]:
    """What the index and the tables record about a video file (see ``FACT_COLUMNS``)."""
    return {
        "video_width": info.width,
        "video_height": info.height,
        "video_fps": info.fps,
        "video_seconds": info.duration,
        "video_frames": info.num_frames,
        "video_warnings": list(info.warnings),
    }


# The facts about each video file that tables carry beside the manifest's columns.
FACT_COLUMNS = ("video_width", "video_height", "video_fps", "video_seconds", "video_frames")


def extract_video(
    task: VideoTask, plans: Sequence[ExtractorPlan], sampling: Sampling, store_root: str
) -> VideoResult:
    """Hash one video, compute the signals the store lacks, and store them.

    Never raises for a bad video: every failure is in the result, keyed by the extractor's
    name (or ``"video"`` when the file itself could not be read).
    """
    started = time.perf_counter()
    result = VideoResult(task)
    store = FeatureStore(store_root)
    if not task.path:
        result.failures[VIDEO_STAGE] = "the manifest row has no video path"
        return result
    try:
        result.sha256 = sha256_file(task.path)
    except OSError as exc:
        result.failures[VIDEO_STAGE] = f"cannot read video {task.path}: {exc.strerror or exc}"
        return result
    facts = store.video_facts(result.sha256)
    if facts is None:
        try:
            facts = video_facts(probe(task.path))
        except VideoDecodeError as exc:
            result.failures[VIDEO_STAGE] = str(exc)
            return result
        store.put_video_facts(result.sha256, facts)
    result.facts = facts
    result.warnings = list(facts["video_warnings"])
    missing = [plan for plan in plans if not store.has(plan.key(result.sha256, task.prompt))]
    result.reused = [plan.spec.name for plan in plans if plan not in missing]
    if missing:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _compute_claimed(task, missing, sampling, store, result)
        known = set(result.warnings)
        result.warnings += [str(w.message) for w in caught if str(w.message) not in known]
    result.seconds = time.perf_counter() - started
    return result


def _compute_claimed(
    task: VideoTask,
    plans: Sequence[ExtractorPlan],
    sampling: Sampling,
    store: FeatureStore,
    result: VideoResult,
) -> None:
    """Compute the records of ``plans`` under their store claims, so that no two runs
    compute one record at once: first those no one else is computing, then, after waiting
    for the other writers (in one global order, so that no two runs wait on each other),
    whatever they did not store."""
    keys = {plan.spec.name: plan.key(result.sha256, task.prompt) for plan in plans}
    for wait in (False, True):
        held, others = [], []
        for plan in sorted(plans, key=lambda plan: str(store.path(keys[plan.spec.name]))):
            claim = store.claim(keys[plan.spec.name], wait=wait)
            (held if claim else others).append((plan, claim))
        try:
            todo = [plan for plan, _ in held if not store.has(keys[plan.spec.name])]
            result.reused += [plan.spec.name for plan, _ in held if plan not in todo]
            if todo:
                _compute(task, todo, sampling, store, result)
        finally:
            for _, claim in held:
                claim.release()
        plans = [plan for plan, _ in others]
        if not plans:
            return


def _compute(
    task: VideoTask,
    plans: Sequence[ExtractorPlan],
    sampling: Sampling,
    store: FeatureStore,
    result: VideoResult,
) -> None:
    running: dict[str, _SignalCollector] = {}
    for plan in plans:
        try:
            running[plan.spec.name] = _SignalCollector(plan, _loaded_extractor(plan))
        except Exception as exc:  # e.g. weights that cannot be loaded
            result.failures[plan.spec.name] = _describe(exc)
    indices: list[int] = []
    timestamps: list[float] = []
    previous: np.ndarray | None = None
    try:
        for images in _chunks(iter_frames(task.path, sampling)):
            frames = np.stack([frame.image for frame in images])
            times = np.array([frame.timestamp for frame in images], np.float64)
            chunk = Chunk(
                frames,
                previous,
                task.prompt,
                task.id,
                timestamps=times,
                previous_timestamp=timestamps[-1] if timestamps else None,
            )
            indices.extend(frame.index for frame in images)
            timestamps.extend(times.tolist())
            for name, collector in list(running.items()):
                try:
                    collector.feed(chunk)
                except Exception as exc:  # an extractor's bug or bad input must not stop the run
                    result.failures[name] = _describe(exc)
                    del running[name]
            if not running:
                return
            previous = frames[-1].copy()
    except Exception as exc:
        message = _describe(exc)
        result.failures.update({name: message for name in running})
        return
    result.frames = len(indices)
    for name, collector in running.items():
        record = collector.record(np.array(indices), np.array(timestamps), sampling)
        store.put(collector.plan.key(result.sha256, task.prompt), record)
        result.computed.append(name)


def _chunks(frames: Iterator) -> Iterator[list]:
    """Group streamed frames into chunks of about ``_CHUNK_BYTES``."""
    chunk: list = []
    size = _MAX_CHUNK_FRAMES
    for frame in frames:
        if not chunk:
            size = max(1, min(_MAX_CHUNK_FRAMES, _CHUNK_BYTES // frame.image.nbytes))
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _SignalCollector:
    """Feeds chunks to one extractor, checks what it returns, and gathers the signals."""

    def __init__(self, plan: ExtractorPlan, extractor: Extractor) -> None:
        self.plan = plan
        self.extractor = extractor
        self.parts: dict[str, list[np.ndarray]] = {s.name: [] for s in plan.spec.signals}

    def feed(self, chunk: Chunk) -> None:
        output = self.extractor.process(chunk)
        pairs = len(chunk.frames) - (chunk.previous is None)
        for signal_spec in self.plan.spec.signals:
            if signal_spec.name not in output:
                raise RuntimeError(f"{self.plan.spec.name} returned no signal {signal_spec.name!r}")
            values = np.asarray(output[signal_spec.name], np.float32).reshape(-1)
            expected = len(chunk.frames) if signal_spec.over == "frame" else pairs
            if len(values) != expected:
                raise RuntimeError(
                    f"{signal_name(self.plan.spec.name, signal_spec.name)}: {len(values)} values for a "
                    f"chunk that needs {expected}"
                )
            self.parts[signal_spec.name].append(values)

    def record(
        self, indices: np.ndarray, timestamps: np.ndarray, sampling: Sampling
    ) -> SignalRecord:
        signals = {
            name: np.concatenate(parts) if parts else np.zeros(0, np.float32)
            for name, parts in self.parts.items()
        }
        return SignalRecord(
            signals=signals,
            frame_indices=indices,
            timestamps=timestamps,
            config=self.plan.config.model_dump(mode="json"),
            sampling=sampling.to_dict(),
        )


# Extractors created in this process, so that models load once per process.
_LOADED: dict[tuple[str, str], Extractor] = {}


def _loaded_extractor(plan: ExtractorPlan) -> Extractor:
    key = (plan.spec.name, plan.config_hash)
    if key not in _LOADED:
        _LOADED[key] = extractor_class(plan.spec)(plan.spec, plan.config)
    return _LOADED[key]


def _describe(exc: BaseException) -> str:
    message = str(exc) or traceback.format_exception_only(exc)[-1].strip()
    return f"{type(exc).__name__}: {message}"


def run_tasks(
    tasks: Sequence[VideoTask],
    plans: Sequence[ExtractorPlan],
    sampling: Sampling,
    store_root: str | Path,
    workers: int = 1,
) -> Iterator[VideoResult]:
    """Process ``tasks`` and yield each result as it completes.

    ``workers`` > 1 runs videos in that many processes; 1 runs them in this process.
    On KeyboardInterrupt the workers are stopped at once; stored records stay complete.
    """
    work = partial(extract_video, plans=plans, sampling=sampling, store_root=str(store_root))
    if workers <= 1:
        yield from map(work, tasks)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    with worker_pool(workers, _init_worker, (threads,)) as executor:
        # Largest files first, so that no long video starts last while the others idle.
        ordered = sorted(tasks, key=_file_size, reverse=True)
        futures = {executor.submit(work, task): task for task in ordered}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # the worker process died (memory, native crash)
                failure = f"worker process failed: {_describe(exc)}"
                yield VideoResult(futures[future], failures={VIDEO_STAGE: failure})


def _file_size(task: VideoTask) -> int:
    try:
        return os.path.getsize(task.path)
    except OSError:
        return 0


def _init_worker(threads: int) -> None:
    """Share the cores fairly between the workers; keep freed frame buffers for reuse."""
    retain_freed_memory()
    # Read by torch when an extractor first imports it; importing it here would slow the
    # start of runs that need no torch.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import cv2

    cv2.setNumThreads(threads)


def default_workers(tasks: int, plans: Sequence[ExtractorPlan] = ()) -> int:
    """Worker processes used when none is asked for: one per core, at most one per task;
    a single process when a learned extractor runs, since every worker would load its
    models (and on a GPU the model's batches already use the device fully)."""
    if any(plan.spec.weights for plan in plans):
        return 1
    return max(1, min(os.cpu_count() or 1, tasks))


def tasks_for(rows: Sequence[tuple[str, str, str]]) -> list[VideoTask]:
    """One task per distinct (video path, prompt), from ``(id, path, prompt)`` rows."""
    tasks: dict[tuple[str, str], VideoTask] = {}
    for identifier, path, prompt in rows:
        tasks.setdefault((path, prompt), VideoTask(identifier, path, prompt))
    return list(tasks.values())
