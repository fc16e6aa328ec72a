"""Learners beyond the forest, leave-one-group-out CV, the evaluation beside the
correlations, the typed predictor.json, atomic saving, out-of-distribution flags,
`train --eval` and training on several rated sets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import rated_feature_table
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.learn import cv
from qualitylab.learn.datasets import combine, normalise
from qualitylab.learn.metrics import pairwise_accuracy
from qualitylab.learn.pairwise import PairwiseRanker, within_group_pairs
from qualitylab.learn.predictor import (
    PredictorError,
    PredictorInfo,
    load_predictor,
    read_info,
    save_predictor,
)
from qualitylab.learn.train import TrainConfig, train
from qualitylab.learn.unitweight import UnitWeightedRanker, spearman_per_column
from qualitylab.score import score_table

FEATURES = [f"fam.sig{j}.mean" for j in range(4)]
runner = CliRunner()


def _table(rows: int = 80, seed: int = 0) -> pd.DataFrame:
    table = rated_feature_table(rows=rows, seed=seed)
    table["model"] = [f"gen{i % 4}" for i in range(rows)]
    table["video"] = table["id"] + ".mp4"
    return table


@pytest.mark.parametrize("learner", ["rf", "ridge", "hgb", "pairwise", "vote"])
def test_each_learner_trains_saves_loads_and_predicts(learner, tmp_path) -> None:
    table = _table()
    config = TrainConfig(target="human_score", learner=learner, tuning="defaults", cv=4)
    result = train(table, FEATURES, config)
    assert result.metrics["spearman"]["oof"] > 0.6  # two features drive the score
    save_predictor(tmp_path / "model", result, table, space="fam")
    loaded = load_predictor(tmp_path / "model")
    assert loaded.info.learner == learner and len(loaded.id) == 16
    np.testing.assert_allclose(
        loaded.predict(table)["predicted_score"], result.model.predict(table[FEATURES].to_numpy())
    )
    spread = loaded.uncertainty(table)
    assert (spread > 0).all() if learner == "rf" else np.isnan(spread).all()


def test_logo_folds_hold_out_one_whole_group_each() -> None:
    groups = np.array(["a", "b", "c", "a", "b", "c", "a", "d"])
    folds = cv.logo(groups)
    assert len(folds) == 4
    for train_rows, test_rows in folds:
        assert len(set(groups[test_rows])) == 1
        assert not set(groups[train_rows]) & set(groups[test_rows])
    assert sorted(np.concatenate([test for _, test in folds])) == list(range(8))
    with pytest.raises(ValueError, match="at least 2 groups"):
        cv.logo(np.array(["a", "a"]))


def test_logo_training_reports_each_held_out_group() -> None:
    config = TrainConfig(target="human_score", learner="ridge", cv="logo", group_by="model", seed=1)
    result = train(_table(), FEATURES, config)
    assert len(result.metrics["spearman"]["folds"]) == 4
    assert set(result.oof["fold"]) == {0, 1, 2, 3}
    for _, rows in result.oof.groupby("fold"):
        assert rows["group"].nunique() == 1
    report = result.evaluation
    assert report["groups"] == 4 and report["rows"] == 80
    assert set(report["within"]["model"]["spearman"]) == {"gen0", "gen1", "gen2", "gen3"}
    assert report["within"]["model"]["mean"] > 0.6
    assert report["pairwise"]["value"] > 0.7 and report["pairwise"]["pairs"] > 0
    low, high = report["pairwise"]["ci"]
    assert low <= report["pairwise"]["value"] <= high
    constant = report["constant_yardstick"]["mae"]
    assert result.metrics["mae"]["oof"] < constant  # beats the yardstick
    assert result.tuning.startswith("nested") and len(result.fold_params) == 4
    with pytest.raises(ValueError, match="needs --group-by"):
        TrainConfig(target="human_score", cv="logo")


def test_pairwise_learner_learns_the_order_within_groups() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 5)
    offset = rng.normal(size=30)[groups] * 10  # the groups differ a lot...
    within = rng.normal(size=150)  # ...but inside a group only `within` orders the videos
    X = np.column_stack([within, offset + rng.normal(size=150) * 0.1, rng.normal(size=150)])
    y = offset + within
    ranker = PairwiseRanker(C=1.0).fit(X, y, groups=groups)
    assert abs(ranker.direction_[0]) > 5 * max(abs(ranker.direction_[1:]))
    accuracy, pairs = pairwise_accuracy(y, ranker.predict(X), groups)
    assert accuracy > 0.97 and pairs == 30 * 10 == ranker.pairs_
    differences, labels = within_group_pairs(X, y, groups)
    assert differences.shape == (300, 3) and set(labels) <= {0, 1}
    with pytest.raises(ValueError, match="two differently rated rows"):
        PairwiseRanker().fit(X[:3], np.ones(3), groups=np.arange(3))


def test_vote_weighs_the_strongest_features_equally_with_their_signs() -> None:
    rng = np.random.default_rng(0)
    good, bad = rng.normal(size=200), rng.normal(size=200)
    X = np.column_stack([good, rng.normal(size=200), -bad, rng.normal(size=(200, 3))])
    y = 3 + good + bad
    ranker = UnitWeightedRanker(k=2).fit(X, y)
    assert sorted(ranker.selected_) == [0, 2]
    direction = ranker.coef_ / np.abs(ranker.coef_).max()
    np.testing.assert_allclose(direction, [1, 0, -1, 0, 0, 0], atol=1e-12)
    predicted = ranker.predict(X)
    assert abs(predicted.mean() - y.mean()) < 1e-9  # on the rating's scale
    assert spearman_per_column(X, y)[0] > 0.5 and spearman_per_column(X, y)[2] < -0.5
    # more features than columns: every column, none twice
    assert len(UnitWeightedRanker(k=50).fit(X, y).selected_) == 6
    np.testing.assert_array_equal(spearman_per_column(np.ones((5, 1)), np.arange(5.0)), [0.0])
    with pytest.raises(ValueError, match="at least 1"):
        UnitWeightedRanker(k=0).fit(X, y)
    with pytest.raises(ValueError, match="--task regression"):
        TrainConfig(target="human_score", learner="vote", task="classification")


def test_pairwise_needs_its_pair_column_and_a_regression() -> None:
    with pytest.raises(ValueError, match="--task regression"):
        TrainConfig(target="human_score", learner="pairwise", task="classification")
    config = TrainConfig(target="human_score", learner="pairwise", pair_by="scene")
    with pytest.raises(ValueError, match="'scene' is not in the feature table"):
        train(_table(), FEATURES, config)


def test_predictor_json_round_trips_and_reads_format_1(tmp_path) -> None:
    table = _table()
    result = train(table, FEATURES, TrainConfig(target="human_score", tuning="defaults", cv=3))
    save_predictor(tmp_path / "model", result, table, space="fam")
    info = read_info(tmp_path / "model")
    assert PredictorInfo.model_validate_json(info.to_json()) == info
    raw = json.loads((tmp_path / "model" / "predictor.json").read_text())
    assert raw["learner"] == "rf" and raw["evaluation"]["rows"] == 80
    assert set(raw["training_ranges"]["features"]) == set(FEATURES)
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["rows"] == 80 and "spearman" in metrics and "evaluation" in metrics
    # A predictor written before learners existed (format 1) is read as a thesis rf.
    for key in ("learner", "tuning", "fold_params", "evaluation", "training_ranges", "datasets"):
        raw.pop(key)
    raw.pop("target_normalisation")
    raw["format_version"] = 1
    for key in ("learner", "tuning", "pair_by"):
        raw["config"].pop(key)
    (tmp_path / "model" / "predictor.json").write_text(json.dumps(raw))
    old = load_predictor(tmp_path / "model")
    assert old.info.learner == "rf" and old.info.config.tuning == "thesis"
    assert old.out_of_distribution(table) == [""] * 80  # no ranges recorded: nothing flagged
    raw["task"] = "ranking"
    (tmp_path / "model" / "predictor.json").write_text(json.dumps(raw))
    with pytest.raises(PredictorError, match="not a valid predictor"):
        load_predictor(tmp_path / "model")


def test_a_failed_save_leaves_the_old_artifact_intact(tmp_path, monkeypatch) -> None:
    table = _table()
    result = train(table, FEATURES, TrainConfig(target="human_score", tuning="defaults", cv=3))
    model_dir = save_predictor(tmp_path / "model", result, table, space="old")
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(result.oof, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        save_predictor(model_dir, result, table, space="new")
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging left behind
    assert load_predictor(model_dir).info.space == "old"


def test_scoring_flags_a_video_outside_the_training_ranges(tmp_path) -> None:
    table = _table()
    table["video_width"], table["video_height"] = 64, 48
    table["video_fps"], table["video_seconds"] = 8.0, 0.75
    table["technical.static.mean"] = 0.0  # for the quality index beside the scores
    result = train(table, FEATURES, TrainConfig(target="human_score", tuning="defaults", cv=3))
    save_predictor(tmp_path / "model", result, table, space="fam")
    predictor = load_predictor(tmp_path / "model")
    scored = table.head(3).copy()
    scored.loc[0, ["video_width", "video_height"]] = (1280, 720)
    scored.loc[1, "video_fps"] = 30.0
    scored.loc[2, FEATURES] = 1000.0  # every feature far outside
    outcome = score_table(scored, predictor)
    flags = outcome.scores.set_index("id")["ood"]
    assert flags["v000"] == "resolution 1280x720 outside 64x48..64x48"
    assert flags["v001"] == "frame rate 30 outside 8..8"
    assert flags["v002"].startswith("4 of 4 features outside their training 1st-99th percentile")
    assert any("3 of 3 videos lie outside" in note for note in outcome.notes)
    assert (outcome.scores["predictor_id"] == predictor.id).all()
    assert score_table(table.head(5), predictor).scores["ood"].eq("").all()


def test_train_with_eval_on_another_set(tmp_path) -> None:
    train_path, other_path = tmp_path / "a.parquet", tmp_path / "b.parquet"
    _table(seed=0).to_parquet(train_path)
    _table(rows=40, seed=1).to_parquet(other_path)
    out = tmp_path / "model"
    result = runner.invoke(
        app,
        ["train", str(train_path), "--target", "human_score", "--out", str(out),
         "--learner", "ridge", "--cv", "logo", "--group-by", "model", "--eval", str(other_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "leave-one-group-out CV, grouped by model (4 groups)" in result.output
    assert "pairwise accuracy within prompt" in result.output
    assert f"evaluated on {other_path}: 40 rows, 4 model groups" in result.output
    written = json.loads((out / "eval" / "metrics.json").read_text())
    assert written["metrics"]["spearman"]["value"] > 0.6
    assert written["evaluation"]["pairwise"]["pairs"] > 0
    assert written["predictor_id"] == load_predictor(out).id
    predictions = pd.read_csv(out / "eval" / "predictions.csv")
    assert len(predictions) == 40 and {"target", "predicted", "model"} <= set(predictions)
    # A set without the target is refused by name.
    _table(rows=40, seed=1).drop(columns="human_score").to_parquet(other_path)
    refused = runner.invoke(
        app,
        ["train", str(train_path), "--target", "human_score", "--out", str(out),
         "--learner", "hgb", "--eval", str(other_path)],
    )  # fmt: skip
    assert refused.exit_code == 1 and "has no column 'human_score'" in refused.output


def test_several_sets_are_normalised_per_set_and_trained_together(tmp_path) -> None:
    assert normalise(pd.Series([1.0, 5.0, 3.0, None]), "rank").round(3).tolist()[:3] == [
        0.167,
        0.833,
        0.5,
    ]
    first, second = _table(rows=40, seed=0), _table(rows=40, seed=1)
    second["human_score"] = second["human_score"] * 10  # another rating scale
    combined, records, _ = combine([("a", first, []), ("b", second, [])], "human_score")
    assert combined.groupby("dataset")["human_score"].max().round(4).tolist() == [0.9875] * 2
    assert [r["name"] for r in records] == ["a", "b"] and records[1]["target_max"] > 10
    for name, frame in (("one", first), ("two", second)):
        (tmp_path / name).mkdir()
        frame.to_parquet(tmp_path / name / "features.parquet")
    out = tmp_path / "model"
    result = runner.invoke(
        app,
        ["train", str(tmp_path / "one" / "features.parquet"),
         str(tmp_path / "two" / "features.parquet"), "--target", "human_score",
         "--out", str(out), "--learner", "ridge", "--cv", "logo", "--group-by", "dataset"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = read_info(out)
    assert [d["name"] for d in info.datasets] == ["one", "two"]
    assert info.target_normalisation == "rank" and info.evaluation["groups"] == 2
    with pytest.raises(ValueError, match="share no feature column"):
        combine([("a", first[["id", "human_score"]], []), ("b", second, [])], "human_score")


def test_within_reports_another_grouping_without_grouping_the_folds() -> None:
    config = TrainConfig(
        target="human_score", learner="hgb", cv=4, group_by="prompt", within="model"
    )
    result = train(_table(), FEATURES, config)
    assert set(result.evaluation["within"]) == {"prompt", "model"}
    assert set(result.evaluation["within"]["model"]["spearman"]) == {f"gen{i}" for i in range(4)}
    assert result.oof.groupby("fold")["group"].nunique().gt(1).all()  # folds mix generators
    with pytest.raises(ValueError, match="--within column 'scene'"):
        train(_table(), FEATURES, config.model_copy(update={"within": "scene"}))


@pytest.mark.slow
def test_a_video_rendered_at_another_resolution_is_flagged_when_scored(tmp_path) -> None:
    from conftest import make_video

    from qualitylab.data.manifest import ColumnMapping, load_manifest
    from qualitylab.data.video import Sampling
    from qualitylab.features.extraction_run import extract_features
    from qualitylab.features.layout import read_feature_table
    from qualitylab.score import score_manifest

    rows = []
    for i in range(12):
        make_video(tmp_path / "train" / f"v{i}.mp4", num_frames=4 + i % 4)
        rows.append({"video": f"v{i}.mp4", "prompt": f"p{i // 3}", "score": 1.0 + i % 5})
    pd.DataFrame(rows).to_csv(tmp_path / "train" / "manifest.csv", index=False)
    manifest = load_manifest(tmp_path / "train" / "manifest.csv", ColumnMapping(targets=("score",)))
    extract_features(manifest, ["technical"], tmp_path / "feats", sampling=Sampling(), workers=1)
    table, extractors = read_feature_table(tmp_path / "feats")
    columns = [c for c in table.columns if c.startswith("technical.")]
    config = TrainConfig(target="score", learner="ridge", tuning="defaults", cv=3)
    save_predictor(
        tmp_path / "model", train(table, columns, config), table, space="t", extractors=extractors
    )
    predictor = load_predictor(tmp_path / "model")
    assert predictor.info.training_ranges.video["video_width"] == (64.0, 64.0)

    make_video(tmp_path / "new" / "small.mp4", num_frames=5)
    make_video(tmp_path / "new" / "large.mp4", num_frames=5, size=(96, 128))
    new = pd.DataFrame({"video": ["small.mp4", "large.mp4"], "prompt": ["p0", "p1"]})
    new.to_csv(tmp_path / "new" / "manifest.csv", index=False)
    scored = score_manifest(
        load_manifest(tmp_path / "new" / "manifest.csv"), predictor, tmp_path / "s", workers=1
    )
    flags = scored.scores.set_index("id")["ood"]
    assert flags["large"] == "resolution 128x96 outside 64x48..64x48"
    assert flags["small"] == ""
