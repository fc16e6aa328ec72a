"""Tests for the one module that builds and parses signal and feature column names."""

from __future__ import annotations

import pytest

from qualitylab.features.aggregate import AGGREGATIONS, feature_columns
from qualitylab.features.names import (
    FeatureName,
    aggregated_column,
    extractor_of,
    frame_position,
    is_value_column,
    parse_column,
    signal_name,
    split_signal,
    value_column,
)
from qualitylab.features.registry import is_pair_signal


def test_built_names_parse_back_into_their_parts() -> None:
    signal = signal_name("ssim", "adjacent")
    assert signal == "ssim.adjacent" and split_signal(signal) == ("ssim", "adjacent")
    ewm = parse_column(aggregated_column(signal, "ewm_0.3"))
    assert ewm == FeatureName("ssim", "adjacent", "ewm_0.3")
    assert (ewm.signal_name, ewm.aggregation, ewm.position) == (signal, "ewm_0.3", None)
    value = parse_column(value_column(signal, 7))
    assert value is not None and value.part == "f007"
    assert (value.position, value.aggregation) == (7, None)


def test_every_column_of_every_set_type_parses_to_its_signal() -> None:
    prefixes = ["ssim.adjacent", "raft.magnitude_mean"]
    for set_type in ("agg", "nonagg", "combined"):
        for column in feature_columns(prefixes, set_type):
            parsed = parse_column(column)
            assert parsed is not None and parsed.signal_name in prefixes
            part_is_known = parsed.part in AGGREGATIONS or parsed.position is not None
            assert part_is_known, column


@pytest.mark.parametrize("column", ["id", "human_score", "a.b", ".x.mean", "x..mean", 3])
def test_descriptive_columns_are_not_features(column) -> None:
    assert parse_column(column) is None
    assert not is_value_column(column)


def test_value_columns_and_positions() -> None:
    assert is_value_column("ssim.adjacent.f099") and not is_value_column("ssim.adjacent.mean")
    assert frame_position("f012") == 12
    assert frame_position("f12") is None and frame_position("fine") is None


def test_errors_name_the_bad_name() -> None:
    assert extractor_of("clip_b32.prompt_sim.mean") == "clip_b32"
    with pytest.raises(ValueError, match="'human_score' is not a feature column"):
        extractor_of("human_score")
    with pytest.raises(ValueError, match="'ssim' is not a signal name"):
        split_signal("ssim")


def test_pair_signals_come_from_the_registry() -> None:
    assert is_pair_signal("ssim.adjacent") and not is_pair_signal("technical.brightness")
    assert not is_pair_signal("nowhere.adjacent") and not is_pair_signal("ssim")
