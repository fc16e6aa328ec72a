"""SHAP explanations, the frame timeline, and `qualitylab explain`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.learn.explain import explain, global_importance, top_contributions
from qualitylab.learn.predictor import load_predictor, save_predictor
from qualitylab.learn.timeline import frame_attribution, position_weights, split_feature
from qualitylab.learn.train import TrainConfig, train
from tests.conftest import rated_feature_table

COLUMNS = [f"fam.sig{j}.mean" for j in range(4)]


LEARNER_TASKS = [
    ("rf", "regression"),
    ("rf", "classification"),
    ("hgb", "regression"),
    ("hgb", "classification"),
    ("ridge", "regression"),
    ("ridge", "classification"),
    ("pairwise", "regression"),
]


@pytest.fixture(scope="module", params=LEARNER_TASKS, ids=[f"{a}-{b}" for a, b in LEARNER_TASKS])
def trained(request, tmp_path_factory) -> tuple:
    table = rated_feature_table(rows=60)
    learner, task = request.param
    config = TrainConfig(target="human_score", task=task, learner=learner, tuning="defaults", cv=3)
    result = train(table, COLUMNS, config)
    model_dir = save_predictor(tmp_path_factory.mktemp("model"), result, table, space="fam")
    return load_predictor(model_dir), table


def test_shap_values_add_up_to_the_model_output(trained) -> None:
    predictor, table = trained
    explanation = explain(predictor, table)
    model = predictor.model
    X = table[COLUMNS].to_numpy()
    if explanation.output == "log-odds of class 1":
        output = model.decision_function(X)
    elif explanation.output == "probability of class 1":
        output = model.predict_proba(X)[:, list(model.classes_).index(1)]
    else:
        output = model.predict(X)
    expected_output = {
        ("rf", "classification"): "probability of class 1",
        ("hgb", "classification"): "log-odds of class 1",
        ("ridge", "classification"): "log-odds of class 1",
    }.get((predictor.info.learner, predictor.info.task), "predicted human_score")
    assert explanation.output == expected_output
    np.testing.assert_allclose(explanation.predictions(), output, atol=1e-6)
    assert explanation.values.shape == (len(table), len(COLUMNS))


def test_the_driving_features_rank_first(trained) -> None:
    predictor, table = trained
    importance = global_importance(explain(predictor, table))
    assert set(importance["feature"].head(2)) == {"fam.sig0.mean", "fam.sig1.mean"}
    assert importance["mean_abs_shap"].is_monotonic_decreasing


def test_top_contributions_text(trained) -> None:
    predictor, table = trained
    explanation = explain(predictor, table)
    texts = top_contributions(explanation, count=2)
    first = explanation.values.iloc[0].abs().sort_values(ascending=False).index[:2]
    assert texts[0].split("; ")[0].startswith(f"{first[0]}=")
    assert len(texts[0].split("; ")) == 2 and len(texts) == len(table)


def test_explain_refuses_a_table_without_the_schema(trained) -> None:
    predictor, table = trained
    with pytest.raises(Exception, match="fam.sig0.mean"):
        explain(predictor, table.drop(columns=["fam.sig0.mean"]))


VALUES = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        ("min", [0, 0.5, 0, 0.5, 0, 0, 0, 0]),
        ("max", [0, 0, 0, 0, 0, 1, 0, 0]),
        ("min_max_ratio", [0, 0.25, 0, 0.25, 0, 0.5, 0, 0]),
        ("mean", [1 / 8] * 8),
        ("sum", [1 / 8] * 8),
        ("median", [1 / 2, 0, 1 / 2, 0, 0, 0, 0, 0]),
        ("p75", [0, 0, 0, 0, 0, 0.5, 0, 0.5]),
        ("p25", [0, 0.5, 0, 0.5, 0, 0, 0, 0]),
        ("p10", [0, 0.5, 0, 0.5, 0, 0, 0, 0]),
        ("p90", [0, 0, 0, 0, 0, 1, 0, 0]),
        ("f002", [0, 0, 1, 0, 0, 0, 0, 0]),
    ],
)
def test_position_weights(aggregation: str, expected: list[float]) -> None:
    np.testing.assert_allclose(position_weights(aggregation, VALUES), expected)


def test_ewm_weights_are_pandas_weights() -> None:
    weights = position_weights("ewm_0.3", VALUES)
    assert weights.sum() == pytest.approx(1)
    # Reproduces the aggregation itself: the weighted mean is pandas' EWM last value.
    expected = pd.Series(VALUES).ewm(alpha=0.3, adjust=True).mean().iloc[-1]
    assert float(weights @ VALUES) == pytest.approx(expected)


def test_std_weights_follow_the_distance_from_the_mean() -> None:
    weights = position_weights("std", VALUES)
    distance = np.abs(VALUES - VALUES.mean())
    np.testing.assert_allclose(weights, distance / distance.sum())
    np.testing.assert_allclose(position_weights("std", np.ones(4)), [0.25] * 4)


def test_weights_of_unreadable_signals_are_zero() -> None:
    assert not position_weights("max", np.array([1.0, np.nan])).any()
    assert not position_weights("f150", VALUES).any()
    with pytest.raises(ValueError, match="unknown aggregation"):
        position_weights("mode", VALUES)


def test_frame_attribution_keeps_each_signals_shap() -> None:
    signals = {"ssim.adjacent": VALUES[:7], "technical.brightness": VALUES}
    shap_values = {
        "ssim.adjacent.min": -0.4,
        "ssim.adjacent.ewm_0.5": 0.1,
        "technical.brightness.max": 0.25,
        "lpips.adjacent.max": 1.0,  # no stored signal: left out
    }
    attribution = frame_attribution(signals, shap_values)
    per_signal = attribution.groupby("signal")["shap"].sum()
    assert per_signal["ssim.adjacent"] == pytest.approx(-0.3)
    assert per_signal["technical.brightness"] == pytest.approx(0.25)
    pair = attribution[attribution["signal"] == "ssim.adjacent"]
    frame = attribution[attribution["signal"] == "technical.brightness"]
    assert pair["frame"].iloc[0] == 0.5 and frame["frame"].iloc[0] == 0.0
    assert split_feature("flow.angle_max.ewm_0.1") == ("flow.angle_max", "ewm_0.1")


def test_explain_command_writes_figures_and_numbers(small_loop, tmp_path: Path) -> None:
    out = tmp_path / "explain"
    video_id = "demo_003"
    result = CliRunner().invoke(
        app, ["explain", "--model", str(small_loop.model_dir), "--out", str(out), "--id", video_id]
    )
    assert result.exit_code == 0, result.output
    for name in (
        "importance.csv",
        "shap_values.csv",
        "shap_bar.png",
        "shap_beeswarm.png",
        f"waterfall_{video_id}.png",
        f"timeline_{video_id}.png",
        f"timeline_{video_id}.csv",
    ):
        assert (out / name).stat().st_size > 0, name
    assert (out / "shap_bar.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    timeline = pd.read_csv(out / f"timeline_{video_id}.csv")
    shap_row = pd.read_csv(out / "shap_values.csv").set_index("id").loc[video_id]
    temporal = [c for c in shap_row.index if c.split(".")[0] in ("ssim", "flow", "technical")]
    # Every feature reads a stored signal here, so the frames carry all of the SHAP
    # except that of features over NaN signals.
    assert timeline["shap"].sum() == pytest.approx(shap_row[temporal].sum(), abs=0.05)


def test_explain_command_errors(small_loop, tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(
        app,
        ["explain", "--model", str(small_loop.model_dir), "--out", str(tmp_path), "--id", "nope"],
    )
    assert unknown.exit_code == 1 and "nope" in unknown.output
    missing = runner.invoke(app, ["explain", "--model", str(tmp_path), "--out", str(tmp_path)])
    assert missing.exit_code == 1 and "not a model directory" in missing.output
