import json

import numpy as np
import pandas as pd
import pytest
from conftest import rated_feature_table as synthetic_table

from qualitylab.learn import cv
from qualitylab.learn.predictor import PredictorError, load_predictor, save_predictor
from qualitylab.learn.train import TrainConfig, train

FEATURES = [f"fam.sig{j}.mean" for j in range(4)]


def test_quantile_strata_balance_the_folds():
    y = np.arange(100, dtype=float)
    labels = cv.strata(y, 5, "regression")
    assert sorted(np.bincount(labels)) == [20] * 5
    for _, test in cv.kfold(labels, 5, seed=0):
        assert sorted(np.bincount(labels[test])) == [4] * 5  # every bin in every fold


def test_grouped_folds_never_split_a_group():
    table = synthetic_table()
    groups = table["prompt"].to_numpy()
    labels = cv.strata(table["human_score"].to_numpy(), 5, "regression")
    folds = cv.kfold(labels, 5, seed=1, groups=groups)
    seen = []
    for train_rows, test_rows in folds:
        assert not set(groups[train_rows]) & set(groups[test_rows])
        seen.extend(test_rows)
    assert sorted(seen) == list(range(len(table)))
    with pytest.raises(ValueError, match="at least 30 groups"):
        cv.kfold(labels, 30, seed=0, groups=groups)


def test_training_learns_and_is_deterministic():
    table = synthetic_table()
    config = TrainConfig(target="human_score", trials=4, cv=4, group_by="prompt", seed=3)
    first = train(table, FEATURES, config)
    second = train(table, FEATURES, config)
    assert first.params == second.params
    pd.testing.assert_frame_equal(first.oof, second.oof)
    spearman = first.metrics["spearman"]
    assert spearman["mean"] > 0.6 and len(spearman["folds"]) == 4
    low, high = spearman["ci"]
    assert low < spearman["oof"] < high
    assert first.model is not None and len(first.oof) == 80


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_a_forest_grown_in_steps_scores_as_one_fitted_at_once(task):
    from sklearn.metrics import accuracy_score, mean_absolute_error

    from qualitylab.learn.tune import holdout_score, make_model

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(60, 6)), rng.normal(size=60)
    if task == "classification":
        y = (y > 0).astype(int)
    split = (np.arange(45), np.arange(45, 60))
    params = {"n_estimators": 90, "max_depth": 6, "min_samples_leaf": 2, "max_features": "sqrt"}
    heard = []
    grown = holdout_score(task, params, X, y, split, 0, lambda score, trees: heard.append(trees))
    once = make_model(task, params, 0).fit(X[:45], y[:45]).predict(X[45:])
    metric = accuracy_score if task == "classification" else mean_absolute_error
    assert grown == metric(y[45:], once)
    assert heard == [10, 20, 40, 80]


def test_classification_threshold_semantics():
    table = synthetic_table()
    table.loc[:9, "human_score"] = 5.5  # exactly at the threshold counts as positive
    config = TrainConfig(target="human_score", task="classification", threshold=5.5, trials=2, cv=3)
    result = train(table, FEATURES, config)
    assert (result.oof.loc[:9, "target"] >= 5.5).all()
    assert set(result.metrics) >= {"accuracy", "f1", "roc_auc", "spearman"}
    assert result.oof["probability"].between(0, 1).all()
    with pytest.raises(ValueError, match="classification needs both classes"):
        train(table, FEATURES, config.model_copy(update={"threshold": 100.0}))


def test_classification_threshold_defaults_to_the_midpoint_of_the_observed_scale():
    table = synthetic_table()
    table["human_score"] = np.linspace(1, 5, len(table))  # a 1-5 scale: 5.5 would be one class
    config = TrainConfig(target="human_score", task="classification", trials=2, cv=3)
    result = train(table, FEATURES, config, fit_final=False)
    assert result.config.threshold == 3.0
    assert (result.oof["target"] >= 3.0).sum() == (table["human_score"] >= 3.0).sum()


def test_nan_policy_drops_empty_columns_and_imputes_the_rest():
    table = synthetic_table()
    table["fam.empty.mean"] = np.nan
    table.loc[::5, "fam.sig0.mean"] = np.nan
    table.loc[3, "human_score"] = np.nan
    result = train(
        table, [*FEATURES, "fam.empty.mean"], TrainConfig(target="human_score", trials=2, cv=3)
    )
    assert result.dropped == ["fam.empty.mean"] and "fam.empty.mean" not in result.columns
    assert result.rows == 79 and result.rows_without_target == 1


def test_predictor_round_trip_and_schema_check(tmp_path):
    table = synthetic_table()
    result = train(table, FEATURES, TrainConfig(target="human_score", trials=2, cv=3))
    save_predictor(tmp_path / "model", result, table, space="fam")
    info = json.loads((tmp_path / "model" / "predictor.json").read_text())
    assert info["features"] == FEATURES and info["target"] == "human_score"
    assert {"scikit-learn", "skops", "python"} <= set(info["packages"])
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert set(metrics["spearman"]) >= {"mean", "std", "ci", "folds", "oof"}

    predictor = load_predictor(tmp_path / "model")
    shuffled = table[list(reversed(table.columns))]
    predictions = predictor.predict(shuffled)
    expected = result.model.predict(table[FEATURES].to_numpy())
    np.testing.assert_allclose(predictions["predicted_score"], expected)
    assert predictions["id"].tolist() == table["id"].tolist()

    with pytest.raises(PredictorError, match="1 of its 4 features are missing \\(fam.sig2.mean\\)"):
        predictor.predict(table.drop(columns="fam.sig2.mean"))


def test_predictor_from_another_format_is_refused(tmp_path):
    table = synthetic_table()
    result = train(table, FEATURES, TrainConfig(target="human_score", trials=1, cv=2))
    save_predictor(tmp_path, result, table, space="fam")
    info = json.loads((tmp_path / "predictor.json").read_text())
    info["format_version"] = 99
    (tmp_path / "predictor.json").write_text(json.dumps(info))
    with pytest.raises(PredictorError, match="predictor format 99"):
        load_predictor(tmp_path)
    with pytest.raises(PredictorError, match="not a model directory"):
        load_predictor(tmp_path / "nothing")


@pytest.mark.realdata
def test_grouped_training_on_the_shared_real_set(real_data_dir, tmp_path):
    from qualitylab.data.manifest import ColumnMapping, load_manifest
    from qualitylab.data.video import Sampling
    from qualitylab.features.extraction_run import extract_features
    from qualitylab.features.tables import build_table
    from qualitylab.learn.spaces import parse_space

    manifest = load_manifest(
        real_data_dir / "manifest.csv", ColumnMapping(targets=("human_score",))
    )
    sampling = Sampling(num_frames=6, short_side=64)
    extract_features(manifest, ["ssim", "technical"], tmp_path, sampling=sampling, workers=2)
    table = build_table(tmp_path)
    space = parse_space("all", list(table.columns))
    config = TrainConfig(target="human_score", trials=3, cv=5, group_by="prompt")
    result = train(table, list(space.columns), config, fit_final=False)
    assert result.rows == 157
    spearman = result.metrics["spearman"]
    low, high = spearman["ci"]
    assert -1 <= low < high <= 1 and np.isfinite(spearman["mean"])
    assert spearman["oof"] > 0  # the classical features carry some signal about people's ratings

    # Leave one generator out: five folds, each holding out one whole generator.
    if "model" not in table:  # tables carry manifest columns once the store passes them on
        table = table.merge(manifest.table[["id", "model"]], on="id", how="left")
    logo = TrainConfig(target="human_score", learner="ridge", cv="logo", group_by="model")
    held_out = train(table, list(space.columns), logo, fit_final=False)
    assert held_out.oof.groupby("fold")["group"].nunique().eq(1).all()
    report = held_out.evaluation
    assert report["groups"] == 5 and len(report["within"]["model"]["spearman"]) == 5
    assert report["pairwise"]["groups"] == 35 and report["pairwise"]["pairs"] > 200
