"""A generation run: story prompts → scene plans → keyframes → clips → one MP4 each, with
the records that make the run reproducible and comparable.

``RUN_DIR/`` after a run:

- ``videos/<id>.mp4``: one silent H.264 video per prompt, its scenes joined;
- ``keyframes/<id>/scene_NN.png``: the keyframe each scene was animated from;
- ``records/<id>.json``: one video's record: its prompt, scene plan (per scene: prompt,
  planned and actual duration, frames, seeds, what the clip started from, timings), the
  video's frame count, fps, size and SHA-256, the settings hash, or the error that stopped it;
- ``run.json``: the settings, their hash, the backend (models with repositories,
  revisions, directories and fingerprints, or the ComfyUI server and workflows), the
  environment (Python, packages, device), timings, and every video's record;
- ``manifest.csv``: ``id,video,prompt,scene_starts`` of every finished video (paths
  relative to it; ``scene_starts`` the frame index where each scene starts, e.g.
  ``"0 48 96"``), ready for ``qualitylab extract-features``; scoring it takes the scene
  boundaries from there instead of detecting cuts.

The total duration is the settings' ``plan.duration`` when set, else the prompt's own
``duration`` field (prompts files may carry one), else the planner's default.

Each scene's keyframe prompt is its scene prompt followed by the style the story names
("In a pixel art style, ...") or, when it names none, the settings' ``plan.style``.

Seeds: scene ``k`` of a video uses ``seed + 1000 k`` for its keyframe and
``seed + 1000 k + 1 + j`` for its ``j``-th clip, so every video of a run (and of a
benchmark) is made from the same seeds, independent of the order and of resuming.

A scene longer than one clip is extended: the next clip starts from the previous clip's
last frame (whose repeat is dropped), until the scene has its frames. With chained scenes,
each scene after the first draws its keyframe by redrawing the previous scene's last frame
towards its own prompt.

A re-run of the same settings into the same directory skips every video whose record is
complete and whose file is intact, and retries the failed ones; different settings are
refused unless the directory is overwritten. A video that fails is recorded and the run
goes on.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from qualitylab import __version__
from qualitylab.atomic import write_text
from qualitylab.data.video import sha256_file, write_video
from qualitylab.features.scenes import SCENE_STARTS_COLUMN, format_scene_starts
from qualitylab.generate.backend import Backend, make_backend
from qualitylab.generate.images import fit_image
from qualitylab.generate.models import GenerationError
from qualitylab.generate.plan import (
    Scene,
    ScenePlan,
    ScenePlanner,
    allocate_frames,
    make_planner,
)
from qualitylab.generate.prompts import VideoRequest
from qualitylab.generate.settings import EXECUTION_FIELDS, GenerateSettings

RUN_FILE = "run.json"
MANIFEST_FILE = "manifest.csv"
VIDEOS_DIR = "videos"
KEYFRAMES_DIR = "keyframes"
RECORDS_DIR = "records"
FORMAT = "qualitylab.generate/1"
SCENE_SEED_STRIDE = 1000
PACKAGES = (
    "torch",
    "diffusers",
    "transformers",
    "accelerate",
    "huggingface-hub",
    "safetensors",
    "av",
    "numpy",
    "pillow",
)


@dataclass(frozen=True)
class ProgressEvent:
    """Progress of a run: ``kind`` is ``video`` (a video ended: done, failed or
    skipped, ``done`` of ``total`` videos), ``scene`` (a scene of ``video_id`` ended,
    ``done`` of ``total`` scenes) or ``start`` (a video begins, ``total`` scenes)."""

    kind: Literal["start", "scene", "video"]
    video_id: str
    done: int
    total: int
    status: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class VideoOutcome:
    """What became of one requested video: ``done``, ``skipped`` (complete from an
    earlier run) or ``failed``, with its record."""

    id: str
    status: str
    record: dict[str, Any]

    @property
    def error(self) -> str:
        """The error that stopped the video, or an empty string."""
        return str(self.record.get("error", ""))


@dataclass
class GenerationSummary:
    """The outcome of a run: its directory, every video's outcome, and the time taken."""

    out_dir: Path
    outcomes: list[VideoOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[VideoOutcome]:
        """The videos that failed."""
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]

    def count(self, status: str) -> int:
        """How many videos ended with ``status``."""
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def run_file(self) -> Path:
        """The run's ``run.json``."""
        return self.out_dir / RUN_FILE

    @property
    def manifest_file(self) -> Path:
        """The run's ``manifest.csv``."""
        return self.out_dir / MANIFEST_FILE


def generate_run(
    requests: Sequence[VideoRequest],
    out_dir: str | Path,
    settings: GenerateSettings,
    *,
    backend: Backend | None = None,
    planner: ScenePlanner | None = None,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
    info: dict[str, Any] | None = None,
) -> GenerationSummary:
    """Generate one video per request into ``out_dir`` (layout in the module docstring),
    skipping the videos a previous run of the same settings completed. GenerationError
    before any work when the models or server cannot be used, the directory holds a run of
    other settings (unless ``overwrite``), or the ids repeat. ``info`` is stored in
    ``run.json`` as it is (e.g. the benchmark's prompt set)."""
    started = time.perf_counter()
    out = Path(out_dir)
    ids = [request.id for request in requests]
    if len(set(ids)) != len(ids):
        raise GenerationError(f"video ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    backend = backend or make_backend(settings)
    settings = getattr(backend, "settings", settings)
    if planner is None:
        try:
            planner = make_planner(
                settings.plan.planner, settings.plan.min_scenes, settings.plan.max_scenes
            )
        except ValueError as exc:
            raise GenerationError(str(exc)) from None
    previous = {} if overwrite else _previous_run(out, settings)
    summary = GenerationSummary(out)
    context = _RunContext(out, settings, backend, planner, progress, info or {}, previous)
    pending = []
    for request in requests:
        record = None if overwrite else _complete_record(out, request, settings)
        if record is None:
            pending.append(request)
        else:
            context.records[request.id] = record
    if pending:
        loading = time.perf_counter()
        backend.prepare()
        context.load_seconds = time.perf_counter() - loading
    if overwrite:
        _remove_run(out)
    pending_ids = {request.id for request in pending}
    try:
        for number, request in enumerate(requests, start=1):
            if request.id not in pending_ids:
                summary.outcomes.append(
                    VideoOutcome(request.id, "skipped", context.records[request.id])
                )
                context.notify(ProgressEvent("video", request.id, number, len(requests), "skipped"))
                continue
            record = context.generate_one(request)
            status = record["status"]
            summary.outcomes.append(VideoOutcome(request.id, status, record))
            context.write(requests, started, finished=False)
            context.notify(ProgressEvent("video", request.id, number, len(requests), status))
    finally:
        summary.seconds = time.perf_counter() - started
        done = len(summary.outcomes) == len(requests)
        context.write(requests, started, finished=done)
    return summary


def _previous_run(out: Path, settings: GenerateSettings) -> dict[str, Any]:
    """The run record already in ``out`` (empty when none); GenerationError when it is
    not a generation run or used other settings."""
    run_file = out / RUN_FILE
    if not run_file.is_file():
        return {}
    try:
        previous = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GenerationError(
            f"{run_file} is unreadable ({exc}); pass --overwrite to start the run afresh"
        ) from None
    if previous.get("format") != FORMAT:
        raise GenerationError(f"{out} holds something other than a generation run ({run_file})")
    if previous.get("settings_hash") != settings.settings_hash():
        changes = settings_differences(previous.get("settings", {}), settings.to_dict())
        raise GenerationError(
            f"{out} holds a run made with other settings ({'; '.join(changes) or 'unknown'}); "
            "choose another output directory, or pass --overwrite to replace that run"
        )
    return previous


def _remove_run(out: Path) -> None:
    """Remove the files an earlier run left in ``out`` (only the run's own)."""
    for name in (VIDEOS_DIR, KEYFRAMES_DIR, RECORDS_DIR):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in (RUN_FILE, MANIFEST_FILE):
        (out / name).unlink(missing_ok=True)


def settings_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The settings that differ between two settings dicts, as ``key: old → new``, leaving
    out the execution-only ones."""
    flat_old, flat_new = _flatten(old), _flatten(new)
    keys = sorted(set(flat_old) | set(flat_new))
    return [
        f"{key}: {flat_old.get(key)!r} → {flat_new.get(key)!r}"
        for key in keys
        if key not in EXECUTION_FIELDS and flat_old.get(key) != flat_new.get(key)
    ]


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _complete_record(
    out: Path, request: VideoRequest, settings: GenerateSettings
) -> dict[str, Any] | None:
    """The record of a video an earlier run finished with these settings and this prompt,
    when its file is still intact; else None."""
    path = out / RECORDS_DIR / f"{request.id}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    video = out / str(record.get("video", ""))
    if (
        record.get("status") != "done"
        or record.get("prompt") != request.prompt
        or record.get("settings_hash") != settings.settings_hash()
        or not video.is_file()
        or sha256_file(video) != record.get("sha256")
    ):
        return None
    return record


@dataclass(eq=False)
class _RunContext:
    """The state one run shares between its videos."""

    out: Path
    settings: GenerateSettings
    backend: Backend
    planner: ScenePlanner
    progress: ProgressCallback | None
    info: dict[str, Any]
    previous: dict[str, Any]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    load_seconds: float = 0.0
    prepared: bool = False

    def notify(self, event: ProgressEvent) -> None:
        """Pass ``event`` to the run's progress callback, if it has one."""
        if self.progress is not None:
            self.progress(event)

    def generate_one(self, request: VideoRequest) -> dict[str, Any]:
        """Generate one video and write its record; a failure is recorded, not raised."""
        self.prepared = True
        started = time.perf_counter()
        try:
            record = self._make_video(request, started)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - one failing video must not stop the run
            message = str(exc) or type(exc).__name__
            record = {
                **self._base_record(request),
                "status": "failed",
                "error": f"{type(exc).__name__}: {message}",
                "timings": {"total": round(time.perf_counter() - started, 3)},
            }
        self.records[request.id] = record
        path = self.out / RECORDS_DIR / f"{request.id}.json"
        write_text(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        return record

    def _base_record(self, request: VideoRequest) -> dict[str, Any]:
        return {
            "id": request.id,
            "prompt": request.prompt,
            **({"extra": request.extra} if request.extra else {}),
            "settings_hash": self.settings.settings_hash(),
            "seed": self.settings.seed,
            "created": _now(),
        }

    def _make_video(self, request: VideoRequest, started: float) -> dict[str, Any]:
        settings = self.settings
        clip = settings.clip
        plan = self.planner.plan(request.prompt, _duration(request, settings))
        _check_plan(plan)
        frame_counts = allocate_frames([scene.duration for scene in plan.scenes], clip.fps)
        self.notify(ProgressEvent("start", request.id, 0, len(plan.scenes)))
        frames: list[np.ndarray] = []
        scenes: list[dict[str, Any]] = []
        last: np.ndarray | None = None
        for scene, count in zip(plan.scenes, frame_counts):
            scene_frames, scene_record = self._make_scene(request, plan, scene, count, last)
            scene_record["start_frame"] = len(frames)
            frames.extend(scene_frames)
            scenes.append(scene_record)
            last = scene_frames[-1]
            self.notify(ProgressEvent("scene", request.id, len(scenes), len(plan.scenes)))
        encoding = time.perf_counter()
        relative = f"{VIDEOS_DIR}/{request.id}.mp4"
        _write_video_atomically(self.out / relative, frames, clip.fps, settings.output.quality)
        encode_seconds = time.perf_counter() - encoding
        plan_record = plan.to_dict()
        plan_record["scenes"] = scenes
        return {
            **self._base_record(request),
            "status": "done",
            "video": relative,
            "sha256": sha256_file(self.out / relative),
            "frames": len(frames),
            "fps": clip.fps,
            "seconds": round(len(frames) / clip.fps, 6),
            "width": clip.width,
            "height": clip.height,
            "plan": plan_record,
            "timings": {
                "keyframes": round(sum(s["timings"]["keyframe"] for s in scenes), 3),
                "clips": round(sum(s["timings"]["clips"] for s in scenes), 3),
                "encode": round(encode_seconds, 3),
                "total": round(time.perf_counter() - started, 3),
            },
        }

    def _make_scene(
        self,
        request: VideoRequest,
        plan: ScenePlan,
        scene: Scene,
        count: int,
        last: np.ndarray | None,
    ) -> tuple[list[np.ndarray], dict[str, Any]]:
        settings = self.settings
        clip = settings.clip
        style = _lower_first(plan.style) if plan.style else settings.plan.style.strip()
        keyframe_prompt = f"{scene.prompt}, {style}" if style else scene.prompt
        seed = settings.seed + SCENE_SEED_STRIDE * scene.index
        chained = clip.chain_scenes and last is not None
        timer = time.perf_counter()
        keyframe = self.backend.keyframe(keyframe_prompt, seed, last if chained else None)
        keyframe_seconds = time.perf_counter() - timer
        keyframe_file = None
        if settings.output.save_keyframes:
            keyframe_file = f"{KEYFRAMES_DIR}/{request.id}/scene_{scene.index:02d}.png"
            (self.out / keyframe_file).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(keyframe).save(self.out / keyframe_file)
        timer = time.perf_counter()
        frames: list[np.ndarray] = []
        clip_seeds: list[int] = []
        start = keyframe
        while len(frames) < count:
            clip_seed = seed + 1 + len(clip_seeds)
            if len(clip_seeds) >= SCENE_SEED_STRIDE - 1:
                raise GenerationError(f"scene {scene.index} needs too many clips")
            made = self.backend.clip(start, clip_seed, keyframe_prompt)
            made = [fit_image(frame, clip.width, clip.height) for frame in made]
            if not made:
                raise GenerationError(f"the backend returned no frames for scene {scene.index}")
            frames.extend(made if not clip_seeds else made[1:])
            clip_seeds.append(clip_seed)
            start = made[-1]
        frames = frames[:count]
        record = {
            "index": scene.index,
            "prompt": scene.prompt,
            "keyframe_prompt": keyframe_prompt,
            "planned_duration": scene.duration,
            "frames": count,
            "seconds": round(count / clip.fps, 6),
            "keyframe_seed": seed,
            "clip_seeds": clip_seeds,
            "keyframe_from": "previous scene's last frame" if chained else "prompt",
            "keyframe": keyframe_file,
            "timings": {
                "keyframe": round(keyframe_seconds, 3),
                "clips": round(time.perf_counter() - timer, 3),
            },
        }
        return frames, record

    def write(self, requests: Sequence[VideoRequest], started: float, *, finished: bool) -> None:
        """Write ``run.json`` and ``manifest.csv`` for the records so far."""
        backend = self.backend.describe() if self.prepared else None
        if backend is None:
            backend = self.previous.get("backend") or self.backend.describe()
        records = [self.records[r.id] for r in requests if r.id in self.records]
        pending = [r.id for r in requests if r.id not in self.records]
        run = {
            "format": FORMAT,
            "qualitylab_version": __version__,
            "created": self.previous.get("created") or _now(),
            "updated": _now(),
            "finished": finished,
            "settings": self.settings.to_dict(),
            "settings_hash": self.settings.settings_hash(),
            "planner": self.planner.name,
            "backend": backend,
            "environment": environment(),
            **self.info,
            "counts": {
                "videos": len(requests),
                "done": sum(r["status"] == "done" for r in records),
                "failed": sum(r["status"] == "failed" for r in records),
                "pending": len(pending),
            },
            "timings": {
                "load": round(self.load_seconds, 3),
                "total": round(time.perf_counter() - started, 3),
            },
            "videos": records,
        }
        write_text(self.out / RUN_FILE, json.dumps(run, indent=2, ensure_ascii=False) + "\n")
        write_manifest(self.out / MANIFEST_FILE, [r for r in records if r["status"] == "done"])


def _duration(request: VideoRequest, settings: GenerateSettings) -> float | None:
    """The video's total seconds: the settings' duration when set, else the request's own
    ``duration`` field, else None (the planner's default)."""
    if settings.plan.duration is not None:
        return settings.plan.duration
    own = request.extra.get("duration")
    return float(own) if own is not None else None


def _check_plan(plan: ScenePlan) -> None:
    if not plan.scenes:
        raise GenerationError("the scene planner returned no scenes")


def _write_video_atomically(path: Path, frames: list[np.ndarray], fps: int, quality: int) -> None:
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    write_video(temporary, frames, fps, quality=quality)
    os.replace(temporary, path)


def write_manifest(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Write ``id,video,prompt,scene_starts`` of ``records`` as CSV (video paths relative
    to ``path``)."""
    import pandas as pd

    columns = ["id", "video", "prompt", SCENE_STARTS_COLUMN]
    table = pd.DataFrame(
        [[r["id"], r["video"], r["prompt"], _scene_starts(r)] for r in records], columns=columns
    )
    write_text(path, table.to_csv(index=False, lineterminator="\n"))


def _scene_starts(record: dict[str, Any]) -> str:
    """The frame index where each scene of a video record starts, as a manifest cell."""
    scenes = record["plan"]["scenes"]
    starts = np.cumsum([0] + [scene["frames"] for scene in scenes[:-1]])
    return format_scene_starts(starts)


def environment() -> dict[str, Any]:
    """Python, platform, package versions and CUDA, for ``run.json``."""
    packages = {"qualitylab": __version__}
    for name in PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    described: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": packages,
    }
    try:
        import torch

        described["cuda"] = torch.version.cuda
        described["cuda_available"] = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return described


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
