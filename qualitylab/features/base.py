"""The extractor protocol: what an extractor declares and how frames are handed to it.

An extractor turns consecutive frames of one video into named 1-D signals. Its ``kind``
says what it reads: single frames (``frame``), neighbouring frames (``pair``), or the
prompt with each frame (``prompt_frame``). Each signal says what it runs over: one value
per frame (length T) or one per neighbouring pair (length T-1). The engine decodes a video
once and hands every extractor the same chunks of frames, in order; an extractor keeps no
state between chunks, because each chunk carries the frame before it.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

Kind = Literal["frame", "pair", "prompt_frame"]
Domain = Literal["frame", "pair"]
# What an extractor measures: how well frames match the prompt, how people would rate a
# frame for it, how frames change over time, or technical properties of the picture.
Family = Literal["text-frame", "quality", "temporal", "technical"]


@dataclass(frozen=True)
class SignalSpec:
    """One signal an extractor emits: its name, what it runs over, and its direction."""

    name: str
    over: Domain
    higher_is_better: bool | None = None
    description: str = ""


@dataclass(frozen=True)
class ExtractorSpec:
    """A registry entry: an extractor class with a name, version, kind, family, signals
    and config.

    Variants of one method (CLIP B/32 vs L/14, DIS vs Farnebäck flow) are entries that share
    a ``factory`` and differ in ``config``. ``factory`` is ``"module:Class"``, imported only
    when the extractor is created. ``weights`` names entries of ``qualitylab.weights``.
    """

    name: str
    version: str
    kind: Kind
    signals: tuple[SignalSpec, ...]
    factory: str
    family: Family
    config: Mapping[str, Any] = field(default_factory=dict)
    weights: tuple[str, ...] = ()
    description: str = ""

    @property
    def reads_prompt(self) -> bool:
        """Whether the extractor's signals depend on the video's prompt."""
        return self.kind == "prompt_frame"

    @property
    def learned(self) -> bool:
        """Whether the extractor runs a pretrained model (and so needs its weights)."""
        return bool(self.weights)

    def signal(self, name: str) -> SignalSpec:
        """The declared signal called ``name``."""
        for signal in self.signals:
            if signal.name == name:
                return signal
        raise KeyError(f"extractor {self.name!r} emits no signal {name!r}")


class ExtractorConfig(BaseModel):
    """Base of every extractor's settings: validated, immutable, unknown keys rejected.

    ``EXECUTION_FIELDS`` are settings that change how the signals are computed but not
    their values (e.g. device, batch size); they are left out of :func:`config_hash`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset()

    def resolved(self) -> ExtractorConfig:
        """This config with automatic choices made for this machine (see the learned
        extractors' device and precision); ValueError when a setting cannot run here."""
        return self


@dataclass(frozen=True)
class Chunk:
    """Consecutive frames of one video: ``frames`` [B, H, W, 3] RGB uint8, and the frame
    just before them (``previous``, None at the start of the video).

    ``timestamps`` are the frames' presentation times in seconds (B values) and
    ``previous_timestamp`` that of ``previous``; the engine always sets them, and
    extractors that measure change per second require them.
    """

    frames: np.ndarray
    previous: np.ndarray | None
    prompt: str
    video_id: str
    timestamps: np.ndarray | None = None
    previous_timestamp: float | None = None

    def pair_intervals(self) -> np.ndarray:
        """The seconds between the frames of each pair of :meth:`pairs`, in order;
        ValueError when the chunk carries no timestamps."""
        if self.timestamps is None or (
            self.previous is not None and self.previous_timestamp is None
        ):
            raise ValueError(f"{self.video_id}: the frames carry no timestamps")
        times = np.asarray(self.timestamps, np.float64)
        if self.previous is not None:
            times = np.concatenate([[self.previous_timestamp], times])
        return np.diff(times)

    def pairs(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The neighbouring-frame pairs that end in this chunk, in order: B of them when
        there is a previous frame, B-1 at the start of the video."""
        first = self.previous
        for frame in self.frames:
            if first is not None:
                yield first, frame
            first = frame


class Extractor(ABC):
    """An extractor instance: its registry entry and validated config, ready to process.

    Subclasses set ``Config`` (an :class:`ExtractorConfig`) and implement :meth:`process`.
    Models are loaded in ``__init__``, once per process.
    """

    Config: ClassVar[type[ExtractorConfig]] = ExtractorConfig

    def __init__(self, spec: ExtractorSpec, config: ExtractorConfig) -> None:
        self.spec = spec
        self.config = config

    @abstractmethod
    def process(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """Every declared signal's values for this chunk: ``float32`` arrays of length B
        for frame signals and ``len(list(chunk.pairs()))`` for pair signals."""


def config_hash(config: ExtractorConfig, sampling: Mapping[str, Any]) -> str:
    """A short stable hash of an extractor's config together with the frame sampling."""
    settings = config.model_dump(mode="json", exclude=set(config.EXECUTION_FIELDS))
    payload = json.dumps(
        {"config": settings, "sampling": dict(sampling)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
