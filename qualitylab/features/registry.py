"""The registry of extractors: every entry by name, created lazily with its config."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from qualitylab.errors import QualitylabError
from qualitylab.features.base import Extractor, ExtractorSpec, Family, SignalSpec
from qualitylab.features.names import split_signal

FLOW_QUANTITIES = ("flow", "magnitude", "angle")
FLOW_REDUCTIONS = ("sum", "median", "mean", "std", "min", "max")


def _flow_signals() -> tuple[SignalSpec, ...]:
    return tuple(
        SignalSpec(
            f"{quantity}_{reduction}", "pair", description=f"{reduction} of {quantity} over pixels"
        )
        for quantity in FLOW_QUANTITIES
        for reduction in FLOW_REDUCTIONS
    )


_CLASSICAL = "qualitylab.features.classical"

SPECS: tuple[ExtractorSpec, ...] = (
    ExtractorSpec(
        name="ssim",
        version="2",
        kind="pair",
        signals=(SignalSpec("adjacent", "pair", True, "SSIM of neighbouring frames in grey"),),
        factory=f"{_CLASSICAL}.ssim:SSIMExtractor",
        family="temporal",
        description="structural similarity of neighbouring frames (grey)",
    ),
    ExtractorSpec(
        name="flow",
        version="1",
        kind="pair",
        signals=_flow_signals(),
        factory=f"{_CLASSICAL}.flow:FlowExtractor",
        family="temporal",
        config={"method": "dis"},
        description="OpenCV DIS optical flow of neighbouring frames (RAFT-shaped signals)",
    ),
    ExtractorSpec(
        name="flow_farneback",
        version="1",
        kind="pair",
        signals=_flow_signals(),
        factory=f"{_CLASSICAL}.flow:FlowExtractor",
        family="temporal",
        config={"method": "farneback"},
        description="OpenCV Farnebäck optical flow of neighbouring frames (RAFT-shaped signals)",
    ),
    ExtractorSpec(
        name="motion",
        version="1",
        kind="pair",
        signals=(
            SignalSpec("speed_mean", "pair", None, "mean flow magnitude, frame diagonals/s"),
            SignalSpec("speed_median", "pair", None, "median flow magnitude, frame diagonals/s"),
            SignalSpec("speed_p90", "pair", None, "90th pct flow magnitude, frame diagonals/s"),
            SignalSpec("speed_std", "pair", None, "std of flow magnitude, frame diagonals/s"),
            SignalSpec("coherence", "pair", None, "|mean flow| / mean |flow|, 0-1"),
            SignalSpec("warp_error", "pair", False, "luma error of the next frame warped back"),
            SignalSpec("flicker", "pair", False, "low-passed warp error: regional brightness"),
        ),
        factory=f"{_CLASSICAL}.motion:MotionExtractor",
        family="temporal",
        description="DIS flow in frame diagonals per second, motion coherence, warping "
        "error and flicker after motion compensation (default protocol)",
    ),
    ExtractorSpec(
        name="detail",
        version="1",
        kind="frame",
        signals=(
            SignalSpec("fine_detail", "frame", None, "finest-scale vs coarser-band luma energy"),
            SignalSpec("crushed_share", "frame", False, "share of pixels with luma <= 5"),
        ),
        factory=f"{_CLASSICAL}.detail:DetailExtractor",
        family="technical",
        description="contrast- and resolution-normalised fine detail (sharpness) and crushed "
        "blacks (default protocol)",
    ),
    ExtractorSpec(
        name="technical",
        version="1",
        kind="pair",
        signals=(
            SignalSpec("brightness", "frame", None, "mean luma, 0-255"),
            SignalSpec("dark", "frame", False, "1 when mean luma is below dark_threshold"),
            SignalSpec("clipped_share", "frame", False, "share of pixels with luma >= clip_level"),
            SignalSpec(
                "overexposed", "frame", False, "1 when clipped_share exceeds overexposed_share"
            ),
            SignalSpec("sharpness", "frame", True, "variance of the Laplacian of luma"),
            SignalSpec("colourfulness", "frame", True, "Hasler-Süsstrunk colourfulness"),
            SignalSpec("noise", "frame", False, "Immerkær noise sigma estimate of luma"),
            SignalSpec("blockiness", "frame", False, "8x8 block-edge to interior gradient ratio"),
            SignalSpec("frame_diff", "pair", None, "mean absolute luma difference of neighbours"),
            SignalSpec("static", "pair", False, "1 when frame_diff is below static_threshold"),
            SignalSpec("brightness_change", "pair", None, "absolute change of mean luma"),
            SignalSpec(
                "brightness_jump", "pair", False, "1 when brightness_change exceeds jump_threshold"
            ),
        ),
        factory=f"{_CLASSICAL}.technical:TechnicalExtractor",
        family="technical",
        description="technical checks: static, dark, over-exposed frames, brightness jumps, "
        "sharpness, colourfulness, noise, blockiness",
    ),
    ExtractorSpec(
        name="scenes",
        version="1",
        kind="pair",
        family="temporal",
        signals=(SignalSpec("content_val", "pair", None, "PySceneDetect's content score, 0-255"),),
        factory=f"{_CLASSICAL}.scenes:ScenesExtractor",
        description="scene cuts with PySceneDetect (adaptive or content rule); the pair "
        "signals of a run with it leave out the pairs that straddle a cut",
    ),
)

_LEARNED = "qualitylab.features.learned"


def _text_frame(name: str, factory: str, description: str) -> ExtractorSpec:
    return ExtractorSpec(
        name=name,
        version="1",
        kind="prompt_frame",
        signals=(SignalSpec("prompt_sim", "frame", True, "cosine similarity of prompt and frame"),),
        factory=f"{_LEARNED}.text_frame:{factory}",
        family="text-frame",
        config={"model": name},
        weights=(name,),
        description=description,
    )


LEARNED_SPECS: tuple[ExtractorSpec, ...] = (
    _text_frame("clip_b32", "TransformersSimilarity", "CLIP ViT-B/32 prompt-frame similarity"),
    _text_frame("clip_l14", "TransformersSimilarity", "CLIP ViT-L/14 prompt-frame similarity"),
    _text_frame(
        "siglip_so400m", "TransformersSimilarity", "SigLIP so400m/14-384 prompt-frame similarity"
    ),
    _text_frame("siglip_l16", "TransformersSimilarity", "SigLIP L/16-384 prompt-frame similarity"),
    _text_frame("jina_clip_v2", "JinaSimilarity", "Jina-CLIP v2 prompt-frame similarity"),
    _text_frame("hps_v2", "HPSv2Similarity", "HPS v2 (open_clip ViT-H/14) prompt-frame similarity"),
    ExtractorSpec(
        name="imagereward",
        version="1",
        kind="prompt_frame",
        signals=(
            SignalSpec("reward", "frame", True, "ImageReward v1.0 reward of (prompt, frame)"),
        ),
        factory=f"{_LEARNED}.imagereward:ImageRewardExtractor",
        family="quality",
        weights=("imagereward",),
        description="ImageReward v1.0 human-preference reward of each frame for the prompt",
    ),
    ExtractorSpec(
        name="lpips",
        version="1",
        kind="pair",
        signals=(SignalSpec("adjacent", "pair", False, "LPIPS (AlexNet) of neighbouring frames"),),
        factory=f"{_LEARNED}.lpips:LPIPSExtractor",
        family="temporal",
        weights=("lpips_alex",),
        description="LPIPS perceptual distance (AlexNet) of neighbouring frames",
    ),
    ExtractorSpec(
        name="raft",
        version="1",
        kind="pair",
        signals=_flow_signals(),
        factory=f"{_LEARNED}.raft:RAFTExtractor",
        family="temporal",
        weights=("raft_large",),
        description="RAFT large optical flow of neighbouring frames (torchvision), 18 signals",
    ),
)

REGISTRY: dict[str, ExtractorSpec] = {spec.name: spec for spec in SPECS + LEARNED_SPECS}


def family_members(family: Family) -> tuple[str, ...]:
    """The extractors of ``family``, in registry order."""
    return tuple(name for name, spec in REGISTRY.items() if spec.family == family)


class UnknownExtractorError(QualitylabError, KeyError):
    """An extractor name that is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_spec(name: str) -> ExtractorSpec:
    """The registry entry called ``name``; the error lists the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise UnknownExtractorError(f"unknown extractor {name!r}; known: {known}") from None


def with_learned_settings(
    names: list[str], overrides: Mapping[str, Mapping[str, Any]], **settings: Any
) -> dict[str, dict[str, Any]]:
    """``overrides`` with ``settings`` (device, precision, batch_size; None: not given)
    added for every learned extractor among ``names``; an extractor's own overrides win.
    UnknownExtractorError for a name not in the registry."""
    given = {key: value for key, value in settings.items() if value is not None}
    combined = {name: dict(values) for name, values in overrides.items()}
    for name in names:
        if given and get_spec(name).learned:
            combined[name] = {**given, **combined.get(name, {})}
    return combined


def is_pair_signal(name: str) -> bool:
    """Whether the signal ``extractor.signal`` runs over neighbouring-frame pairs (its
    value t sits between frames t and t+1) rather than over frames; False for a signal
    the registry does not know."""
    try:
        extractor, signal = split_signal(name)
        return REGISTRY[extractor].signal(signal).over == "pair"
    except (ValueError, KeyError):
        return False


def extractor_class(spec: ExtractorSpec) -> type[Extractor]:
    """Import the class behind a registry entry."""
    module, _, attribute = spec.factory.partition(":")
    return getattr(importlib.import_module(module), attribute)


def resolve_config(spec: ExtractorSpec, overrides: Mapping[str, Any] | None = None):
    """The validated config of ``spec`` with ``overrides`` applied; ValueError names the
    extractor and the bad setting."""
    cls = extractor_class(spec)
    try:
        return cls.Config(**{**spec.config, **(overrides or {})})
    except ValidationError as exc:
        raise ValueError(f"invalid settings for extractor {spec.name!r}: {exc}") from None


def create(name: str, overrides: Mapping[str, Any] | None = None) -> Extractor:
    """A ready extractor for the registry entry ``name`` (its models loaded)."""
    spec = get_spec(name)
    return extractor_class(spec)(spec, resolve_config(spec, overrides))
