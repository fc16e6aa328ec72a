"""`qualitylab score`: inputs (manifest, folder + prompts), outputs and bad input."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.data.folder import read_input
from qualitylab.data.manifest import ManifestError
from qualitylab.learn.predictor import load_predictor
from qualitylab.score import SCORE_COLUMNS, needs_prompts

runner = CliRunner()


def _videos(small_loop, count: int) -> list[Path]:
    return sorted((small_loop.out_dir / "score_data" / "videos").glob("*.mp4"))[:count]


def _folder(small_loop, tmp_path: Path, count: int = 4) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    for video in _videos(small_loop, count):
        shutil.copy(video, folder / video.name)
    return folder


def _score(*args: str):
    """`qualitylab score ARGS` in this process (one worker: no process start-up per test)."""
    return runner.invoke(app, ["score", *args, "--workers", "1"])


def test_scoring_a_manifest(small_loop, tmp_path: Path) -> None:
    manifest = small_loop.out_dir / "score_data" / "manifest.csv"
    out = tmp_path / "scores.csv"
    result = _score(str(manifest), "--model", str(small_loop.model_dir), "--out", str(out))
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    manifest_columns = pd.read_csv(manifest).columns
    passed = [c for c in manifest_columns if c not in SCORE_COLUMNS and c != "id"]
    assert list(scores.columns) == SCORE_COLUMNS + passed and passed  # targets come along
    assert scores["predictor_id"].nunique() == 1
    assert scores["predictor_id"][0] == load_predictor(small_loop.model_dir).id
    assert len(scores) == 24 and scores["error"].isna().all()
    assert scores["predicted_score"].is_monotonic_decreasing
    assert list(scores["rank"]) == list(range(1, 25))
    assert (scores["uncertainty"] >= 0).all()
    assert scores["quality_index"].between(0, 1).all()
    assert scores["top_shap"].str.count("; ").eq(2).all()
    assert "best (" in result.output
    # The same scores as the loop's own scoring of that run.
    loop_scores = pd.read_csv(small_loop.scores).set_index("id")["predicted_score"]
    pd.testing.assert_series_equal(
        scores.set_index("id")["predicted_score"], loop_scores.loc[scores["id"]]
    )
    # A second run reuses the store next to the output.
    again = _score(str(manifest), "--model", str(small_loop.model_dir), "--out", str(out))
    assert again.exit_code == 0
    store = json.loads((tmp_path / "scores_features" / "run.json").read_text())
    assert {e["name"] for e in store["extractors"]} == {"ssim", "flow", "technical", "scenes"}
    assert store["sampling"]["num_frames"] == 8  # the predictor's sampling, not the default


def test_folder_without_prompts_is_scored_when_the_predictor_reads_none(
    small_loop, tmp_path: Path
) -> None:
    folder = _folder(small_loop, tmp_path)
    out = tmp_path / "scores.csv"
    result = _score(str(folder), "--model", str(small_loop.model_dir), "--out", str(out))
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert len(scores) == 4 and scores["predicted_score"].notna().all()


def test_a_predictor_needs_prompts_when_it_reads_a_text_frame_model(small_loop) -> None:
    predictor = load_predictor(small_loop.model_dir)
    assert not needs_prompts(predictor)
    info = predictor.info.model_copy(
        update={"extractors": [], "features": ["clip_b32.prompt_sim.mean", "ssim.adjacent.mean"]}
    )
    assert needs_prompts(replace(predictor, info=info))


def test_a_video_without_a_prompt_is_left_out_when_prompts_are_needed(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (folder / name).write_bytes(b"")
    (folder / "prompts.json").write_text(json.dumps({"b.mp4": "a cat"}))
    manifest, skipped = read_input(folder)
    assert list(manifest.table["id"]) == ["b"]
    assert list(skipped["id"]) == ["a"] and "no prompt" in skipped["error"].iloc[0]
    lenient, none_skipped = read_input(folder, prompts_needed=False)
    assert list(lenient.table["prompt"]) == ["", "a cat"] and none_skipped.empty


def test_no_prompt_at_all_names_every_way_to_give_them(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"")
    with pytest.raises(ManifestError) as raised:
        read_input(folder)
    message = str(raised.value)
    for way in ("--prompts", "prompts.json", "prompts.csv", "<name>.txt", "manifest.csv"):
        assert way in message, way


def test_a_broken_video_is_recorded_and_the_run_goes_on(small_loop, tmp_path: Path) -> None:
    folder = _folder(small_loop, tmp_path, count=3)
    (folder / "broken.mp4").write_bytes(b"not a video")
    for video in folder.glob("*.mp4"):
        video.with_suffix(".txt").write_text("a prompt")
    out = tmp_path / "scores.csv"
    result = _score(str(folder), "--model", str(small_loop.model_dir), "--out", str(out))
    assert result.exit_code == 1
    assert "4 videos: " in result.output and "from the store, 1 not scored" in result.output
    assert pd.read_csv(out)["rank"].dropna().map(float.is_integer).all()
    assert out.read_text().splitlines()[1].startswith("1,")  # written as 1, not 1.0
    scores = pd.read_csv(out).set_index("id")
    assert scores["predicted_score"].notna().sum() == 3
    assert pd.isna(scores.loc["broken", "predicted_score"]) and scores.loc["broken", "error"]


def test_prompt_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.mp4", "b.webm", "sub/c.mp4"):
        (tmp_path / name).write_bytes(b"")
    csv = tmp_path / "p.csv"
    csv.write_text("video,prompt\na.mp4,first\nb,second\nsub/c.mp4,third\n")
    manifest, left_out = read_input(tmp_path, csv)
    assert dict(zip(manifest.table["id"], manifest.table["prompt"])) == {
        "a": "first",
        "b": "second",
        "sub/c": "third",
    }
    assert left_out.empty
    listed = tmp_path / "p.json"
    listed.write_text(json.dumps([{"video": "a.mp4", "prompt": "x"}]))
    manifest, left_out = read_input(tmp_path, listed)
    assert list(manifest.table["id"]) == ["a"]
    assert sorted(left_out["id"]) == ["b", "sub/c"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected an object"),
        ("{not json", "cannot read prompts"),
    ],
)
def test_bad_prompt_files(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "a.mp4").write_bytes(b"")
    path = tmp_path / "prompts.json"
    path.write_text(content)
    with pytest.raises(ManifestError, match=message) as error:
        read_input(tmp_path)
    assert str(path) in str(error.value)


def test_empty_folder(small_loop, tmp_path: Path) -> None:
    result = _score(str(tmp_path), "--model", str(small_loop.model_dir), "--out", "s.csv")
    assert result.exit_code == 1 and "no videos found" in result.output


def _edited_model(small_loop, tmp_path: Path, **changes) -> Path:
    model = tmp_path / "model"
    shutil.copytree(small_loop.model_dir, model)
    info = json.loads((model / "predictor.json").read_text())
    (model / "predictor.json").write_text(json.dumps({**info, **changes}))
    return model


def test_model_from_another_version(small_loop, tmp_path: Path) -> None:
    model = _edited_model(small_loop, tmp_path, format_version=99)
    result = _score(str(tmp_path), "--model", str(model), "--out", "s.csv")
    assert result.exit_code == 1 and "train it again" in result.output


def test_features_that_do_not_match_the_schema(small_loop, tmp_path: Path) -> None:
    info = json.loads((small_loop.model_dir / "predictor.json").read_text())
    features = ["ssim.adjacent.bogus", *info["features"][1:]]
    model = _edited_model(small_loop, tmp_path, features=features)
    manifest = small_loop.out_dir / "score_data" / "manifest.csv"
    result = _score(str(manifest), "--model", str(model), "--out", str(tmp_path / "s.csv"))
    assert result.exit_code == 1
    assert "do not match the predictor's schema" in result.output
    assert "ssim.adjacent.bogus" in result.output


def test_a_generation_run_folder_is_read_through_its_manifest(tmp_path: Path) -> None:
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "p001.mp4").write_bytes(b"")
    (tmp_path / "manifest.csv").write_text("id,video,prompt\np001,videos/p001.mp4,a story\n")
    manifest, left_out = read_input(tmp_path)
    assert list(manifest.table["id"]) == ["p001"] and left_out.empty
    assert manifest.table["video"].iloc[0] == str(tmp_path / "videos" / "p001.mp4")
    with pytest.raises(ManifestError, match="--prompts is for a folder"):
        read_input(tmp_path / "manifest.csv", tmp_path / "prompts.json")


def test_evaluating_on_a_manifest_extracts_with_the_predictors_settings(
    small_loop, tmp_path: Path
) -> None:
    from qualitylab.learn.external import evaluate_on

    predictor = load_predictor(small_loop.model_dir)
    manifest = small_loop.out_dir / "score_data" / "manifest.csv"
    result = evaluate_on(predictor, manifest, tmp_path / "eval", workers=1)
    assert result.report["rows"] == 24
    assert -1 <= result.metrics["spearman"]["value"] <= 1
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert written["predictor_id"] == predictor.id
    store = json.loads((tmp_path / "eval" / "features" / "run.json").read_text())
    assert store["sampling"]["num_frames"] == 8  # the predictor's sampling
    predictions = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert len(predictions) == 24 and predictions["target"].notna().all()
