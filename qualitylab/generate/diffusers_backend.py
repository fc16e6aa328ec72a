"""The in-process backend: a diffusers text-to-image pipeline draws the keyframes and
``StableVideoDiffusionPipeline`` animates them.

Both pipelines are loaded with ``from_pretrained`` from the directories
:func:`~qualitylab.generate.models.resolve_model` finds (never downloading), in the
precision the settings resolve to, with the fp16 weight files when the directory has them.
The text-to-image pipeline is loaded through ``AutoPipelineForText2Image``, so any
pipeline family it knows (SD 1.x/2.x, SDXL, SDXL-Turbo, ...) works; chained scenes reuse
its components for image-to-image (``AutoPipelineForImage2Image.from_pipe``). Every call
takes its own CPU ``torch.Generator`` seeded with the call's seed, so a seed gives the same
images whatever ran before it.
"""

from __future__ import annotations

import inspect
import math
import platform
import warnings
from typing import Any

import numpy as np
from PIL import Image

from qualitylab.device import resolve, torch_dtype
from qualitylab.generate.images import fit_image, to_uint8
from qualitylab.generate.models import (
    GenerationError,
    ResolvedModel,
    pipeline_class,
    resolve_models,
)
from qualitylab.generate.settings import GenerateSettings

SVD_PIPELINE = "StableVideoDiffusionPipeline"


def resolve_runtime(settings: GenerateSettings) -> GenerateSettings:
    """``settings`` with ``auto`` device and precision replaced by what will run here;
    GenerationError when the device is not available or cannot run the options asked for."""
    runtime = settings.runtime
    try:
        device, precision = resolve(runtime.device, runtime.precision)
    except ValueError as exc:
        hint = ""
        if runtime.device == "cuda":
            hint = (
                " (torch finds no CUDA GPU: no NVIDIA GPU or driver here, or a CPU-only "
                "torch build; check with `qualitylab doctor`)"
            )
        raise GenerationError(f"{exc}{hint}") from None
    if runtime.cpu_offload and device != "cuda":
        raise GenerationError(
            f"model CPU offload needs a CUDA device, but the models run on {device}; "
            "drop --cpu-offload"
        )
    update = {"device": device, "precision": precision}
    return settings.model_copy(update={"runtime": runtime.model_copy(update=update)})


class DiffusersBackend:
    """Keyframes and clips from diffusers pipelines loaded in this process."""

    name = "diffusers"

    def __init__(self, settings: GenerateSettings) -> None:
        self.settings = resolve_runtime(settings)
        self.keyframe_model: ResolvedModel | None = None
        self.clip_model: ResolvedModel | None = None
        self._text_to_image: Any = None
        self._image_to_image: Any = None
        self._video: Any = None
        self._variants: dict[str, str | None] = {}

    @property
    def dtype(self):
        """The torch dtype the pipelines run in."""
        return torch_dtype(self.settings.runtime.precision)

    def prepare(self) -> None:
        """Find both models on disk and load them; GenerationError (MissingModelError for
        absent weights) before anything is generated."""
        if self._video is not None:
            return
        self.keyframe_model, self.clip_model = resolve_models(
            (self.settings.keyframe.model, "keyframe"), (self.settings.clip.model, "clip")
        )
        found = pipeline_class(self.clip_model.directory)
        if found != SVD_PIPELINE:
            raise GenerationError(
                f"the clip model {self.settings.clip.model!r} is a {found}, not a "
                f"{SVD_PIPELINE} (e.g. svd_xt or svd_xt_1_1)"
            )
        runtime = self.settings.runtime
        if runtime.device == "cpu":
            for model in (self.keyframe_model, self.clip_model):
                if model.full_size:
                    warnings.warn(
                        f"generating on the CPU with the full-size weights of {model.spec} is "
                        "very slow (expect hours per video); use a CUDA GPU (--device cuda)",
                        UserWarning,
                        stacklevel=2,
                    )
        from diffusers import AutoPipelineForText2Image, StableVideoDiffusionPipeline

        self._text_to_image = self._load(AutoPipelineForText2Image, self.keyframe_model, "keyframe")
        self._video = self._load(StableVideoDiffusionPipeline, self.clip_model, "clip")
        _check_size(self._text_to_image, *self.settings.keyframe_size, "keyframe")
        _check_size(self._video, self.settings.clip.width, self.settings.clip.height, "clip")
        if runtime.attention_slicing:
            self._text_to_image.enable_attention_slicing()
        if runtime.forward_chunking:
            self._video.unet.enable_forward_chunking()

    def _load(self, loader: Any, model: ResolvedModel, role: str) -> Any:
        variant = self._variant(model)
        self._variants[role] = variant
        try:
            pipeline = loader.from_pretrained(
                model.directory, dtype=self.dtype, variant=variant, local_files_only=True
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise GenerationError(
                f"cannot load the {role} model {model.spec!r} from {model.directory}: {exc}"
            ) from None
        pipeline.set_progress_bar_config(disable=True)
        if self.settings.runtime.cpu_offload:
            pipeline.enable_model_cpu_offload(device="cuda")
        else:
            pipeline.to(self.settings.runtime.device)
        return pipeline

    def _variant(self, model: ResolvedModel) -> str | None:
        variant = self.settings.runtime.variant
        if variant == "auto":
            return "fp16" if model.has_fp16_files() else None
        return None if variant == "none" else variant

    def describe(self) -> dict[str, Any]:
        """The models (with revisions, directories, fingerprints, pipeline classes and
        weight variants), the device and the precision, for ``run.json``."""
        import torch

        device = self.settings.runtime.device
        described: dict[str, Any] = {
            "backend": self.name,
            "device": device,
            "device_name": (
                torch.cuda.get_device_name() if device == "cuda" else platform.processor()
            ),
            "precision": self.settings.runtime.precision,
        }
        for role, model, pipeline in (
            ("keyframe_model", self.keyframe_model, self._text_to_image),
            ("clip_model", self.clip_model, self._video),
        ):
            if model is not None:
                described[role] = {
                    **model.to_dict(),
                    "pipeline": type(pipeline).__name__ if pipeline is not None else None,
                    "variant": self._variants.get(role.removesuffix("_model")),
                }
        return described

    def keyframe(self, prompt: str, seed: int, init_image: np.ndarray | None = None) -> np.ndarray:
        """A keyframe for ``prompt`` (see :class:`~qualitylab.generate.backend.Backend`)."""
        self.prepare()
        settings = self.settings.keyframe
        width, height = self.settings.keyframe_size
        options: dict[str, Any] = {
            "prompt": prompt,
            "num_inference_steps": settings.steps,
            "guidance_scale": settings.guidance_scale,
            "generator": _generator(seed),
        }
        if init_image is None:
            pipeline = self._text_to_image
            options.update(width=width, height=height)
        else:
            pipeline = self._image_to_image_pipeline()
            image = Image.fromarray(fit_image(init_image, width, height))
            # image-to-image runs steps x strength steps: keep at least one
            steps = max(settings.steps, math.ceil(1 / settings.chain_strength))
            options.update(image=image, strength=settings.chain_strength, num_inference_steps=steps)
        if settings.negative_prompt and _accepts(pipeline, "negative_prompt"):
            options["negative_prompt"] = settings.negative_prompt
        image = pipeline(**options).images[0]
        return fit_image(np.asarray(image.convert("RGB")), width, height)

    def _image_to_image_pipeline(self) -> Any:
        if self._image_to_image is None:
            from diffusers import AutoPipelineForImage2Image

            self._image_to_image = AutoPipelineForImage2Image.from_pipe(self._text_to_image)
            self._image_to_image.set_progress_bar_config(disable=True)
        return self._image_to_image

    def clip(self, image: np.ndarray, seed: int, prompt: str = "") -> np.ndarray:
        """Frames animating ``image`` (see :class:`~qualitylab.generate.backend.Backend`);
        SVD reads no text, so ``prompt`` is not used."""
        self.prepare()
        clip = self.settings.clip
        start = Image.fromarray(fit_image(image, clip.width, clip.height))
        frames = self._video(
            start,
            height=clip.height,
            width=clip.width,
            num_frames=clip.num_frames,
            num_inference_steps=clip.steps,
            fps=clip.fps,
            motion_bucket_id=clip.motion_bucket_id,
            noise_aug_strength=clip.noise_aug_strength,
            min_guidance_scale=clip.min_guidance_scale,
            max_guidance_scale=clip.max_guidance_scale,
            decode_chunk_size=clip.decode_chunk_size,
            generator=_generator(seed),
            output_type="np",
        ).frames[0]
        return to_uint8(frames)


def _check_size(pipeline: Any, width: int, height: int, role: str) -> None:
    """GenerationError when the model cannot make frames of this size: each side must be
    a multiple of the VAE's scale times the UNet's downsampling."""
    unet = getattr(pipeline, "unet", None)
    scale = getattr(pipeline, "vae_scale_factor", None)
    if unet is None or not isinstance(scale, int):
        return
    multiple = scale * 2 ** (len(unet.config.down_block_types) - 1)
    if width % multiple or height % multiple:
        raise GenerationError(
            f"the {role} size {width}x{height} does not suit this model: width and height "
            f"must be multiples of {multiple}"
        )


def _generator(seed: int):
    import torch

    return torch.Generator("cpu").manual_seed(seed)


def _accepts(pipeline: Any, name: str) -> bool:
    return name in inspect.signature(pipeline.__call__).parameters
