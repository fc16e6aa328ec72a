"""Tests for the grid experiment config and the thesis result tables."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from qualitylab.features.aggregate import SET_TYPES
from qualitylab.learn.experiment import GridExperiment, load_experiment, save_experiment
from qualitylab.learn.grid_tables import (
    format_cell,
    thesis_tables,
    to_markdown,
    write_thesis_tables,
)
from qualitylab.learn.spaces import COMBINATIONS, TEXT_FRAME_MODELS
from qualitylab.learn.train import TrainProtocol

THESIS_YAML = Path(__file__).resolve().parents[1] / "experiments" / "thesis_grid.yaml"


# --- experiment config ---------------------------------------------------------------


def test_defaults_are_the_thesis_protocol() -> None:
    experiment = GridExperiment()
    assert experiment.tasks == ["regression", "classification"]
    training = experiment.training
    assert (training.threshold, training.trials, training.cv, training.tuning) == (
        5.5,
        30,
        5,
        "thesis",
    )
    assert experiment.text_models == list(TEXT_FRAME_MODELS)
    assert experiment.set_types == list(SET_TYPES)
    assert experiment.combinations == list(COMBINATIONS)
    assert (experiment.optical_flow, experiment.n_jobs, training.group_by) == ("auto", 0, None)


def test_shipped_thesis_grid_yaml_states_the_defaults_explicitly() -> None:
    text = THESIS_YAML.read_text(encoding="utf-8")
    assert load_experiment(THESIS_YAML) == GridExperiment()
    for field in GridExperiment.model_fields:
        assert f"\n{field}:" in text


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n", encoding="utf-8")
    assert load_experiment(path) == GridExperiment()


def test_yaml_round_trip(tmp_path: Path) -> None:
    experiment = GridExperiment(
        name="small",
        tasks=["classification"],
        training=TrainProtocol(threshold=6.0, trials=3, cv=3, group_by="prompt", seed=7),
        text_models=["hps_v2", "clip_b32"],
        set_types=["nonagg"],
        combinations=["ONLY", "S_OF"],
        optical_flow="flow",
        n_jobs=2,
    )
    path = save_experiment(experiment, tmp_path / "sub" / "small.yaml")
    assert load_experiment(path) == experiment
    assert GridExperiment().to_yaml().startswith("name: thesis_grid\ntarget: human_score\n")


def test_invalid_fields_are_each_named_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "trials: 0\ncv: 1\ntext_models: [clip_b32, clip_h14]\ncombinations: [OF_L]\n"
        "tasks: [ranking]\noptical_flow: farneback\ncolour: red\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError) as raised:
        load_experiment(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: invalid experiment")
    for location in (
        "training.trials:",
        "training.cv:",
        "text_models:",
        "combinations:",
        "tasks.0:",
    ):
        assert f"\n  {location}" in message
    assert "optical_flow:" in message and "colour: Extra inputs are not permitted" in message
    assert "clip_h14" in message and "OF_L" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [("trials: [1\n", "not valid YAML"), ("- 1\n- 2\n", "expected a mapping")],
)
def test_malformed_files_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as raised:
        load_experiment(path)
    assert str(path) in str(raised.value)


def test_repeated_entries_are_rejected() -> None:
    with pytest.raises(ValueError, match="more than once"):
        GridExperiment(set_types=["agg", "agg"])


def test_overrides_are_validated_and_none_is_ignored() -> None:
    experiment = GridExperiment().with_overrides(trials=5, target="score", group_by=None)
    assert (experiment.training.trials, experiment.target) == (5, "score")
    assert (experiment.training.group_by, experiment.training.tuning) == (None, "thesis")
    with pytest.raises(ValueError, match="trials"):
        GridExperiment().with_overrides(trials=0)
    assert GridExperiment().model_copy(update={"n_jobs": 3}).n_jobs == 3


def test_training_protocol_is_nested_and_partial_mappings_keep_the_thesis_values() -> None:
    experiment = GridExperiment.model_validate({"training": {"trials": 4, "group_by": "prompt"}})
    assert experiment.training == TrainProtocol(
        threshold=5.5, tuning="thesis", trials=4, group_by="prompt"
    )
    with pytest.raises(ValueError, match="thesis"):
        GridExperiment.model_validate({"training": {"learner": "ridge"}})


def test_old_files_with_protocol_fields_at_the_top_level_are_read(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text("target: score\nthreshold: 3\ntrials: 7\ncv: 4\nseed: 2\n", encoding="utf-8")
    training = load_experiment(path).training
    assert (training.threshold, training.trials, training.cv, training.seed) == (3, 7, 4, 2)
    assert training.tuning == "thesis"


# --- thesis tables -------------------------------------------------------------------


def result_rows() -> pd.DataFrame:
    """Results of a small grid: two text models and the temporal-only row, both tasks,
    plus a secondary metric the tables must ignore."""
    rows = []
    for task, metric in (("regression", "mae"), ("classification", "accuracy")):
        for set_type in ("agg", "nonagg"):
            for model in ("hps_v2", "clip_b32"):
                for i, combo in enumerate(("ONLY", "L", "S_OF")):
                    mean = 0.5 + 0.1 * i + (0.01 if set_type == "nonagg" else 0.0)
                    rows.append((task, set_type, model, combo, metric, mean, 0.0444))
                    rows.append((task, set_type, model, combo, "spearman", 0.9, 0.01))
        rows.append((task, "agg", "none", "S", metric, 0.81234, 0.04449))
    return pd.DataFrame(
        rows,
        columns=["task", "set_type", "text_model", "combination", "metric", "mean", "std"],
    )


def test_cell_format() -> None:
    assert format_cell(0.81234, 0.04449) == "0.812 ± 0.044"
    assert format_cell(1.0, math.nan) == "1.000"
    assert format_cell(math.nan, 0.1) == "–"


def test_thesis_table_layout() -> None:
    tables = thesis_tables(result_rows())
    assert list(tables) == [
        ("regression", "agg"),
        ("regression", "nonagg"),
        ("classification", "agg"),
        ("classification", "nonagg"),
    ]
    table = tables[("regression", "nonagg")]
    assert list(table.index) == ["clip_b32", "hps_v2", "none"]
    assert table.index.name == "model"
    assert list(table.columns) == list(COMBINATIONS)
    assert table.loc["clip_b32", "ONLY"] == "0.510 ± 0.044"
    assert table.loc["hps_v2", "S_OF"] == "0.710 ± 0.044"
    assert table.loc["clip_b32", "OF"] == "–"
    assert table.loc["none", "ONLY"] == "–"
    for key in tables:
        assert tables[key].loc["none", "S"] == "0.812 ± 0.044"


def test_temporal_only_results_give_one_agg_table() -> None:
    results = result_rows()
    results = results[results["text_model"] == "none"]
    tables = thesis_tables(results)
    assert list(tables) == [("regression", "agg"), ("classification", "agg")]
    assert list(tables[("regression", "agg")].index) == ["none"]


def test_duplicate_cells_and_missing_columns_are_errors() -> None:
    results = result_rows()
    with pytest.raises(ValueError, match="more than one result"):
        thesis_tables(pd.concat([results, results.iloc[:1]]))
    with pytest.raises(ValueError, match="lack the columns"):
        thesis_tables(results.drop(columns="std"))


def test_markdown_table() -> None:
    table = thesis_tables(result_rows())[("classification", "agg")]
    text = to_markdown(table, "Title")
    lines = text.splitlines()
    assert lines[0] == "# Title"
    assert lines[2] == "| model | " + " | ".join(COMBINATIONS) + " |"
    assert lines[3] == "| " + " | ".join(["---"] * 9) + " |"
    assert lines[4].startswith("| clip_b32 | 0.500 ± 0.044 | 0.600 ± 0.044 | – |")
    assert lines[6] == "| none | – | – | 0.812 ± 0.044 | – | – | – | – | – |"


def test_files_written(tmp_path: Path) -> None:
    paths = write_thesis_tables(result_rows(), tmp_path / "tables")
    names = [path.name for path in paths]
    assert names == [
        "regression_agg.md",
        "regression_agg.csv",
        "regression_nonagg.md",
        "regression_nonagg.csv",
        "classification_agg.md",
        "classification_agg.csv",
        "classification_nonagg.md",
        "classification_nonagg.csv",
    ]
    first = (tmp_path / "tables" / "regression_nonagg.md").read_text(encoding="utf-8")
    assert first.splitlines()[0] == "# Regression: MAE (lower is better), nonagg feature set"
    title = (tmp_path / "tables" / "classification_agg.md").read_text(encoding="utf-8")
    assert title.startswith("# Classification: accuracy (higher is better), agg feature set\n")
    csv = pd.read_csv(tmp_path / "tables" / "regression_agg.csv", index_col="model")
    assert list(csv.columns) == list(COMBINATIONS)
    assert csv.loc["clip_b32", "ONLY"] == "0.500 ± 0.044"
    assert csv.loc["none", "S"] == "0.812 ± 0.044"
