"""Video generation and the regression benchmark."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from qualitylab.cli.common import (
    ALLOW_FAILURES_HELP,
    DEVICE_CHOICES,
    PRECISION_CHOICES,
    app,
    console,
    errors,
    fail,
    progress_bar,
    with_options,
)

_GENERATION = "Generation settings"
_MODELS = "Models and backend"
_DEVICE = "Device and memory"


@dataclass(frozen=True)
class _SharedOption:
    """An option both `generate` and `benchmark` take."""

    kind: Any  # the parameter's type
    help: str
    setting: str | None = None  # the generation setting it sets, when not left at default
    panel: str | None = _GENERATION  # where --help lists it
    flags: tuple[str, ...] = ()  # its flags, where the parameter's name does not give them
    metavar: str | None = None
    default: Any = None

    def annotation(self) -> Any:
        """The parameter's type with its typer option, as a command's signature holds it."""
        option = typer.Option(
            *self.flags, help=self.help, rich_help_panel=self.panel, metavar=self.metavar
        )
        return Annotated[self.kind, option]


# The options `generate` and `benchmark` share, in the order --help lists them after each
# command's own. One table keeps each option's help beside the setting it sets.
_SHARED_OPTIONS: dict[str, _SharedOption] = {
    "t2i_model": _SharedOption(
        str | None,
        "Keyframe text-to-image model: catalogue key, hub id (REPO or REPO@REVISION) or "
        "pipeline directory (default sdxl_base).",
        "keyframe.model",
        _MODELS,
    ),
    "svd_model": _SharedOption(
        str | None,
        "Stable Video Diffusion model: svd_xt, svd_xt_1_1, a hub id or a pipeline "
        "directory (default svd_xt).",
        "clip.model",
        _MODELS,
    ),
    "backend": _SharedOption(
        str | None,
        "diffusers (in process, default) or comfyui (a ComfyUI server).",
        "backend",
        _MODELS,
    ),
    "comfyui_url": _SharedOption(
        str | None,
        "ComfyUI server address (default http://127.0.0.1:8188).",
        "comfyui.url",
        _MODELS,
    ),
    "comfyui_workflow": _SharedOption(
        Path | None,
        "API-format clip workflow JSON with {{keyframe}}, {{seed}}, ... placeholders "
        "(default: the packaged SVD img2vid workflow).",
        "comfyui.workflow",
        _MODELS,
    ),
    "comfyui_keyframe_workflow": _SharedOption(
        Path | None,
        "API-format keyframe workflow JSON with {{prompt}}, {{seed}}, ... placeholders "
        "(default: the packaged SDXL workflow).",
        "comfyui.keyframe_workflow",
        _MODELS,
    ),
    "comfyui_timeout": _SharedOption(
        float | None,
        "Seconds one ComfyUI workflow may take (default 1800).",
        "comfyui.timeout",
        _MODELS,
    ),
    "width": _SharedOption(
        int | None, "Video width, a multiple of 8 (default 1024).", "clip.width"
    ),
    "height": _SharedOption(
        int | None, "Video height, a multiple of 8 (default 576).", "clip.height"
    ),
    "num_frames": _SharedOption(int | None, "Frames per SVD clip (default 25).", "clip.num_frames"),
    "fps": _SharedOption(
        int | None,
        "Frame rate: SVD's fps conditioning and the video's rate (default 6).",
        "clip.fps",
    ),
    "steps": _SharedOption(int | None, "SVD denoising steps (default 25).", "clip.steps"),
    "keyframe_steps": _SharedOption(
        int | None, "Keyframe denoising steps (default 30).", "keyframe.steps"
    ),
    "guidance_scale": _SharedOption(
        float | None, "Keyframe guidance scale (default 5.0).", "keyframe.guidance_scale"
    ),
    "motion_bucket": _SharedOption(
        int | None,
        "SVD motion bucket id: more motion when higher (default 127).",
        "clip.motion_bucket_id",
    ),
    "noise_aug": _SharedOption(
        float | None,
        "SVD noise augmentation of the start image (default 0.02).",
        "clip.noise_aug_strength",
    ),
    "decode_chunk_size": _SharedOption(
        int | None,
        "Frames the VAE decodes at once; lower saves memory (default 8).",
        "clip.decode_chunk_size",
        _DEVICE,
    ),
    "duration": _SharedOption(
        float | None,
        "Seconds per video (default: the prompt's own, else 5 s a scene within 10-30 s).",
        "plan.duration",
    ),
    "seed": _SharedOption(int | None, "Base seed of every video (default 0).", "seed"),
    "chain_scenes": _SharedOption(
        bool | None,
        "Draw each later scene's keyframe from the previous scene's last frame (default: off).",
        "clip.chain_scenes",
    ),
    "device": _SharedOption(str | None, DEVICE_CHOICES, "runtime.device", _DEVICE),
    "precision": _SharedOption(
        str | None,
        PRECISION_CHOICES,
        "runtime.precision",
        _DEVICE,
    ),
    # The memory savers are plain switches: given, they set their setting to True.
    "cpu_offload": _SharedOption(
        bool,
        "Keep models on the CPU and move each to the GPU while it runs (CUDA).",
        "runtime.cpu_offload",
        _DEVICE,
        ("--cpu-offload",),
        default=False,
    ),
    "attention_slicing": _SharedOption(
        bool,
        "Compute the keyframe model's attention in slices (less memory).",
        "runtime.attention_slicing",
        _DEVICE,
        ("--attention-slicing",),
        default=False,
    ),
    "forward_chunking": _SharedOption(
        bool,
        "Run the SVD UNet's feed-forward layers in chunks (less memory).",
        "runtime.forward_chunking",
        _DEVICE,
        ("--forward-chunking",),
        default=False,
    ),
    "settings": _SharedOption(
        Path | None,
        "Settings file (JSON/YAML, or a run's run.json) to start from; options override it.",
    ),
    "set_": _SharedOption(
        list[str] | None,
        "Any setting as GROUP.KEY=VALUE, e.g. clip.max_guidance_scale=2.5; repeat.",
        flags=("--set",),
        metavar="GROUP.KEY=VALUE",
    ),
    "overwrite": _SharedOption(
        bool, "Replace a run of other settings in the output directory.", panel=None, default=False
    ),
    "allow_failures": _SharedOption(bool, ALLOW_FAILURES_HELP, panel=None, default=False),
}
_with_shared_options = with_options(
    "options",
    {name: (option.annotation(), option.default) for name, option in _SHARED_OPTIONS.items()},
)


@app.command()
@_with_shared_options
def generate(
    out: Annotated[Path, typer.Option(help="Run directory to write.")],
    prompt: Annotated[
        str | None, typer.Argument(help="The story to generate (or use --prompts).")
    ] = None,
    prompts: Annotated[
        Path | None,
        typer.Option(help="File of prompts, one video each: .txt (a line each), .json, .csv."),
    ] = None,
    *,
    options: dict[str, Any],
) -> None:
    """Generate multi-scene videos from story prompts into a run directory.

    Each prompt is split into 2-6 scenes; each scene gets a keyframe from a text-to-image
    model and a clip from Stable Video Diffusion; the clips are joined into
    OUT/videos/ID.mp4. OUT/run.json records the prompts, scene plans, models and
    revisions, every setting, seeds, timings and package versions; OUT/manifest.csv lists
    the videos for `qualitylab extract-features`. Running the same command again skips
    the finished videos and retries the failed ones. Weights are never downloaded here:
    see `qualitylab weights`.
    """
    from qualitylab.generate.prompts import VideoRequest, load_prompts, prompt_id

    if (prompt is None) == (prompts is None):
        fail("give either a PROMPT or --prompts FILE (one of the two)")
    chosen = _settings(options)
    try:
        if prompts is not None:
            requests = load_prompts(prompts)
        else:
            assert prompt is not None
            if not prompt.strip():
                fail("the prompt is empty")
            requests = [VideoRequest(prompt_id(prompt), " ".join(prompt.split()))]
    except ValueError as exc:
        fail(str(exc))

    def run(progress):
        from qualitylab.generate.generation_run import generate_run

        return generate_run(
            requests,
            out,
            chosen,
            progress=progress,
            overwrite=options["overwrite"],
            info=_source(prompts),
        )

    _finish(_with_progress(run, len(requests)), options["allow_failures"])


@app.command()
@_with_shared_options
def benchmark(
    version: Annotated[
        str,
        typer.Option(
            help="Label of this benchmark run, e.g. the model version under test (v1); "
            "the videos go to OUT/VERSION/."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Root directory of benchmark runs.")] = Path("runs"),
    prompts: Annotated[
        Path | None,
        typer.Option(help="Benchmark prompt set (default: prompts/benchmark_prompts.json)."),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ID[,ID...]", help="Generate only these prompt ids; comma-separate or repeat."
        ),
    ] = None,
    *,
    options: dict[str, Any],
) -> None:
    """Generate the benchmark prompt set into OUT/VERSION/ with recorded settings.

    One video per prompt (the prompt's own duration unless --duration is given), one
    OUT/VERSION/manifest.csv for all of them, and OUT/VERSION/run.json with the prompt
    set's version and hash. Resumable: prompts whose video and record are complete are
    skipped; a failing prompt is recorded and the run goes on. Score two versions with
    the same predictor to compare them.
    """
    from qualitylab.cli.common import split_list

    chosen = _settings(options)

    def run(progress):
        from qualitylab.generate.benchmark import run_benchmark

        return run_benchmark(
            version,
            out,
            chosen,
            prompts_file=prompts,
            only=list(split_list(only)) or None,
            progress=progress,
            overwrite=options["overwrite"],
        )

    _finish(_with_progress(run, None), options["allow_failures"])


def _settings(options: dict[str, Any]):
    """The generation settings the command's options ask for; exits on a bad value."""
    from qualitylab.generate.settings import GenerateSettings, load_settings

    try:
        base = load_settings(options["settings"]) if options["settings"] else GenerateSettings()
        overrides = {
            option.setting: str(value) if isinstance(value, Path) else value
            for name, option in _SHARED_OPTIONS.items()
            if option.setting and (value := options[name]) != option.default
        }
        overrides.update(_parse_set(options["set_"]))
        return base.with_overrides(overrides)
    except ValueError as exc:
        fail(str(exc))


def _parse_set(items: list[str] | None) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in items or ():
        key, equals, raw = item.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"--set {item!r}: expected GROUP.KEY=VALUE")
        try:
            parsed[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key.strip()] = raw
    return parsed


def _source(prompts: Path | None) -> dict[str, Any]:
    return {"prompts_file": str(prompts.resolve())} if prompts is not None else {}


@contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Library progress bars, chatter and warnings off; qualitylab's own warnings (e.g.
    full-size weights on the CPU) printed as one-line warnings on stderr."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        errors.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("default", category=UserWarning, module=r"qualitylab\.")
        warnings.showwarning = show
        yield


def _with_progress(run, videos: int | None):
    """Call ``run(progress_callback)`` under a progress bar of videos and of the current
    video's scenes; exits with the message of a run that cannot start."""
    from qualitylab.generate.models import GenerationError

    with _quiet_libraries(), progress_bar() as bar:
        video_task = bar.add_task("videos", total=videos)
        scene_task = bar.add_task("scenes", total=None, visible=False)

        def progress(event) -> None:
            if event.kind == "start":
                bar.update(
                    scene_task,
                    description=f"  {event.video_id}",
                    total=event.total,
                    completed=0,
                    visible=True,
                )
            elif event.kind == "scene":
                bar.update(scene_task, completed=event.done)
            else:
                bar.update(video_task, completed=event.done, total=event.total)
                bar.update(scene_task, visible=False)

        try:
            return run(progress)
        except GenerationError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            errors.print(
                "interrupted: finished videos are kept; run the same command to resume",
                highlight=False,
            )
            raise typer.Exit(130) from None


def _finish(summary, allow_failures: bool) -> None:
    """Print a run's summary; exit 1 when a video failed, unless allowed."""
    console.print(
        f"{len(summary.outcomes)} videos: {summary.count('done')} generated, "
        f"{summary.count('skipped')} already complete, {len(summary.failed)} failed "
        f"({summary.seconds:.1f} s)",
        highlight=False,
    )
    for outcome in summary.failed:
        errors.print(f"[red]failed:[/] {escape(outcome.id)}: {escape(outcome.error)}")
    console.print(f"run: {summary.run_file}\nmanifest: {summary.manifest_file}", highlight=False)
    if summary.failed and not allow_failures:
        raise typer.Exit(1)
