"""The whole loop: the demo experiment file, `run_loop`'s outputs, `qualitylab run`/`demo`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.data.samples import ASPECTS
from qualitylab.experiment_loop import LoopExperiment, load_loop_experiment, scored_correlation
from qualitylab.features.registry import with_learned_settings
from tests.conftest import SMALL_LOOP

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def test_demo_yaml_is_the_built_in_demo() -> None:
    assert load_loop_experiment(EXPERIMENTS / "demo.yaml") == LoopExperiment()


def test_demo_aspects_yaml_learns_the_synthetic_aspects() -> None:
    experiment = load_loop_experiment(EXPERIMENTS / "demo_aspects.yaml")
    assert experiment.target == list(ASPECTS) and experiment.overall == "synthetic_score"
    assert (
        experiment.model_copy(
            update={
                "name": "demo",
                "target": "synthetic_score",
                "overall": None,
                "training": experiment.training.model_copy(update={"group_by": None}),
            }
        )
        == LoopExperiment()
    )


def test_experiment_round_trips_through_yaml(tmp_path: Path) -> None:
    experiment = LoopExperiment.model_validate(SMALL_LOOP)
    path = tmp_path / "small.yaml"
    path.write_text(experiment.to_yaml())
    assert load_loop_experiment(path) == experiment


def test_loop_nests_the_training_protocol_and_reads_old_top_level_fields() -> None:
    old = LoopExperiment.model_validate({"trials": 4, "cv": 3, "group_by": "prompt"})
    new = LoopExperiment.model_validate({"training": {"trials": 4, "cv": 3, "group_by": "prompt"}})
    assert old == new and new.training.tuning == "auto" and new.training.threshold is None


def test_loop_takes_the_extraction_settings_of_extract_features() -> None:
    experiment = LoopExperiment.model_validate(
        {
            "features": ["technical", "lpips"],
            "settings": {"technical": {"dark_threshold": 30}, "lpips": {"batch_size": 2}},
            "device": "cpu",
            "batch_size": 8,
        }
    )
    overrides = with_learned_settings(
        list(experiment.features),
        experiment.settings,
        device=experiment.device,
        precision=experiment.precision,
        batch_size=experiment.batch_size,
    )
    assert overrides == {
        "technical": {"dark_threshold": 30},
        "lpips": {"device": "cpu", "batch_size": 2},
    }
    with pytest.raises(ValueError, match="device"):
        LoopExperiment.model_validate({"device": "tpu"})


def test_bad_experiment_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"trials": 0, "colour": "red"}))
    with pytest.raises(ValueError) as error:
        load_loop_experiment(path)
    message = str(error.value)
    assert str(path) in message and "trials" in message and "colour" in message


def test_loop_writes_every_step(small_loop) -> None:
    out = small_loop.out_dir
    for name in ("experiment.yaml", "model/predictor.json", "explain/shap_bar.png", "scores.csv"):
        assert (out / name).is_file(), name
    assert small_loop.report == out / "report.html"
    scores = pd.read_csv(small_loop.scores)
    assert len(scores) == 24 and scores["error"].isna().all()
    assert -1 <= small_loop.metrics["spearman"]["oof"] <= 1
    assert small_loop.features == ["ssim", "flow", "technical"]


def test_run_command_resolves_manifest_against_the_yaml(tmp_path: Path, small_loop) -> None:
    experiment = {
        **SMALL_LOOP,
        "name": "from-manifest",
        "data": "data/manifest.csv",
        "score": None,
    }
    path = small_loop.out_dir / "from_manifest.yaml"
    path.write_text(yaml.safe_dump(experiment))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert (
        "report:" in result.output
        and "cross-validated Spearman with synthetic_score" in result.output
    )
    assert (tmp_path / "run" / "report.html").is_file()
    assert not (tmp_path / "run" / "scores.csv").exists()


@pytest.mark.slow
def test_run_command_learns_aspects_as_a_bundle(tmp_path: Path, small_loop) -> None:
    experiment = {
        **SMALL_LOOP,
        "name": "aspects",
        "data": "data/manifest.csv",
        "target": list(ASPECTS),
        "overall": "synthetic_score",
        "group_by": "prompt",
        "score": "data/manifest.csv",
    }
    path = small_loop.out_dir / "aspects.yaml"
    path.write_text(yaml.safe_dump(experiment))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    for aspect in [*ASPECTS, "overall"]:
        assert f"cross-validated Spearman with aspect {aspect}:" in result.output
        assert (tmp_path / "run" / "model" / aspect / "predictor.json").is_file()
        assert (tmp_path / "run" / "explain" / aspect / "shap_bar.png").is_file()
        assert (tmp_path / "run" / f"report_{aspect}.html").is_file()
    assert (tmp_path / "run" / "model" / "bundle.json").is_file()
    scores = pd.read_csv(tmp_path / "run" / "scores.csv")
    assert scores["predicted_overall"].is_monotonic_decreasing
    assert "Spearman of the scored run's predictions with its synthetic_visual" in result.output


def test_run_command_reports_a_missing_manifest(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**SMALL_LOOP, "data": "nowhere.csv"}))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "nowhere.csv" in result.output


@pytest.mark.slow
def test_demo_command_end_to_end(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.html").is_file()
    assert "cross-validated Spearman with synthetic_score" in result.output
    assert "Spearman of the scored run's predictions with its synthetic_score" in result.output
    scored = pd.read_csv(tmp_path / "score_data" / "manifest.csv")
    assert set(scored["fps"]) == {16}  # the second run: another frame rate and size


def test_scored_correlation_matches_scores_to_the_target_by_id() -> None:
    scores = pd.DataFrame({"id": ["b", "a", "d", "c"], "predicted_score": [3.0, 1.0, 4.0, None]})
    table = pd.DataFrame({"id": ["a", "b", "c", "d"], "synthetic_score": [2.0, 5.0, 1.0, 9.0]})
    correlation = scored_correlation(scores, table, "synthetic_score")
    assert correlation.spearman == pytest.approx(1.0)
    assert correlation.n == 3  # the unscored video is left out
    assert correlation.ci[0] <= correlation.spearman <= correlation.ci[1]
    assert scored_correlation(scores, table, "human_score") is None
