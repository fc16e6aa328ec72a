"""Signal and feature column names, built and parsed here only.

A signal is named ``extractor.signal`` (neither part holds a dot). A feature column is
``extractor.signal.aggregation`` in an aggregated set (the aggregation may hold a dot:
``ssim.adjacent.ewm_0.3``) or ``extractor.signal.fNNN``, the signal's NNN-th value, in a
non-aggregated set (``ssim.adjacent.f007``). Any other column (``id``, ``prompt``, a
target, a quality index component) is descriptive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FRAME_VALUE = re.compile(r"f(\d{3})")


@dataclass(frozen=True)
class FeatureName:
    """A parsed feature column: its extractor, signal and aggregation or ``fNNN`` part."""

    extractor: str
    signal: str
    part: str

    @property
    def signal_name(self) -> str:
        """The signal the feature is computed from: ``extractor.signal``."""
        return signal_name(self.extractor, self.signal)

    @property
    def position(self) -> int | None:
        """The position of a non-aggregated value (``f007``: 7); None for an aggregation."""
        return frame_position(self.part)

    @property
    def aggregation(self) -> str | None:
        """The aggregation of an aggregated feature; None for a non-aggregated value."""
        return None if self.position is not None else self.part


def signal_name(extractor: str, signal: str) -> str:
    """The name of ``extractor``'s ``signal``: ``extractor.signal``."""
    return f"{extractor}.{signal}"


def split_signal(name: str) -> tuple[str, str]:
    """``(extractor, signal)`` of a signal name; ValueError for a name without both."""
    extractor, dot, signal = name.partition(".")
    if not (extractor and dot and signal) or "." in signal:
        raise ValueError(f"{name!r} is not a signal name (expected extractor.signal)")
    return extractor, signal


def aggregated_column(signal: str, aggregation: str) -> str:
    """The column of ``signal``'s ``aggregation``: ``extractor.signal.aggregation``."""
    return f"{signal}.{aggregation}"


def value_column(signal: str, position: int) -> str:
    """The column of ``signal``'s value at ``position`` (a non-aggregated set):
    ``extractor.signal.f007``."""
    return f"{signal}.f{position:03d}"


def frame_position(part: str) -> int | None:
    """The position named by a column's last part (``f007``: 7); None for an aggregation."""
    match = _FRAME_VALUE.fullmatch(part)
    return int(match[1]) if match else None


def parse_column(column: str) -> FeatureName | None:
    """The parts of a feature column; None for a descriptive column."""
    if not isinstance(column, str):
        return None
    extractor, _, rest = column.partition(".")
    signal, _, part = rest.partition(".")
    if not (extractor and signal and part):
        return None
    return FeatureName(extractor, signal, part)


def is_value_column(column: str) -> bool:
    """Whether ``column`` is one value of a non-aggregated set (``extractor.signal.fNNN``)."""
    parsed = parse_column(column)
    return parsed is not None and parsed.position is not None


def extractor_of(column: str) -> str:
    """The extractor a feature column comes from; ValueError for a descriptive column."""
    parsed = parse_column(column)
    if parsed is None:
        raise ValueError(f"{column!r} is not a feature column (expected extractor.signal.part)")
    return parsed.extractor
