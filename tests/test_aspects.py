"""Multi-aspect targets: bundles of aspect predictors (train, save, load, score, explain,
evaluate, report) and the column layouts of VideoFeedback- and FETV-style rating sets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import rated_feature_table
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.data.layouts import LAYOUTS, get_layout
from qualitylab.data.manifest import ManifestError, load_manifest
from qualitylab.learn import bundle as bundle_module
from qualitylab.learn.bundle import (
    MEAN_OF_ASPECTS,
    PredictorBundle,
    aspect_dir,
    aspect_name,
    load_model,
    save_bundle,
    train_bundle,
)
from qualitylab.learn.predictor import Predictor, PredictorError, load_predictor
from qualitylab.learn.train import TrainConfig
from qualitylab.score import SCORE_COLUMNS, score_columns, score_table

FEATURES = [f"fam.sig{j}.mean" for j in range(4)]
runner = CliRunner()


def _aspect_table(rows: int = 80) -> pd.DataFrame:
    """Two aspects, each driven by its own feature; one rating of one aspect missing."""
    table = rated_feature_table(rows=rows)
    rng = np.random.default_rng(1)
    table["visual"] = 2.5 + table["fam.sig0.mean"] + 0.2 * rng.normal(size=rows)
    table["temporal"] = 2.5 - table["fam.sig1.mean"] + 0.2 * rng.normal(size=rows)
    table.loc[3, "temporal"] = np.nan
    table["technical.static.mean"] = 0.0  # for the quality index beside the scores
    return table


def _config(**changes) -> TrainConfig:
    return TrainConfig(target="visual", tuning="defaults", cv=4, group_by="prompt", **changes)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A forest bundle of visual, temporal and their mean, trained once for these tests
    (they must not change it): the table, the results, the folds and the directory."""
    table, results, folds = train_bundle(
        _aspect_table(), FEATURES, _config(), ["visual", "temporal"], "mean"
    )
    out = tmp_path_factory.mktemp("aspects") / "bundle"
    save_bundle(out, results, table, overall="mean", folds=folds, space="fam")
    return table, results, folds, out


def test_a_bundle_learns_each_aspect_with_the_same_folds(trained) -> None:
    table, *_, out = trained
    info = json.loads((out / "bundle.json").read_text())
    assert info["aspects"] == {
        "visual": "visual",
        "temporal": "temporal",
        "overall": MEAN_OF_ASPECTS,
    }
    assert info["overall"] == "mean" and "4 folds shared" in info["folds"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"visual", "temporal", "overall"}
    # Each aspect is learned from its own feature, not from the other aspect's.
    assert metrics["visual"]["spearman"]["oof"] > 0.8
    assert metrics["temporal"]["spearman"]["oof"] > 0.8
    assert metrics["temporal"]["rows"] == 79  # the row without a temporal rating left out
    folds = {
        aspect: pd.read_csv(out / aspect / "oof.csv").set_index("id")["fold"]
        for aspect in info["aspects"]
    }
    shared = folds["temporal"].index
    assert (folds["visual"].loc[shared] == folds["temporal"]).all()
    assert (folds["overall"] == folds["temporal"].loc[folds["overall"].index]).all()
    # The folds are grouped: no prompt is split across folds.
    prompts = table.set_index("id")["prompt"]
    assert folds["visual"].groupby(prompts.loc[folds["visual"].index]).nunique().max() == 1
    # The overall aspect learned the mean of the aspects.
    overall = pd.read_csv(out / "overall" / "oof.csv").set_index("id")["target"]
    expected = table.set_index("id")[["visual", "temporal"]].mean(axis=1, skipna=False)
    np.testing.assert_allclose(overall, expected.loc[overall.index])


def test_a_bundle_loads_as_a_bundle_and_each_aspect_as_a_predictor(trained) -> None:
    out = trained[-1]
    loaded = load_model(out)
    assert isinstance(loaded, PredictorBundle) and loaded.aspects == [
        "visual",
        "temporal",
        "overall",
    ]
    assert isinstance(PredictorBundle.load(out), PredictorBundle)
    assert len(loaded.id) == 16
    assert isinstance(load_model(out / "visual"), Predictor)
    assert Predictor.load(out / "temporal").info.target == "temporal"
    with pytest.raises(PredictorError, match="a bundle of one predictor per aspect"):
        load_predictor(out)


def test_scoring_with_a_bundle_writes_one_column_per_aspect(trained) -> None:
    table, *_, out = trained
    bundle = load_model(out)
    scores = score_table(table.head(12), bundle).scores
    assert list(scores.columns) == [
        "rank",
        "id",
        "prompt",
        "predicted_visual",
        "uncertainty_visual",
        "predicted_temporal",
        "uncertainty_temporal",
        "predicted_overall",
        "uncertainty_overall",
        "quality_index",
        "ood",
        "top_shap_visual",
        "top_shap_temporal",
        "top_shap_overall",
        "predictor_id",
    ]
    assert scores["predicted_overall"].is_monotonic_decreasing  # ranked by overall
    assert (scores[[f"uncertainty_{a}" for a in bundle.aspects]] >= 0).all().all()
    assert scores["top_shap_visual"].str.startswith("fam.sig0.mean").mean() > 0.5
    assert scores["top_shap_temporal"].str.startswith("fam.sig1.mean").mean() > 0.5
    direct = bundle.score(table.head(12))
    by_id = scores.set_index("id")
    for aspect in bundle.aspects:
        np.testing.assert_allclose(
            by_id.loc[table["id"].head(12), f"predicted_{aspect}"], direct[aspect]
        )
    assert score_columns(bundle) == [
        *scores.columns[:2],
        "video",
        *scores.columns[2:-1],
        "error",
        "predictor_id",
    ]


def test_without_overall_the_aspects_mean_rank_orders_the_videos(tmp_path) -> None:
    table, results, folds = train_bundle(
        _aspect_table(), FEATURES, _config(learner="ridge"), ["visual", "temporal"]
    )
    out = save_bundle(tmp_path / "b", results, table, overall=None, folds=folds, space="fam")
    scores = score_table(table.head(10), load_model(out)).scores
    standing = scores[["predicted_visual", "predicted_temporal"]].rank(pct=True).mean(axis=1)
    assert standing.is_monotonic_decreasing


def test_bad_aspect_requests_are_named() -> None:
    table = _aspect_table()
    with pytest.raises(ValueError, match="at least two aspects"):
        train_bundle(table, FEATURES, _config(), ["visual"])
    with pytest.raises(ValueError, match="'sharpness' not in the feature table"):
        train_bundle(table, FEATURES, _config(), ["visual", "sharpness"])
    with pytest.raises(ValueError, match="already named 'overall'"):
        train_bundle(table.assign(overall=1.0), FEATURES, _config(), ["visual", "overall"], "mean")
    with pytest.raises(ValueError, match="clashing aspect names"):
        train_bundle(table.assign(**{"visual!": 1.0}), FEATURES, _config(), ["visual", "visual!"])
    assert aspect_name("text-to-video alignment") == "text-to-video_alignment"


def test_a_failed_bundle_save_leaves_the_old_bundle_intact(trained, tmp_path, monkeypatch) -> None:
    table, results, folds, saved = trained
    out = tmp_path / "bundle"
    shutil.copytree(saved, out)
    before = (out / "bundle.json").read_text()
    calls = []

    def failing(model_dir, *args, **kwargs):
        calls.append(model_dir)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(model_dir, *args, **kwargs)

    real = bundle_module.save_predictor
    monkeypatch.setattr(bundle_module, "save_predictor", failing)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(out, results, table, overall="mean", folds=folds, space="fam")
    assert (out / "bundle.json").read_text() == before
    assert (out / "overall").is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle.save-")]


def test_evaluate_picks_the_aspect_trained_on_the_target(trained) -> None:
    out = trained[-1]
    assert aspect_dir(out, "temporal") == out / "temporal"
    assert aspect_dir(out, MEAN_OF_ASPECTS) == out / "overall"
    assert aspect_dir(out / "visual", "anything") == out / "visual"
    with pytest.raises(PredictorError, match=r"visual \(visual\), temporal"):
        aspect_dir(out, "human_score")


def test_a_bundles_scores_file_is_evaluated_per_aspect(tmp_path) -> None:
    from qualitylab.evaluate.scorers import ScorerError, file_scores

    path = tmp_path / "scores.csv"
    pd.DataFrame(
        {"id": ["a", "b"], "predicted_visual": [1.0, 2.0], "predicted_temporal": [3.0, 4.0]}
    ).to_csv(path, index=False)
    rows = pd.DataFrame({"id": ["b", "a"]})
    np.testing.assert_array_equal(file_scores(path, rows, "temporal").values, [4.0, 3.0])
    with pytest.raises(ScorerError, match="needs the columns id and predicted_alignment"):
        file_scores(path, rows, "alignment")


def test_the_train_command_writes_a_bundle_and_prints_each_aspect(tmp_path) -> None:
    features = tmp_path / "features.csv"
    _aspect_table().to_csv(features, index=False)
    out = tmp_path / "model"
    args = ["train", str(features), "--out", str(out), "--learner", "ridge", "--cv", "4"]
    args += ["--tuning", "defaults"]
    result = runner.invoke(app, [*args, "--target", "visual,temporal", "--overall", "mean"])
    assert result.exit_code == 0, result.output
    assert result.output.count("ridge regression of") == 3
    assert "of visual" in result.output and f"of {MEAN_OF_ASPECTS}" in result.output
    assert isinstance(load_model(out), PredictorBundle)
    single = runner.invoke(app, [*args[:3], str(tmp_path / "one"), *args[4:], "--target", "visual"])
    assert single.exit_code == 0, single.output
    assert not (tmp_path / "one" / "bundle.json").exists()
    assert isinstance(load_model(tmp_path / "one"), Predictor)
    assert score_columns(load_model(tmp_path / "one")) == SCORE_COLUMNS
    wrong = runner.invoke(app, [*args, "--target", "visual,temporl"])
    assert wrong.exit_code == 1 and "did you mean 'temporal'" in wrong.output


@pytest.mark.slow
def test_explain_and_report_write_one_part_per_aspect(tmp_path) -> None:
    features = tmp_path / "features.csv"
    table = _aspect_table(48)
    table["video"] = table["id"] + ".mp4"  # not on disk: the report shows no frame strips
    table.to_csv(features, index=False)
    table, results, folds = train_bundle(table, FEATURES, _config(), ["visual", "temporal"])
    out = save_bundle(
        tmp_path / "model", results, table, overall=None, folds=folds, space="fam", source=features
    )
    explained = runner.invoke(app, ["explain", "--model", str(out), "--out", str(tmp_path / "x")])
    assert explained.exit_code == 0, explained.output
    for aspect in ("visual", "temporal"):
        assert (tmp_path / "x" / aspect / "shap_bar.png").is_file()
        assert f"top features of {aspect}" in explained.output
    report = tmp_path / "report.html"
    made = runner.invoke(app, ["report", "--model", str(out), "--out", str(report)])
    assert made.exit_code == 0, made.output
    page = report.read_text()
    assert 'id="visual"' in page and 'id="temporal"' in page
    assert page.count("data:image/png;base64,") == 4  # a scatter and a SHAP bar per aspect
    for aspect in ("visual", "temporal"):
        assert f"report_{aspect}.html" in page
        assert "Cross-validated results" in (tmp_path / f"report_{aspect}.html").read_text()


# The layouts of published multi-aspect rating sets, as small hand-written files.
VIDEOFEEDBACK_CSV = """id,text prompt,video link,visual quality,temporal consistency,dynamic degree,text-to-video alignment,factual consistency
vf1,a cat on a sofa,videos/vf1.mp4,3,2,4,3,2
vf2,a red car at night,videos/vf2.mp4,1,1,2,4,1
"""
FETV_CSV = """video,prompt,video_id,model,static_quality,temporal_quality,alignment
cogvideo/video9033.mp4,people are dancing,video9033,cogvideo,2,2,2
zeroscope/video9033.mp4,people are dancing,video9033,zeroscope,3.67,3.33,4
"""


def test_the_videofeedback_layout_maps_its_five_aspects(tmp_path) -> None:
    path = tmp_path / "videofeedback.csv"
    path.write_text(VIDEOFEEDBACK_CSV)
    manifest = load_manifest(path, get_layout("videofeedback").mapping())
    assert manifest.targets == ("visual", "temporal", "dynamic", "alignment", "factual")
    row = manifest.table.iloc[0]
    assert row["id"] == "vf1" and row["prompt"] == "a cat on a sofa"
    assert row["video"] == str(tmp_path / "videos" / "vf1.mp4")
    assert [row[a] for a in manifest.targets] == ["3", "2", "4", "3", "2"]
    assert "visual quality" not in manifest.table.columns
    assert get_layout("VideoFeedback").scale == (1, 4)


def test_the_fetv_layout_maps_its_three_aspects(tmp_path) -> None:
    path = tmp_path / "fetv.csv"
    path.write_text(FETV_CSV)
    manifest = load_manifest(path, LAYOUTS["fetv"].mapping())
    assert manifest.targets == ("visual", "temporal", "alignment")
    assert list(manifest.table["id"]) == ["cogvideo/video9033", "zeroscope/video9033"]
    assert list(manifest.table["temporal"]) == ["2", "3.33"]
    assert list(manifest.table["video_id"]) == ["video9033", "video9033"]  # passed through


def test_a_file_that_does_not_fit_the_layout_is_named(tmp_path) -> None:
    path = tmp_path / "fetv.csv"
    path.write_text(FETV_CSV.replace("static_quality", "static"))
    with pytest.raises(
        ManifestError, match=r"fetv\.csv: the layout's column\(s\) 'static_quality'"
    ):
        load_manifest(path, get_layout("fetv").mapping())
    clash = tmp_path / "clash.csv"
    clash.write_text(FETV_CSV.replace("model,", "visual,"))
    with pytest.raises(ManifestError, match="already has column"):
        load_manifest(clash, get_layout("fetv").mapping())
    with pytest.raises(ValueError, match="known layouts: videofeedback, fetv"):
        get_layout("vbench")


def test_datasets_validate_reads_a_layout(tmp_path) -> None:
    path = tmp_path / "videofeedback.csv"
    path.write_text(VIDEOFEEDBACK_CSV)
    result = runner.invoke(
        app, ["datasets", "validate", str(path), "--layout", "videofeedback", "--no-probe"]
    )
    assert "factual" in result.output and "temporal" in result.output
    assert "video file not found" in result.output  # the videos are not there
    unknown = runner.invoke(app, ["datasets", "validate", str(path), "--layout", "vbench"])
    assert unknown.exit_code == 1 and "--layout: unknown layout 'vbench'" in unknown.output


def test_extract_features_carries_a_layouts_aspects_into_the_table(tmp_path) -> None:
    from conftest import make_video

    for name in ("cogvideo", "zeroscope"):
        make_video(tmp_path / name / "video9033.mp4", num_frames=4)
    (tmp_path / "fetv.csv").write_text(FETV_CSV)
    out = tmp_path / "features"
    args = ["extract-features", str(tmp_path / "fetv.csv"), "--layout", "fetv"]
    args += ["--features", "technical", "--protocol", "thesis", "--workers", "1"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out / "features.parquet").set_index("id")
    assert table.loc["zeroscope/video9033", ["visual", "temporal", "alignment"]].tolist() == [
        3.67,
        3.33,
        4.0,
    ]
    assert "technical.dark.mean" in table.columns
