"""Extraction on a Ray cluster, with the contract of :func:`qualitylab.features.extract.run_tasks`.

Each video is one CPU task that decodes it and runs the classical extractors; each learned
extractor runs in a pool of actors that load its model once and process whole videos
(decoding them themselves), batched, on the device and precision of the run's plan. On
CUDA a pool has one actor per GPU of the cluster and the pools share each GPU; elsewhere
each pool is one actor, and the actors together take one CPU. All of them write into the same feature
store, which must therefore be a path every node can reach (a shared file system); claims
(see :mod:`qualitylab.features.store`) keep two of them from computing one record.

Every stage runs :func:`qualitylab.features.extract.extract_video`, so the records, the
resume and the per-video failure records are the local engine's; a video's result is the
union of its stages' results.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from qualitylab.config import HOME_ENV
from qualitylab.data.video import Sampling
from qualitylab.features.extract import (
    VIDEO_STAGE,
    ExtractorPlan,
    VideoResult,
    VideoTask,
    extract_video,
)
from qualitylab.workers import retain_freed_memory


def run_tasks_ray(
    tasks: Sequence[VideoTask],
    plans: Sequence[ExtractorPlan],
    sampling: Sampling,
    store_root: str | Path,
    address: str | None = None,
) -> Iterator[VideoResult]:
    """Process ``tasks`` on Ray and yield each video's result once all its stages are done.

    Connects to the cluster at ``address`` (``auto``, ``host:port`` or ``ray://host:10001``)
    or, without one, uses the Ray already initialised in this process or starts a local
    one (stopped again at the end). On KeyboardInterrupt the outstanding work is cancelled.
    """
    import ray

    started_here = not ray.is_initialized()
    # Workers find weights (and nothing else) under the driver's cache root when one is set.
    home = os.environ.get(HOME_ENV)
    env = {"runtime_env": {"env_vars": {HOME_ENV: home}}} if home else {}
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    pending: dict = {}
    try:
        classical = [plan for plan in plans if not plan.spec.learned]
        learned = [plan for plan in plans if plan.spec.learned]
        stages = {task: int(bool(classical)) + len(learned) for task in tasks}
        if classical:
            extract = ray.remote(num_cpus=1, **env)(_extract_in_worker)
            for task in tasks:
                pending[extract.remote(task, classical, sampling, str(store_root))] = task
        for plan in learned:
            pool = _actor_pool(ray, plan, sampling, str(store_root), env, len(learned))
            for position, task in enumerate(tasks):
                pending[pool[position % len(pool)].extract.remote(task)] = task
        partial: dict[VideoTask, list[VideoResult]] = {task: [] for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(done[0])
            partial[task].append(_stage_result(ray, done[0], task))
            if len(partial[task]) == stages[task]:
                yield merge_results(partial.pop(task))
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


def _extract_in_worker(
    task: VideoTask, plans: Sequence[ExtractorPlan], sampling: Sampling, store_root: str
) -> VideoResult:
    """:func:`extract_video` in a Ray worker process, which keeps freed frame buffers for
    reuse as the local engine's workers do."""
    retain_freed_memory()
    return extract_video(task, plans, sampling, store_root)


def _actor_pool(
    ray, plan: ExtractorPlan, sampling: Sampling, store_root: str, env: dict, pools: int
) -> list:
    """The actors of one learned extractor, one of ``pools`` such pools: one actor per GPU
    on CUDA (GPU path, not yet run on a GPU), else one actor. The pools share each GPU and
    one CPU between them, so that actors, which live until the run ends, never hold every
    GPU or CPU while work waits for one."""
    share = {"num_cpus": 1 / (pools + 1)}
    if str(getattr(plan.config, "device", "cpu")).startswith("cuda"):
        count = max(1, int(ray.cluster_resources().get("GPU", 1)))
        share["num_gpus"] = 1 / pools
    else:
        count = 1
    actor = ray.remote(**share, **env)(LearnedWorker)
    return [actor.remote(plan, sampling, store_root) for _ in range(count)]


class LearnedWorker:
    """Runs one learned extractor on whole videos; its model is loaded once per worker (the
    engine keeps loaded extractors per process)."""

    def __init__(self, plan: ExtractorPlan, sampling: Sampling, store_root: str) -> None:
        retain_freed_memory()
        self.plan = plan
        self.sampling = sampling
        self.store_root = store_root

    def extract(self, task: VideoTask) -> VideoResult:
        """The video's result for this extractor alone."""
        return extract_video(task, [self.plan], self.sampling, self.store_root)


def _stage_result(ray, ref, task: VideoTask) -> VideoResult:
    try:
        return ray.get(ref)
    except Exception as exc:  # the worker died (memory, native crash) or the task was lost
        return VideoResult(task, failures={VIDEO_STAGE: f"Ray worker failed: {exc}"})


def merge_results(results: Sequence[VideoResult]) -> VideoResult:
    """One video's result from the results of its stages (each for some extractors)."""
    merged = VideoResult(results[0].task)
    for result in results:
        merged.sha256 = merged.sha256 or result.sha256
        merged.facts = merged.facts or result.facts
        merged.computed += result.computed
        merged.reused += result.reused
        merged.failures.update(result.failures)
        merged.warnings += [w for w in result.warnings if w not in merged.warnings]
        merged.frames = max(merged.frames, result.frames)
        merged.seconds = max(merged.seconds, result.seconds)
    return merged
