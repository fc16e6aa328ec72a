"""Tests for qualitylab.learn.spaces: feature columns, families and the thesis grid."""

from __future__ import annotations

import pytest

from qualitylab.features.aggregate import (
    AGGREGATIONS,
    SET_TYPES,
    aggregated_columns,
    nonaggregated_columns,
)
from qualitylab.learn.spaces import (
    COMBINATIONS,
    TEXT_FRAME_MODELS,
    families,
    feature_columns,
    parse_space,
    resolve_optical_flow,
    thesis_spaces,
)

DESCRIPTIVE = ["id", "video", "prompt", "human_score", "model.version"]


def both_sets(prefix: str) -> list[str]:
    """A signal's aggregated then non-aggregated columns."""
    return aggregated_columns(prefix) + nonaggregated_columns(prefix)


def table_columns(
    text_models: tuple[str, ...] = TEXT_FRAME_MODELS,
    temporal: tuple[str, ...] = ("lpips", "ssim", "raft"),
    extra: tuple[str, ...] = (),
) -> list[str]:
    """Columns in the thesis layout: text–frame models with both sets, temporal families
    and ``extra`` families aggregated only (two signals each), descriptive columns first."""
    columns = list(DESCRIPTIVE)
    for model in text_models:
        columns += both_sets(f"{model}.prompt_sim")
    for family in (*temporal, *extra):
        columns += aggregated_columns(f"{family}.adjacent")
        columns += aggregated_columns(f"{family}.first")
    return columns


def agg_of(family: str) -> list[str]:
    return aggregated_columns(f"{family}.adjacent") + aggregated_columns(f"{family}.first")


def test_feature_columns_keeps_table_order_and_drops_descriptive_columns() -> None:
    columns = [
        "id",
        "clip_b32.prompt_sim.mean",
        "lpips.adjacent.ewm_0.1",
        "human_score",
        "clip_b32.prompt_sim.f000",
        "ssim.adjacent.iqr",
        "raft.magnitude_mean.max",
        "flow.angle_std.p25",
        "technical.dark.mean",
        "clip_b32.prompt_sim",  # one dot: not a feature
        "clip_b32.prompt_sim.f1000",  # not fNNN
        "clip_b32.prompt_sim.average",  # not an aggregation
        "mean",
    ]
    assert feature_columns(columns) == [
        "clip_b32.prompt_sim.mean",
        "lpips.adjacent.ewm_0.1",
        "clip_b32.prompt_sim.f000",
        "ssim.adjacent.iqr",
        "raft.magnitude_mean.max",
        "flow.angle_std.p25",
        "technical.dark.mean",
    ]


def test_every_aggregation_name_is_recognised() -> None:
    assert feature_columns(aggregated_columns("a.b")) == aggregated_columns("a.b")
    assert len(AGGREGATIONS) == 15


def test_families_split_sets_and_combined_is_table_order() -> None:
    columns = ["id", *both_sets("clip_b32.prompt_sim"), *both_sets("clip_b32.frame_sim")]
    columns += ["ssim.adjacent.mean", "human_score", "ssim.adjacent.std"]
    found = families(columns)
    assert list(found) == ["clip_b32", "ssim"]
    assert found["clip_b32"]["agg"] == aggregated_columns(
        "clip_b32.prompt_sim"
    ) + aggregated_columns("clip_b32.frame_sim")
    assert found["clip_b32"]["nonagg"] == nonaggregated_columns(
        "clip_b32.prompt_sim"
    ) + nonaggregated_columns("clip_b32.frame_sim")
    assert found["clip_b32"]["combined"] == columns[1:-3]
    assert found["ssim"] == {
        "agg": ["ssim.adjacent.mean", "ssim.adjacent.std"],
        "nonagg": [],
        "combined": ["ssim.adjacent.mean", "ssim.adjacent.std"],
    }


def test_full_thesis_grid_has_144_spaces_plus_the_temporal_only_row() -> None:
    spaces, skipped = thesis_spaces(table_columns())
    grid = [space for space in spaces if space.text_model is not None]
    none_row = [space for space in spaces if space.text_model is None]
    assert len(grid) == 6 * 3 * 8 == 144
    assert [space.name for space in none_row] == [f"none/agg/{c}" for c in COMBINATIONS[1:]]
    assert skipped == [("none/agg/ONLY", "temporal only: ONLY has no features")]
    expected_order = [
        f"{model}/{set_type}/{combo}"
        for model in TEXT_FRAME_MODELS
        for set_type in SET_TYPES
        for combo in COMBINATIONS
    ]
    assert [space.name for space in grid] == expected_order
    assert len({space.name for space in spaces}) == len(spaces) == 151


def test_space_columns_are_the_text_set_plus_aggregated_temporal_families() -> None:
    columns = table_columns()
    spaces = {space.name: space for space in thesis_spaces(columns)[0]}
    clip_nonagg = nonaggregated_columns("clip_b32.prompt_sim")
    assert spaces["clip_b32/nonagg/ONLY"].columns == tuple(clip_nonagg)
    assert spaces["clip_b32/agg/ONLY"].columns == tuple(aggregated_columns("clip_b32.prompt_sim"))
    assert spaces["clip_b32/combined/ONLY"].columns == tuple(both_sets("clip_b32.prompt_sim"))
    assert spaces["clip_b32/nonagg/L_OF"].columns == tuple(
        clip_nonagg + agg_of("lpips") + agg_of("raft")
    )
    assert spaces["none/agg/S_OF"].columns == tuple(agg_of("ssim") + agg_of("raft"))
    space = spaces["hps_v2/combined/L_S_OF"]
    assert (space.text_model, space.set_type, space.combination) == (
        "hps_v2",
        "combined",
        "L_S_OF",
    )


def test_temporal_families_contribute_only_aggregated_columns() -> None:
    columns = table_columns(text_models=("clip_b32",), temporal=("ssim",))
    columns += nonaggregated_columns("ssim.adjacent")
    spaces = {space.name: space for space in thesis_spaces(columns, text_models=("clip_b32",))[0]}
    assert spaces["clip_b32/agg/S"].columns == tuple(
        aggregated_columns("clip_b32.prompt_sim") + agg_of("ssim")
    )


def test_missing_families_are_skipped_with_reasons() -> None:
    columns = table_columns(text_models=("clip_b32",), temporal=("ssim",))
    spaces, skipped = thesis_spaces(columns, text_models=("clip_b32", "hps_v2"))
    names = [space.name for space in spaces]
    assert names == [
        *(f"clip_b32/{set_type}/{combo}" for set_type in SET_TYPES for combo in ("ONLY", "S")),
        "none/agg/S",
    ]
    reasons = dict(skipped)
    assert reasons["clip_b32/agg/L"] == "lpips (L) not in the table"
    assert reasons["clip_b32/agg/OF"] == "raft (OF) not in the table"
    assert reasons["hps_v2/agg/ONLY"] == "hps_v2 not in the table"
    assert reasons["hps_v2/nonagg/L_S"] == "hps_v2 not in the table; lpips (L) not in the table"
    assert reasons["none/agg/L_S_OF"] == ("lpips (L) not in the table; raft (OF) not in the table")
    assert len(spaces) + len(skipped) == 2 * 3 * 8 + 8


def test_a_text_model_without_the_set_is_skipped() -> None:
    columns = ["id", *aggregated_columns("clip_b32.prompt_sim")]
    spaces, skipped = thesis_spaces(columns, text_models=("clip_b32",), combinations=("ONLY",))
    assert [space.name for space in spaces] == ["clip_b32/agg/ONLY", "clip_b32/combined/ONLY"]
    assert skipped == [("clip_b32/nonagg/ONLY", "clip_b32 has no nonagg columns")]


def test_classical_only_table_gives_the_temporal_only_row() -> None:
    columns = table_columns(text_models=(), temporal=("ssim", "flow"), extra=("technical",))
    spaces, skipped = thesis_spaces(columns)
    assert [space.name for space in spaces] == ["none/agg/S", "none/agg/OF", "none/agg/S_OF"]
    assert all(space.text_model is None and space.set_type == "agg" for space in spaces)
    assert spaces[1].columns == tuple(agg_of("flow"))
    assert len(skipped) == 6 * 3 * 8 + 5


def test_no_temporal_family_means_no_temporal_only_row() -> None:
    columns = table_columns(text_models=("clip_b32",), temporal=())
    spaces, skipped = thesis_spaces(columns, text_models=("clip_b32",))
    assert not any(name.startswith("none/") for name, _ in skipped)
    assert [space.name for space in spaces] == [f"clip_b32/{s}/ONLY" for s in SET_TYPES]


@pytest.mark.parametrize(
    ("present", "choice", "expected"),
    [
        ({"raft", "flow"}, "auto", "raft"),
        ({"flow"}, "auto", "flow"),
        (set(), "auto", "raft"),
        ({"raft", "flow"}, "flow", "flow"),
        ({"flow"}, "raft", "raft"),
    ],
)
def test_optical_flow_resolution(present: set[str], choice: str, expected: str) -> None:
    assert resolve_optical_flow(present, choice) == expected


def test_optical_flow_choice_selects_the_of_family() -> None:
    columns = table_columns(text_models=("clip_b32",), temporal=("raft", "flow"))

    def of_columns(choice: str) -> tuple[str, ...]:
        spaces = thesis_spaces(
            columns,
            text_models=("clip_b32",),
            set_types=("agg",),
            combinations=("OF",),
            optical_flow=choice,
        )[0]
        return spaces[0].columns

    clip = aggregated_columns("clip_b32.prompt_sim")
    assert of_columns("auto") == tuple(clip + agg_of("raft"))
    assert of_columns("raft") == tuple(clip + agg_of("raft"))
    assert of_columns("flow") == tuple(clip + agg_of("flow"))
    only_flow = table_columns(text_models=("clip_b32",), temporal=("flow",))
    _, skipped = thesis_spaces(only_flow, text_models=("clip_b32",), optical_flow="raft")
    assert dict(skipped)["clip_b32/agg/OF"] == "raft (OF) not in the table"


@pytest.mark.parametrize(
    "arguments",
    [{"set_types": ("mean",)}, {"combinations": ("OF_L",)}, {"optical_flow": "farneback"}],
)
def test_thesis_spaces_rejects_unknown_choices(arguments: dict) -> None:
    with pytest.raises(ValueError, match="unknown"):
        thesis_spaces(table_columns(), **arguments)


def test_parse_space_builds_named_spaces() -> None:
    columns = table_columns(extra=("technical",))
    space = parse_space(" clip_b32:nonagg , lpips,raft:agg", columns)
    assert space.name == "clip_b32:nonagg,lpips:agg,raft:agg"
    assert space.columns == tuple(
        nonaggregated_columns("clip_b32.prompt_sim") + agg_of("lpips") + agg_of("raft")
    )
    assert (space.text_model, space.set_type, space.combination) == ("clip_b32", "nonagg", "L_OF")

    only = parse_space("hps_v2:combined", columns)
    assert (only.text_model, only.set_type, only.combination) == ("hps_v2", "combined", "ONLY")
    assert only.columns == tuple(both_sets("hps_v2.prompt_sim"))

    temporal = parse_space("ssim,lpips", columns)
    assert (temporal.text_model, temporal.combination) == (None, "L_S")
    assert temporal.columns == tuple(agg_of("ssim") + agg_of("lpips"))

    assert parse_space("clip_b32,technical", columns).combination == "custom"
    assert parse_space("clip_b32,clip_l14", columns).combination == "custom"


def test_parse_space_all_takes_every_family_aggregated() -> None:
    columns = table_columns(text_models=("clip_b32",), extra=("technical",))
    space = parse_space("all", columns)
    assert space.name == "all"
    expected = aggregated_columns("clip_b32.prompt_sim")
    for family in ("lpips", "ssim", "raft", "technical"):
        expected += agg_of(family)
    assert space.columns == tuple(expected)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        (" , ", "empty"),
        ("clip_h14", r"unknown feature family 'clip_h14'; the table has \['clip_b32', 'lpips'"),
        ("clip_b32:mean", "unknown set type 'mean'"),
        ("lpips:nonagg", "lpips has no nonagg columns"),
        ("clip_b32,clip_b32:nonagg", r"more than once: \['clip_b32'\]"),
        ("all,lpips", "unknown feature family 'all'"),
    ],
)
def test_parse_space_errors(spec: str, message: str) -> None:
    columns = table_columns(text_models=("clip_b32",))
    with pytest.raises(ValueError, match=message):
        parse_space(spec, columns)
