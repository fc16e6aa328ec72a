"""Feature protocols: how a run turns videos into a feature table, named and recorded.

A protocol fixes the canonical frame sampling (short side in pixels and frame rate, or
the video's own when unset), the offline extractors it runs by default with their
settings, the aggregations of every signal, and whether the non-aggregated set (the first
100 values) is built. A run records its protocol in ``run.json`` under ``"protocol"``;
tables are built with the run's protocol, and a run.json without one is a thesis run.

- ``thesis``: the thesis' behaviour. Frames at whatever sampling is asked for (native
  resolution and frame rate by default), the 15 aggregations (sums and extremes
  included), and the agg, nonagg and combined tables. Its features encode resolution and
  length, hence which generator made a video; it is kept to reproduce the thesis and for
  the grid.
- ``default``: frames analysed at a canonical short side (256 px) and frame rate (8 fps),
  motion in frame diagonals per second (the ``motion`` extractor, which reads the frame
  timestamps), contrast- and scale-free fine detail (``detail``), per-pixel means and
  percentiles rather than sums, and length-invariant
  aggregations (``INVARIANT_AGGREGATIONS``); only the aggregated table. The same content
  at another resolution, frame rate or length gives the same features within the
  tolerances tested in ``tests/test_invariance.py``. Sources below the canonical frame
  rate are never upsampled, so their pair signals are spaced further apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qualitylab.data.video import Sampling
from qualitylab.features.aggregate import AGGREGATIONS, INVARIANT_AGGREGATIONS, SET_TYPES
from qualitylab.features.learned.runtime import learned_with_weights

ProtocolName = Literal["thesis", "default"]
PROTOCOL_NAMES: tuple[str, ...] = ("default", "thesis")
RUN_KEY = "protocol"


class Protocol(BaseModel):
    """A named feature protocol: canonical sampling, default extractors, aggregations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ProtocolName
    short_side: int | None = Field(None, ge=16)
    fps: float | None = Field(None, gt=0)
    extractors: dict[str, dict[str, Any]]
    aggregations: tuple[str, ...]
    nonagg: bool

    @property
    def set_types(self) -> tuple[str, ...]:
        """The feature tables a run of this protocol writes."""
        return SET_TYPES if self.nonagg else ("agg",)

    def sampling(
        self, *, max_seconds: float | None = None, num_frames: int | None = None
    ) -> Sampling:
        """The frame sampling of this protocol with an optional trim (and, for a protocol
        without a canonical frame rate, a frame count)."""
        if num_frames is not None and self.fps is not None:
            raise ValueError(
                f"the {self.name} protocol samples at {self.fps:g} fps; a number of frames "
                "needs --protocol thesis"
            )
        return Sampling(
            fps=self.fps, num_frames=num_frames, max_seconds=max_seconds, short_side=self.short_side
        )

    def check_sampling(self, sampling: Sampling) -> None:
        """ValueError when ``sampling`` is not this protocol's canonical one."""
        for name in ("short_side", "fps"):
            wanted = getattr(self, name)
            if wanted is not None and getattr(sampling, name) != wanted:
                raise ValueError(
                    f"the {self.name} protocol analyses frames at {name} {wanted:g}, but the "
                    f"sampling asks for {getattr(sampling, name)}"
                )

    def settings(
        self,
        names: Sequence[str],
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Per-extractor settings of a run of ``names``: this protocol's settings of those
        extractors, each updated with ``overrides``."""
        merged = {
            name: dict(settings)
            for name, settings in self.extractors.items()
            if name in names and settings
        }
        for name, values in (overrides or {}).items():
            merged[name] = {**merged.get(name, {}), **values}
        return merged

    def record(self) -> dict[str, Any]:
        """The protocol as JSON-ready data, for run.json and predictor.json."""
        return self.model_dump(mode="json")


THESIS = Protocol(
    name="thesis",
    extractors={"ssim": {}, "flow": {}, "technical": {}},
    aggregations=AGGREGATIONS,
    nonagg=True,
)
DEFAULT = Protocol(
    name="default",
    short_side=256,
    fps=8.0,
    extractors={"ssim": {}, "technical": {}, "motion": {}, "detail": {}},
    aggregations=INVARIANT_AGGREGATIONS,
    nonagg=False,
)
_PROTOCOLS: dict[str, Protocol] = {"thesis": THESIS, "default": DEFAULT}


def get_protocol(name: str, *, short_side: int | None = None, fps: float | None = None) -> Protocol:
    """The protocol called ``name``, with its canonical short side or frame rate replaced
    when given; ValueError for an unknown name, or canonical settings for ``thesis``."""
    if name not in _PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; use one of {', '.join(PROTOCOL_NAMES)}")
    protocol = _PROTOCOLS[name]
    changes = {
        key: value for key, value in (("short_side", short_side), ("fps", fps)) if value is not None
    }
    if changes and protocol.name == "thesis":
        raise ValueError(
            "the thesis protocol has no canonical sampling; give --fps/--short-side as "
            "sampling options of the thesis protocol, or use --protocol default"
        )
    return Protocol.model_validate({**protocol.model_dump(), **changes})


def run_protocol(run: Mapping[str, Any] | None) -> Protocol:
    """The protocol of a run record (run.json or predictor.json); thesis when it has none."""
    recorded = (run or {}).get(RUN_KEY)
    return THESIS if recorded is None else Protocol.model_validate(recorded)


def protocol_and_sampling(
    name: str,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    max_seconds: float | None = None,
    short_side: int | None = None,
) -> tuple[Protocol, Sampling]:
    """The protocol called ``name`` and the frame sampling of a run of it.

    For ``thesis``, ``fps``, ``num_frames``, ``short_side`` and ``max_seconds`` are the
    sampling as given (native frames when unset). For ``default``, ``short_side`` and
    ``fps`` replace its canonical values and ``max_seconds`` trims the video. ValueError
    for an unknown name or a sampling the protocol cannot take.
    """
    if name == "thesis":
        sampling = Sampling(
            fps=fps, num_frames=num_frames, max_seconds=max_seconds, short_side=short_side
        )
        return THESIS, sampling
    protocol = get_protocol(name, short_side=short_side, fps=fps)
    return protocol, protocol.sampling(max_seconds=max_seconds, num_frames=num_frames)


def default_features(protocol: Protocol) -> list[str]:
    """The extractors a run of ``protocol`` uses when none are named: its offline
    extractors, then every learned extractor whose weights are on disk."""
    offline = list(protocol.extractors)
    return offline + [name for name in learned_with_weights() if name not in offline]
