"""Every setting of a generation run, validated, saved in ``run.json`` and read back.

:class:`GenerateSettings` groups them: the scene plan, the keyframe (text-to-image) step,
the clip (Stable Video Diffusion) step, where the models run, the ComfyUI server, and the
output. ``settings_hash`` identifies what determines the videos; the settings in
``EXECUTION_FIELDS`` (memory savers, polling) change how a run goes, not what it makes, and
are left out of it, so that a resumed run may use them differently.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from qualitylab.device import Device, Precision

Backend = Literal["diffusers", "comfyui"]
Variant = Literal["auto", "fp16", "none"]

EXECUTION_FIELDS: frozenset[str] = frozenset(
    {
        "runtime.cpu_offload",
        "runtime.attention_slicing",
        "runtime.forward_chunking",
        "comfyui.timeout",
        "comfyui.poll_interval",
        "output.save_keyframes",
    }
)


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanSettings(_Settings):
    """How a story prompt becomes scenes: the planner, the number of scenes, the total
    duration in seconds (None: 5 s a scene, within 10-30 s) and the style added to every
    scene's keyframe prompt."""

    planner: str = "rules"
    min_scenes: int = Field(2, ge=1, le=12)
    max_scenes: int = Field(6, ge=1, le=12)
    duration: float | None = Field(None, gt=0, le=300)
    style: str = "cartoon style, vibrant colours, clean outlines"

    @model_validator(mode="after")
    def _scene_range(self) -> PlanSettings:
        if self.min_scenes > self.max_scenes:
            raise ValueError(
                f"min_scenes ({self.min_scenes}) is above max_scenes ({self.max_scenes})"
            )
        return self


class KeyframeSettings(_Settings):
    """The text-to-image step: model (catalogue key, hub id or directory), steps, guidance,
    negative prompt, size (None: the clip's size) and, for chained scenes, how strongly
    the previous scene's last frame is redrawn (0: kept, 1: ignored)."""

    model: str = "sdxl_base"
    steps: int = Field(30, ge=1, le=500)
    guidance_scale: float = Field(5.0, ge=0)
    negative_prompt: str = "blurry, low quality, deformed, watermark, text"
    width: int | None = Field(None, ge=8, le=4096, multiple_of=8)
    height: int | None = Field(None, ge=8, le=4096, multiple_of=8)
    chain_strength: float = Field(0.6, gt=0, le=1)


class ClipSettings(_Settings):
    """The image-to-video step (Stable Video Diffusion): model, frame size, frames per
    call, frame rate (conditioning and output), steps, motion bucket, noise augmentation,
    guidance range, VAE decode chunk size, and whether each scene after the first starts
    from the previous scene's last frame."""

    model: str = "svd_xt"
    width: int = Field(1024, ge=8, le=4096, multiple_of=8)
    height: int = Field(576, ge=8, le=4096, multiple_of=8)
    num_frames: int = Field(25, ge=2, le=256)
    fps: int = Field(6, ge=1, le=60)
    steps: int = Field(25, ge=1, le=500)
    motion_bucket_id: int = Field(127, ge=0, le=1023)
    noise_aug_strength: float = Field(0.02, ge=0, le=10)
    min_guidance_scale: float = Field(1.0, ge=0)
    max_guidance_scale: float = Field(3.0, ge=0)
    decode_chunk_size: int | None = Field(8, ge=1)
    chain_scenes: bool = False

    @model_validator(mode="after")
    def _guidance_range(self) -> ClipSettings:
        if self.min_guidance_scale > self.max_guidance_scale:
            raise ValueError(
                f"min_guidance_scale ({self.min_guidance_scale}) is above "
                f"max_guidance_scale ({self.max_guidance_scale})"
            )
        return self


class RuntimeSettings(_Settings):
    """Where and how the in-process models run: device, precision, weights variant
    (auto: fp16 files when the model directory has them), model CPU offload, attention
    slicing (text-to-image) and feed-forward chunking (SVD UNet)."""

    device: Device = "auto"
    precision: Precision = "auto"
    variant: Variant = "auto"
    cpu_offload: bool = False
    attention_slicing: bool = False
    forward_chunking: bool = False


class ComfyUISettings(_Settings):
    """The ComfyUI backend: server URL, the clip and keyframe workflow files (None: the
    packaged defaults), how long one workflow may take (seconds) and the polling interval."""

    url: str = "http://127.0.0.1:8188"
    workflow: Path | None = None
    keyframe_workflow: Path | None = None
    timeout: float = Field(1800.0, gt=0)
    poll_interval: float = Field(1.0, gt=0)


class OutputSettings(_Settings):
    """The encoded video's quality (x264 CRF, lower is better) and whether keyframes are
    saved as PNG files beside it."""

    quality: int = Field(18, ge=0, le=51)
    save_keyframes: bool = True


class GenerateSettings(_Settings):
    """Every setting of a generation run."""

    backend: Backend = "diffusers"
    seed: int = Field(0, ge=0, lt=2**63)
    plan: PlanSettings = PlanSettings()
    keyframe: KeyframeSettings = KeyframeSettings()
    clip: ClipSettings = ClipSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    comfyui: ComfyUISettings = ComfyUISettings()
    output: OutputSettings = OutputSettings()

    @property
    def keyframe_size(self) -> tuple[int, int]:
        """The keyframe's (width, height): its own when set, else the clip's."""
        return (
            self.keyframe.width or self.clip.width,
            self.keyframe.height or self.clip.height,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every setting as JSON-ready data (the form ``run.json`` stores)."""
        return self.model_dump(mode="json")

    def settings_hash(self) -> str:
        """A short hash of the settings that determine the videos (not the
        ``EXECUTION_FIELDS``)."""
        data = self.to_dict()
        for dotted in EXECUTION_FIELDS:
            group, key = dotted.split(".")
            data[group].pop(key, None)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_overrides(self, overrides: dict[str, Any]) -> GenerateSettings:
        """These settings with dotted keys replaced (``clip.fps``, ``seed``); ValueError
        naming an unknown key or a value out of range."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            parts = dotted.split(".")
            target = data
            for part in parts[:-1]:
                if not isinstance(target.get(part), dict):
                    raise ValueError(f"unknown setting {dotted!r}")
                target = target[part]
            if parts[-1] not in target:
                raise ValueError(f"unknown setting {dotted!r}; known: {_known_keys(data)}")
            target[parts[-1]] = value
        return validate_settings(data)


def _known_keys(data: dict[str, Any], prefix: str = "") -> str:
    keys = []
    for key, value in data.items():
        if isinstance(value, dict):
            keys.append(_known_keys(value, f"{prefix}{key}."))
        else:
            keys.append(f"{prefix}{key}")
    return ", ".join(keys)


def validate_settings(data: dict[str, Any]) -> GenerateSettings:
    """Settings from plain data; ValueError with every problem, one a line."""
    from pydantic import ValidationError

    try:
        return GenerateSettings.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise ValueError("invalid generation settings:\n  " + "\n  ".join(problems)) from None


def load_settings(path: str | Path) -> GenerateSettings:
    """Settings from a JSON or YAML file: a settings mapping, or a generation run's
    ``run.json`` (its ``settings``). ValueError naming the file when it is unusable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read settings from {path}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("settings"), dict):
        data = data["settings"]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings")
    try:
        return validate_settings(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
