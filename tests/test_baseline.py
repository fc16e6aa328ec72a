"""The Webench2 quality index: hand-computed values, bounds, missing families, config."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from qualitylab.baseline import (
    COMPONENTS,
    ComponentWeights,
    QualityIndexConfig,
    load_index_config,
    quality_index,
    save_index_config,
)

FULL_COLUMNS = {
    "clip_b32.prompt_sim.mean": [0.275, 0.50],
    "clip_b32.prompt_sim.min": [0.15, 0.10],
    "clip_b32.prompt_sim.max": [0.40, 0.45],
    "clip_b32.prompt_sim.std": [0.025, 0.10],
    "imagereward.reward.mean": [1.0, -3.0],
    "technical.static.mean": [0.2, 1.0],
    "technical.dark.mean": [0.0, 1.0],
    "technical.overexposed.mean": [0.5, 0.0],
    "technical.brightness_jump.mean": [0.1, 0.0],
}


def full_table() -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b"], "prompt": ["p", "q"], **FULL_COLUMNS})


def test_hand_computed_values():
    result = quality_index(full_table())
    # row a: clip mean 0.275 -> 0.5, min 0.15 -> 0, max 0.40 -> 1, var 0.000625 -> 0.75,
    # reward 1 -> 0.75, static 0.2 -> 0.8, dark 0 -> 1, overexposed 0.5 -> 0.5, jump 0.1 -> 0.9
    row_a = (
        0.30 * 0.5
        + 0.05 * 0
        + 0.05 * 1
        + 0.05 * 0.75
        + 0.25 * 0.75
        + 0.10 * 0.8
        + 0.05 * 1
        + 0.05 * 0.5
        + 0.10 * 0.9
    )
    # row b: everything beyond its range is clipped; only clip mean/max, overexposed, jump score
    row_b = 0.30 * 1 + 0.05 * 1 + 0.05 * 1 + 0.10 * 1
    assert row_a == pytest.approx(0.67) and row_b == pytest.approx(0.5)
    np.testing.assert_allclose(result.quality_index, [row_a, row_b])
    expected_a = [0.5, 0, 1, 0.75, 0.75, 0.8, 1, 0.5, 0.9]
    got_a = [result.table.loc[0, f"qi_{c.name}"] for c in COMPONENTS]
    np.testing.assert_allclose(got_a, expected_a)
    assert list(result.table.columns[:3]) == ["id", "prompt", "quality_index"]
    assert result.components == tuple(c.name for c in COMPONENTS)
    assert result.missing_components == () and result.missing_families == ()
    assert result.families == ("clipscore", "imagereward", "technical")
    assert result.text_model == "clip_b32"
    assert sum(result.weights.values()) == pytest.approx(1.0)
    assert result.columns["static"] == "technical.static.mean"
    assert result.rows_incomplete == 0


def test_bounds_on_wild_values():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({name: rng.normal(0, 5, 200) for name in FULL_COLUMNS})
    index = quality_index(table).quality_index
    assert index.notna().all() and index.between(0, 1).all()
    normalised = quality_index(table).table.filter(like="qi_")
    assert ((normalised >= 0) & (normalised <= 1)).all().all()


def test_missing_families_are_reported_and_weights_renormalised():
    table = full_table()[["id", "technical.static.mean", "technical.dark.mean"]]
    result = quality_index(table)
    assert result.families == ("technical",)
    assert result.missing_families == ("clipscore", "imagereward")
    assert "imagereward" in result.missing_components and "overexposed" in result.missing_components
    assert result.text_model is None
    assert result.weights == pytest.approx({"static": 2 / 3, "dark": 1 / 3})
    np.testing.assert_allclose(result.quality_index, [2 / 3 * 0.8 + 1 / 3 * 1, 0.0])
    assert any("Missing families: clipscore, imagereward" in line for line in result.describe())
    # Technical checks alone are no quality baseline, and the index says so.
    assert result.degenerate and "not a quality baseline" in result.describe()[-1]
    assert not quality_index(full_table()).degenerate


def test_renormalised_index_equals_index_with_zero_weights():
    table = full_table()[["clip_b32.prompt_sim.mean", "technical.static.mean"]]
    result = quality_index(table)
    np.testing.assert_allclose(result.quality_index, [0.75 * 0.5 + 0.25 * 0.8, 0.75 * 1 + 0])
    only_two = ComponentWeights(
        clip_mean=0.3, clip_min=0, clip_max=0, clip_variance=0, imagereward=0, static=0.1,
        dark=0, overexposed=0, brightness_jump=0,
    )  # fmt: skip
    on_full = quality_index(full_table(), QualityIndexConfig(weights=only_two))
    np.testing.assert_allclose(on_full.quality_index, result.quality_index)
    assert on_full.missing_components == ()  # a weight of 0 switches off, it is not missing


def test_nan_component_uses_remaining_components():
    table = full_table()[["clip_b32.prompt_sim.mean", "technical.static.mean"]]
    table.loc[0, "clip_b32.prompt_sim.mean"] = np.nan
    table.loc[1, ["clip_b32.prompt_sim.mean", "technical.static.mean"]] = np.nan
    table = pd.concat([table, pd.DataFrame({"clip_b32.prompt_sim.mean": [0.40]})])
    result = quality_index(table.reset_index(drop=True))
    assert result.quality_index[0] == pytest.approx(0.8)  # static alone
    assert np.isnan(result.quality_index[1])  # nothing defined
    assert result.quality_index[2] == pytest.approx(1.0)  # clip alone (static NaN)
    assert result.rows_incomplete == 3


def test_no_component_is_a_clear_error():
    with pytest.raises(ValueError, match="looked for") as info:
        quality_index(pd.DataFrame({"id": ["a"], "ssim.adjacent.mean": [0.9]}))
    message = str(info.value)
    for column in ("clip_b32.prompt_sim.mean", "imagereward.reward.mean", "technical.static.mean"):
        assert column in message


def test_non_numeric_column_is_refused():
    with pytest.raises(ValueError, match="technical.static.mean"):
        quality_index(pd.DataFrame({"technical.static.mean": ["lots"]}))


def test_text_model_choice():
    table = pd.DataFrame(
        {"siglip_so400m.prompt_sim.mean": [0.40], "clip_l14.prompt_sim.mean": [0.15]}
    )
    assert quality_index(table).text_model == "clip_l14"  # the first in registry order
    assert quality_index(table).quality_index[0] == 0.0
    with_b32 = table.assign(**{"clip_b32.prompt_sim.mean": [0.275]})
    assert quality_index(with_b32).text_model == "clip_b32"
    chosen = quality_index(with_b32, QualityIndexConfig(text_model="siglip_so400m"))
    assert chosen.text_model == "siglip_so400m" and chosen.quality_index[0] == 1.0
    absent = quality_index(
        with_b32.assign(**{"technical.dark.mean": [0.0]}), QualityIndexConfig(text_model="hps_v2")
    )
    assert "clipscore" in absent.missing_families and absent.text_model is None


def test_monotonic_directions():
    base = pd.concat([full_table().iloc[[0]]] * 5, ignore_index=True)
    more_static = base.assign(**{"technical.static.mean": np.linspace(0, 1, 5)})
    assert np.all(np.diff(quality_index(more_static).quality_index) < 0)
    higher_clip = base.assign(**{"clip_b32.prompt_sim.mean": np.linspace(0.16, 0.39, 5)})
    assert np.all(np.diff(quality_index(higher_clip).quality_index) > 0)
    more_varied = base.assign(**{"clip_b32.prompt_sim.std": np.linspace(0.0, 0.045, 5)})
    assert np.all(np.diff(quality_index(more_varied).quality_index) < 0)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"weights": {"static": -0.1}}, "greater than or equal to 0"),
        ({"weights": {c.name: 0 for c in COMPONENTS}}, "at least one component weight"),
        ({"weights": {"sharpness": 1}}, "Extra inputs"),
        ({"clipscore_range": [0.4, 0.15]}, "low < high"),
        ({"imagereward_range": [1, 1]}, "low < high"),
        ({"clipscore_variance_max": 0}, "greater than 0"),
        ({"clipscore_range": [0.1, float("nan")]}, "finite"),
        ({"text_model": "clip_h99"}, "unknown text–frame model"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_config_validation(settings, message):
    with pytest.raises(ValidationError, match=message):
        QualityIndexConfig.model_validate(settings)


def test_config_round_trips_through_yaml_and_json(tmp_path):
    config = QualityIndexConfig(
        text_model="siglip_l16",
        weights=ComponentWeights(static=0.5, imagereward=0),
        clipscore_range=(0.1, 0.35),
        imagereward_range=(-1.5, 2.5),
    )
    assert QualityIndexConfig.from_yaml(config.to_yaml()) == config
    assert QualityIndexConfig.model_validate_json(config.model_dump_json()) == config
    for name in ("index.yaml", "index.json"):
        path = save_index_config(config, tmp_path / name)
        assert load_index_config(path) == config
    json.loads((tmp_path / "index.json").read_text())
    assert QualityIndexConfig.from_yaml("") == QualityIndexConfig()


def test_invalid_config_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("weights:\n  static: -1\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_index_config(path)
    path.write_text("- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        load_index_config(path)


def test_result_describes_formula_and_keeps_the_index():
    table = full_table()
    table.index = [10, 20]
    result = quality_index(table)
    assert list(result.table.index) == [10, 20]
    text = "\n".join(result.describe())
    assert "sum_c w_c * n_c / sum_c w_c" in text and "clip_b32.prompt_sim.mean" in text
