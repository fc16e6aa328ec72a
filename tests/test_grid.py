import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import rated_feature_table
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.features.aggregate import feature_table
from qualitylab.learn.experiment import GridExperiment
from qualitylab.learn.grid import run_grid

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def thesis_layout_table(rows: int = 40, seed: int = 0) -> pd.DataFrame:
    """CLIP B/32 and SSIM signals (both set types) whose level follows the score."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=rows)
    signals = [
        {
            "clip_b32.prompt_sim": 0.25 + 0.05 * q + 0.01 * rng.normal(size=8),
            "ssim.adjacent": 0.8 + 0.02 * rng.normal(size=7),
        }
        for q in quality
    ]
    described = pd.DataFrame(
        {
            "id": [f"v{i}" for i in range(rows)],
            "prompt": [f"p{i // 2}" for i in range(rows)],
            "human_score": np.clip(5.5 + 2 * quality, 1, 10),
        }
    )
    return pd.concat([described, feature_table(signals, "combined")], axis=1)


def small_experiment(**changes) -> GridExperiment:
    small = GridExperiment(n_jobs=1, text_models=["clip_b32", "hps_v2"])
    return small.with_overrides(trials=2, cv=3, **changes)


def test_grid_runs_present_spaces_writes_tables_and_resumes(tmp_path):
    table = thesis_layout_table()
    summary = run_grid(table, small_experiment(), tmp_path)
    # clip_b32: 3 set types × {ONLY, S}; none: S; for two tasks
    assert summary.ran == 2 * (3 * 2 + 1)
    assert any("hps_v2" in name for name, _ in summary.skipped)
    assert any("lpips (L)" in why for _, why in summary.skipped)
    results = pd.read_csv(tmp_path / "results.csv")
    assert set(results["task"]) == {"regression", "classification"}
    regression = pd.read_csv(tmp_path / "tables" / "regression_agg.csv", index_col="model")
    assert list(regression.columns) == ["ONLY", "L", "S", "OF", "L_S", "L_OF", "S_OF", "L_S_OF"]
    assert " ± " in regression.loc["clip_b32", "ONLY"] and regression.loc["clip_b32", "L"] == "–"
    assert (tmp_path / "tables" / "classification_nonagg.md").read_text().startswith("#")
    study = optuna.load_study(
        study_name="regression:clip_b32/agg/ONLY", storage=f"sqlite:///{tmp_path / 'optuna.db'}"
    )
    assert len(study.trials) == 2
    assert (tmp_path / "experiment.yaml").is_file()

    again = run_grid(table, small_experiment(), tmp_path)
    assert again.ran == 0 and again.reused == summary.ran


def test_grid_refuses_an_impossible_classification(tmp_path):
    table = thesis_layout_table()
    with pytest.raises(ValueError, match="both sides of the threshold 50"):
        run_grid(table, small_experiment(threshold=50.0), tmp_path)


def test_train_predict_and_grid_commands(tmp_path):
    features = tmp_path / "features.parquet"
    rated_feature_table().to_parquet(features)
    model = tmp_path / "model"
    trained = runner.invoke(
        app,
        ["train", str(features), "--target", "human_score", "--out", str(model),
         "--trials", "2", "--cv", "3", "--group-by", "prompt"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "3-fold CV, grouped by prompt" in trained.output
    assert "spearman" in trained.output and "95% CI" in trained.output
    predicted = runner.invoke(
        app, ["predict", str(features), "--model", str(model), "--out", str(tmp_path / "p.csv")]
    )
    assert predicted.exit_code == 0, predicted.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == 80

    rated_feature_table().drop(columns="fam.sig1.mean").to_parquet(tmp_path / "other.parquet")
    mismatch = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "other.parquet"),
            "--model",
            str(model),
            "--out",
            str(tmp_path / "q.csv"),
        ],
    )
    assert mismatch.exit_code == 1 and "fam.sig1.mean" in mismatch.output

    bad_space = runner.invoke(
        app,
        [
            "train",
            str(features),
            "--target",
            "human_score",
            "--out",
            str(model),
            "--space",
            "clip_b32",
        ],
    )
    assert bad_space.exit_code == 1 and "clip_b32" in bad_space.output

    layout = tmp_path / "layout.parquet"
    thesis_layout_table().to_parquet(layout)
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(
        "trials: 2\ncv: 3\nn_jobs: 1\ntext_models: [clip_b32]\nset_types: [agg]\ncombinations: [ONLY, S]\n"
    )
    gridded = runner.invoke(
        app, ["grid", str(layout), "--out", str(tmp_path / "grid"), "--experiment", str(experiment)]
    )
    assert gridded.exit_code == 0, gridded.output
    assert "Regression" in gridded.output and "clip_b32" in gridded.output


def test_an_interrupted_search_keeps_its_trials_and_continues(tmp_path, monkeypatch):
    from qualitylab.learn import tune as tuning

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    split = (np.arange(24), np.arange(24, 30))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    scored = tuning.holdout_score
    calls = []

    def interrupted_on_the_third(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return scored(*args)

    monkeypatch.setattr(tuning, "holdout_score", interrupted_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        tuning.tune("regression", X, y, split, trials=5, seed=0, storage=storage, study_name="s")
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 2

    monkeypatch.setattr(tuning, "holdout_score", scored)
    resumed = tuning.tune(
        "regression", X, y, split, trials=5, seed=0, storage=storage, study_name="s"
    )
    assert len(resumed.trials) == 5
    assert [t.params for t in resumed.trials[:2]] == [
        t.params for t in optuna.load_study(study_name="s", storage=storage).trials[:2]
    ]
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 5


def test_grid_without_an_experiment_file_runs_the_thesis_grid_from_any_directory(
    tmp_path, monkeypatch
):
    from qualitylab.learn import grid as grid_module

    table = tmp_path / "table.parquet"
    thesis_layout_table().to_parquet(table)
    seen = {}

    def record(frame, experiment, out, **callbacks):
        seen["experiment"] = experiment
        raise KeyboardInterrupt  # stop before any training: only the settings matter here

    monkeypatch.setattr(grid_module, "run_grid", record)
    monkeypatch.chdir(tmp_path)  # no experiments/ folder here
    result = runner.invoke(app, ["grid", str(table), "--out", str(tmp_path / "g"), "--trials", "3"])
    assert result.exit_code == 130, result.output
    assert seen["experiment"] == GridExperiment().with_overrides(trials=3)
