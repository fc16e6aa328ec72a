"""qualitylab evaluate: agreement with people, yardsticks, human ceiling, files, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.evaluate import EvaluationConfig, EvaluationError, evaluate, write_evaluation
from qualitylab.evaluate.agreement import (
    Resampling,
    agreement,
    human_ceiling,
    pairwise_interval,
)
from qualitylab.evaluate.output import read_evaluation, summary_table
from qualitylab.evaluate.yardsticks import best_single_feature, feature_columns
from qualitylab.learn.metrics import pairwise_accuracy, resample_weights, to_json_ready
from qualitylab.learn.predictor import save_predictor
from qualitylab.learn.train import TrainConfig, train
from tests.conftest import rated_feature_table

runner = CliRunner()
FAST = Resampling(n_resamples=200)


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def rated(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    """A rated table with a video column, generators, two raters and four features."""
    table = rated_feature_table(rows, seed)
    rng = np.random.default_rng(seed + 1)
    table["video"] = [f"/videos/{i}.mp4" for i in table["id"]]
    table["model"] = [f"g{i % 3}" for i in range(rows)]
    table["rater_1"] = table["human_score"] + rng.normal(0, 0.4, rows)
    table["rater_2"] = table["human_score"] + rng.normal(0, 0.4, rows)
    return table


def layout(n: int = 24):
    truth = np.random.default_rng(3).normal(5, 2, n)
    prompts = np.repeat([f"p{i}" for i in range(n // 4)], 4)
    models = np.tile(["a", "b", "c", "d"], n // 4)
    return truth, prompts, models


def test_perfect_scorer_is_one_everywhere():
    truth, prompts, models = layout()
    result = agreement(
        truth, 2 * truth + 1, clusters=prompts, groups=models, pair_groups=prompts,
        resampling=FAST,
    )  # fmt: skip
    for name in ("spearman", "pearson", "kendall", "pairwise_accuracy"):
        estimate = result.metrics[name]
        assert (estimate.value, estimate.low, estimate.high) == pytest.approx((1.0, 1.0, 1.0))
    assert result.pairs == 6 * 6  # 6 prompts, 4 videos each, all rated differently
    assert result.system["spearman"] == pytest.approx(1.0) and result.system["groups"] == 4
    assert all(g["spearman"]["value"] == pytest.approx(1.0) for g in result.within.values())
    assert "mae" not in result.metrics  # not on the rating scale


def test_reversed_scorer_is_minus_one_and_pairwise_zero():
    truth, prompts, models = layout()
    result = agreement(truth, -truth, groups=models, pair_groups=prompts, resampling=FAST)
    for name in ("spearman", "pearson", "kendall"):
        assert result.metrics[name].value == pytest.approx(-1.0)
    assert result.metrics["pairwise_accuracy"].value == 0.0
    assert result.system["spearman"] == pytest.approx(-1.0)


def test_pairwise_accuracy_counts_prediction_ties_half_and_skips_rating_ties():
    truth = np.array([1.0, 2.0, 3.0, 4.0, 4.0, 5.0])
    predicted = np.array([1.0, 1.0, 2.0, 9.0, 0.0, 9.0])
    prompts = np.array(["a", "a", "a", "b", "b", "c"])
    result = agreement(truth, predicted, pair_groups=prompts, resampling=FAST)
    # prompt a: (1,2) tie in the prediction = 0.5, (1,3) and (2,3) agree; prompt b: rated
    # alike, no pair; prompt c: one video
    assert result.pairs == 3
    assert result.metrics["pairwise_accuracy"].value == pytest.approx(2.5 / 3)
    low, high = result.metrics["pairwise_accuracy"].low, result.metrics["pairwise_accuracy"].high
    assert low == pytest.approx(2.5 / 3) and high == pytest.approx(2.5 / 3)  # one group has pairs


def test_pairwise_interval_resamples_whole_groups():
    rng = np.random.default_rng(5)
    truth, prompts, _ = layout(40)
    predicted = truth + rng.normal(0, 2, len(truth))
    low, high = pairwise_interval(truth, predicted, prompts, Resampling(n_resamples=50, seed=7))
    # the same resamples by brute force: each drawn prompt's videos, repeated as drawn
    names = np.unique(prompts)
    weights = resample_weights(len(names), None, 50, np.random.default_rng(7))
    values = []
    for draw in weights:
        truth_r, pred_r, groups_r = [], [], []
        for name, count in zip(names, draw.astype(int)):
            for copy in range(count):
                rows = prompts == name
                truth_r += list(truth[rows])
                pred_r += list(predicted[rows])
                groups_r += [f"{name}-{copy}"] * int(rows.sum())
        values.append(pairwise_accuracy(truth_r, pred_r, groups_r)[0])
    assert (low, high) == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])))


def test_group_resampled_intervals_contain_the_estimate():
    rng = np.random.default_rng(0)
    truth, prompts, models = layout(60)
    predicted = truth + rng.normal(0, 2, len(truth))
    result = agreement(
        truth, predicted, clusters=prompts, groups=models, pair_groups=prompts, on_scale=True,
        threshold=5.0, cut=5.0, resampling=FAST,
    )  # fmt: skip
    for name, estimate in result.metrics.items():
        assert estimate.low <= estimate.value <= estimate.high, name
        assert estimate.low < estimate.high, name
    assert set(result.metrics) >= {"mae", "accuracy", "pairwise_accuracy"}
    # the same seed draws the same resamples: a second scorer gets paired intervals
    again = agreement(truth, predicted, clusters=prompts, resampling=FAST)
    assert again.metrics["spearman"] == result.metrics["spearman"]


def test_human_ceiling_on_constructed_raters():
    truth, prompts, _ = layout(24)
    noise = np.random.default_rng(1).normal(0, 1, len(truth))
    ratings = {"a": truth, "b": truth + noise, "c": 2 * truth - noise}  # a = mean(b, c) * 2/3...
    ratings["a"] = (ratings["b"] + ratings["c"]) / 2
    ratings["b"] = ratings["b"].copy()
    ratings["b"][0] = np.nan  # a missing rating leaves that row out for b only
    result = human_ceiling(ratings, clusters=prompts, pair_groups=prompts, resampling=FAST)
    assert result["a"].n == 24 and result["b"].n == 23
    # a is exactly the mean of b and c where b is rated; on row 0 the mean of c alone
    assert result["a"].metrics["spearman"].value > 0.99
    assert result["b"].metrics["spearman"].value < result["a"].metrics["spearman"].value
    with pytest.raises(ValueError, match="two rater"):
        human_ceiling({"a": truth})


def test_best_single_feature_keeps_the_sign_and_skips_frame_values():
    table = rated_feature_table(40)
    table["fam.sig1.f000"] = -table["human_score"]  # a per-frame value is no candidate
    candidates = feature_columns(table, {"human_score"})
    assert "fam.sig1.f000" not in candidates and "fam.sig0.mean" in candidates
    choice = best_single_feature(table, -table["human_score"], candidates)
    assert choice.feature == "fam.sig0.mean" and choice.sign == -1 and choice.spearman < 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real predictor trained on a table where fam.sig0 drives the score, and a second
    rated set (other ids and prompts) where fam.sig1 does."""
    root = tmp_path_factory.mktemp("evaluate")
    training = rated(60, seed=0)
    training_path = root / "train.parquet"
    training.to_parquet(training_path)
    columns = [c for c in training.columns if c.startswith("fam.")]
    result = train(training, columns, TrainConfig(target="human_score", trials=2, cv=3))
    model_dir = save_predictor(root / "model", result, training, space="fam", source=training_path)
    other = rated(60, seed=4)
    other["id"] = [f"w{i:03d}" for i in range(60)]
    other["prompt"] = [f"q{i // 4:02d}" for i in range(60)]
    x = other[[f"fam.sig{j}.mean" for j in range(4)]].to_numpy()
    other["human_score"] = 5 + 0.3 * x[:, 0] - 2.0 * x[:, 1]
    other_path = root / "other.csv"
    other.to_csv(other_path, index=False)
    return training_path, model_dir, other_path


def test_best_single_feature_is_chosen_on_the_training_table(trained):
    training_path, model_dir, other_path = trained
    config = EvaluationConfig(
        target="human_score", scorers=(str(model_dir),), group_by="model", n_resamples=200
    )
    evaluation = evaluate(other_path, config)
    scorer, feature, constant = evaluation.results
    assert scorer.kind == "predictor" and "not trained on" in scorer.notes[0]
    assert "mae" in scorer.agreement.metrics  # a rating of the same target
    # on the evaluated set -fam.sig1 is best, but the choice is made on the training table
    assert feature.name == "best single feature: +fam.sig0.mean"
    assert str(training_path) in feature.notes[0]
    training = pd.read_parquet(training_path)
    assert f"{training['human_score'].median():.3g}" in constant.notes[0]


def test_a_predictor_on_its_training_rows_uses_out_of_fold_predictions(trained):
    training_path, model_dir, _ = trained
    config = EvaluationConfig(target="human_score", scorers=(str(model_dir),), n_resamples=200)
    evaluation = evaluate(training_path, config)
    scorer = evaluation.results[0]
    assert "out-of-fold predictions for the 60 rows" in scorer.notes[0]
    oof = pd.read_csv(model_dir / "oof.csv")
    cv = json.loads((model_dir / "predictor.json").read_text())["cv"]
    assert scorer.agreement.metrics["spearman"].value == pytest.approx(cv["spearman"]["oof"])
    assert scorer.agreement.metrics["mae"].value == pytest.approx(
        np.abs(oof["predicted"] - oof["target"]).mean()
    )
    # no training data disjoint from the rows: the yardstick is chosen out-of-fold
    assert evaluation.results[1].name == "best single feature (out-of-fold)"


def test_evaluate_cli_writes_the_core_numbers(tmp_path: Path):
    path = tmp_path / "rated.csv"
    rated(60).to_csv(path, index=False)
    out = tmp_path / "eval"
    arguments = ["--target", "human_score", "--scorer", "fam.sig0.mean", "--scorer",
                 "-fam.sig1.mean", "--group-by", "model", "--raters", "rater_1,rater_2",
                 "--threshold", "5.5", "--bootstrap", "200"]  # fmt: skip
    result = runner.invoke(app, ["evaluate", str(path), *arguments, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"evaluation.json", "evaluation.md", "evaluation.png"}
    config = EvaluationConfig(
        target="human_score", scorers=("fam.sig0.mean", "-fam.sig1.mean"), group_by="model",
        raters=("rater_1", "rater_2"), threshold=5.5, n_resamples=200,
    )  # fmt: skip
    expected = to_json_ready(evaluate(path, config).to_dict())
    assert read_evaluation(out) == json.loads(json.dumps(expected))
    names = [r["name"] for r in expected["results"]]
    assert names == [
        "fam.sig0.mean",
        "-fam.sig1.mean",
        "best single feature (out-of-fold)",
        "constant (median) predictor",
        "majority class",
        "human: rater_1 vs mean of the others",
        "human: rater_2 vs mean of the others",
    ]
    markdown = (out / "evaluation.md").read_text()
    assert "| fam.sig0.mean | 60 |" in markdown and "Spearman within each model" in markdown
    assert "fam.sig0.mean" in result.output and "human: rater_1" in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--scorer", "fam.sig9.mean"], "did you mean"),
        (["--scorer", "missing/scores.csv"], "no such file or directory"),
        (["--scorer", "fam.sig0.mean", "--group-by", "generator"], "'generator' is not in"),
        (["--scorer", "fam.sig0.mean", "--target", "model"], "'model' is not numeric"),
        (["--scorer", "fam.sig0.mean", "--raters", "rater_1"], "at least two rater"),
    ],
)
def test_evaluate_cli_errors(tmp_path: Path, change, message):
    path = tmp_path / "rated.csv"
    rated(12).to_csv(path, index=False)
    arguments = ["evaluate", str(path), "--target", "human_score", "--out", str(tmp_path / "e")]
    result = runner.invoke(app, [*arguments, *change])
    assert result.exit_code == 1 and message in result.output, result.output


def test_evaluate_errors_for_ids_fewer_rows_and_score_files(tmp_path: Path):
    table = rated(12)
    path = tmp_path / "rated.csv"
    table.to_csv(path, index=False)
    features = table.assign(id=[f"other{i}" for i in range(12)])
    features.to_parquet(tmp_path / "features.parquet")
    config = EvaluationConfig(target="human_score", scorers=("fam.sig0.mean",))
    with pytest.raises(EvaluationError, match="no id of"):
        evaluate(path, config, features=tmp_path / "features.parquet")
    table.head(2).to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(EvaluationError, match="2 rows with human_score; at least 3"):
        evaluate(tmp_path / "two.csv", config)
    scores = pd.DataFrame({"id": ["nobody"], "predicted_score": [1.0]})
    scores.to_csv(tmp_path / "scores.csv", index=False)
    with pytest.raises(EvaluationError, match="none of its ids"):
        evaluate(path, config.model_copy(update={"scorers": (str(tmp_path / "scores.csv"),)}))


def test_evaluate_the_small_loop(small_loop, tmp_path: Path):
    """The loop's predictor on the second demo run it scored: model directory, quality
    index, a feature and the scores CSV, joined on id with the run's features."""
    manifest = small_loop.out_dir / "score_data" / "manifest.csv"
    features = small_loop.out_dir / "scores_features"
    out = tmp_path / "eval"
    scorers = [str(small_loop.model_dir), "quality_index", "ssim.adjacent.mean",
               str(small_loop.scores)]  # fmt: skip
    result = runner.invoke(
        app,
        ["evaluate", str(manifest), "--features", str(features), "--target", "synthetic_score",
         *(a for s in scorers for a in ("--scorer", s)), "--bootstrap", "200", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = read_evaluation(out)
    by_name = {r["name"]: r for r in data["results"]}
    model, scores = by_name[str(small_loop.model_dir)], by_name[str(small_loop.scores)]
    assert "not trained on" in model["notes"][0]  # the demo ids repeat, the videos differ
    # the scores CSV holds the same predictions, so the same numbers
    assert scores["metrics"]["spearman"] == model["metrics"]["spearman"]
    assert math.isfinite(by_name["quality_index"]["metrics"]["spearman"]["value"])
    assert any(name.startswith("best single feature: ") for name in by_name)
    assert not summary_table(data).empty
    empty = tmp_path / "empty"
    empty.mkdir()
    report = runner.invoke(
        app, ["report", "--model", str(small_loop.model_dir), "--evaluation", str(empty),
              "--out", str(tmp_path / "r.html")],
    )  # fmt: skip
    assert report.exit_code == 1 and "no evaluation.json" in report.output


def test_write_evaluation_files(tmp_path: Path):
    path = tmp_path / "rated.csv"
    rated(24).to_csv(path, index=False)
    config = EvaluationConfig(target="human_score", scorers=("fam.sig0.mean",), n_resamples=100)
    paths = write_evaluation(evaluate(path, config), tmp_path / "out")
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"
    assert json.loads(paths["json"].read_text())["rows"] == 24


@pytest.mark.realdata
def test_evaluate_a_signal_on_the_real_set(real_data_dir: Path, tmp_path: Path):
    manifest = real_data_dir / "manifest.csv"
    features = tmp_path / "features"
    extracted = runner.invoke(
        app,
        ["extract-features", str(manifest), "--protocol", "thesis", "--features", "ssim,technical",
         "--num-frames", "8",
         "--short-side", "128", "--target", "human_score", "--out", str(features)],
    )  # fmt: skip
    assert extracted.exit_code == 0, extracted.output
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        ["evaluate", str(manifest), "--features", str(features), "--target", "human_score",
         "--scorer", "ssim.adjacent.mean", "--group-by", "model", "--pair-by", "prompt",
         "--raters", "rater_1,rater_2", "--bootstrap", "200", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = read_evaluation(out)
    assert data["rows"] == 157 and data["clusters"] == {"by": "prompt", "count": 35}
    signal, *_, human = data["results"]
    for metric in ("spearman", "pairwise_accuracy"):
        estimate = signal["metrics"][metric]
        assert all(math.isfinite(v) for v in [estimate["value"], *estimate["ci"]]), metric
    assert len(signal["within"]) == 5 and math.isfinite(signal["system"]["spearman"])
    assert human["role"] == "human" and 0 < human["metrics"]["spearman"]["value"] <= 1
    assert human["pairs"] > 0


@pytest.mark.slow
def test_a_predictor_on_a_bare_manifest_extracts_its_features(small_loop, tmp_path: Path):
    manifest = small_loop.out_dir / "score_data" / "manifest.csv"
    config = EvaluationConfig(
        target="synthetic_score", scorers=(str(small_loop.model_dir),), n_resamples=100
    )
    bare = evaluate(manifest, config, work_dir=tmp_path / "features")
    joined = evaluate(manifest, config, features=small_loop.out_dir / "scores_features")
    assert (tmp_path / "features" / "features_combined.parquet").is_file()
    assert bare.results[0].agreement.metrics == joined.results[0].agreement.metrics


def test_ratings_stored_as_text_are_read_as_numbers(tmp_path: Path):
    """Feature tables keep the manifest's other columns as text; an empty cell is missing."""
    table = rated(24)
    table["rater_2"] = table["rater_2"].map(str)
    table.loc[0, "rater_2"] = ""
    table.to_parquet(tmp_path / "table.parquet")
    config = EvaluationConfig(
        target="human_score", scorers=("fam.sig0.mean",), raters=("rater_1", "rater_2"),
        n_resamples=100,
    )  # fmt: skip
    evaluation = evaluate(tmp_path / "table.parquet", config)
    assert [r.agreement.n for r in evaluation.results if r.role == "human"] == [23, 23]
    table.loc[1, "rater_2"] = "good"
    table.to_parquet(tmp_path / "table.parquet")
    with pytest.raises(EvaluationError, match="'rater_2' is not numeric"):
        evaluate(tmp_path / "table.parquet", config)
